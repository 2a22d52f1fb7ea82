"""`euromine predict` as an analyst meets it: any input without labels, COG maps with nodata, colour
table, tags and overviews, bounded memory on tall scenes, atomic writes."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from torch import nn

from euromine_hf.bands import BANDS
from euromine_hf.cli import main as cli_main
from euromine_hf.inference import (
    MAP_NODATA, predict, predict_change_scene, predict_geotiff, predict_scene, raster_band_names,
)
from euromine_hf.models import build_model
from euromine_hf.predict_outputs import PREDICT_MARKER
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig
from euromine_hf.models.modeling import EuroMineChangeDetectionModel, EuroMineSegmentationModel

CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)


class PixelMapConfig(EuroMineConfig):
    model_type = "euromine-test-pixel-map"


class PixelMapModel(EuroMineSegmentationModel):
    """1×1 convolution: a pixel's prediction does not depend on its window, so stitching is exact."""

    config_class = PixelMapConfig

    def __init__(self, config):
        super().__init__(config)
        self.head = nn.Conv2d(config.num_channels, 2, 1)
        self.post_init()

    def segment(self, pixel_values):
        return self.head(pixel_values)


class ConvChangeConfig(EuroMineChangeDetectionConfig):
    model_type = "euromine-test-conv-change"


class ConvChangeModel(EuroMineChangeDetectionModel):
    """3×3 convolution of |t1 − t2|: its output depends on the window (edges), so blending matters."""

    config_class = ConvChangeConfig

    def __init__(self, config):
        super().__init__(config)
        self.head = nn.Conv2d(config.num_channels, 2, 3, padding=1)
        self.post_init()

    def detect(self, pixel_values_t1, pixel_values_t2):
        return self.head((pixel_values_t1 - pixel_values_t2).abs())


def _segmenter(band_names=None) -> PixelMapModel:
    torch.manual_seed(0)
    n = len(band_names) if band_names else 10
    model = PixelMapModel(PixelMapConfig(num_channels=n, band_names=band_names))
    with torch.no_grad():
        model.head.weight.normal_()
        model.head.bias.zero_()
    return model.eval()


def _detector() -> ConvChangeModel:
    torch.manual_seed(1)
    return ConvChangeModel(ConvChangeConfig()).eval()


def _image(shape, seed=0, bands=10) -> np.ndarray:
    return np.random.default_rng(seed).integers(200, 4000, size=(bands,) + tuple(shape), dtype=np.uint16)


def _write(path: Path, data: np.ndarray, descriptions=None, nodata=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype.name,
                   crs=CRS, transform=TRANSFORM, tiled=True, blockxsize=256, blockysize=256)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name != PREDICT_MARKER and (p.name.startswith(".") or "tmp" in p.name or "partial" in p.name)]


def _maps(folder: Path) -> list[str]:
    """What predict wrote into ``folder``, less its marker."""
    return sorted(p.name for p in folder.iterdir() if p.name != PREDICT_MARKER)


# ---- the output file an analyst opens ----------------------------------------------------------


def test_single_geotiff_map_is_a_georeferenced_cog_with_nodata_colours_tags_and_probability(tmp_path):
    image = _image((600, 520))
    image[:, :40, :] = 0          # an empty strip (outside the swath)
    image[:, 300:310, 100:110] = 0
    src = _write(tmp_path / "scene" / "Year2031.tif", image)
    model = _segmenter()
    written = predict(model, src, tmp_path / "out", save_probability=True, stride=80, progress=False, model_name="my-model")
    assert [p.name for p in written] == ["Year2031.tif", "Probability2031.tif"]
    expected, probability = predict_scene(model, image, stride=80)
    invalid = (image == 0).all(axis=0)
    with rasterio.open(tmp_path / "out" / "Year2031.tif") as out:
        assert out.crs == rasterio.crs.CRS.from_string(CRS) and out.transform == TRANSFORM
        assert (out.count, out.height, out.width, out.dtypes[0]) == (1, 600, 520, "uint8")
        assert out.nodata == MAP_NODATA
        assert out.compression is not None and out.compression.value.upper() == "DEFLATE"
        assert out.overviews(1)  # the COG layout itself is rio-cogeo's to judge (below)
        assert out.descriptions == ("mine",)
        colours = out.colormap(1)
        assert colours[1] == (220, 30, 30, 255) and colours[0] == (200, 200, 200, 255)
        tags = out.tags()
        assert tags["model"] == "my-model" and tags["model_type"] == "euromine-test-pixel-map"
        assert tags["years"] == "2031" and tags["bands"] == ",".join(BANDS) and tags["euromine_hf_version"]
        assert out.tags(1)["class_1"] == "mine"
        data = out.read(1)
    np.testing.assert_array_equal(data[invalid], MAP_NODATA)
    np.testing.assert_array_equal(data[~invalid], expected[~invalid])
    with rasterio.open(tmp_path / "out" / "Probability2031.tif") as out:
        assert out.nodata == 255 and out.descriptions == ("mine probability (%)",) and out.transform == TRANSFORM
        percent = out.read(1)
    assert percent[invalid].tolist() == [255] * int(invalid.sum())
    np.testing.assert_allclose(percent[~invalid], np.rint(probability[~invalid] * 100), atol=1)
    assert not _leftovers(tmp_path / "out")
    from rio_cogeo.cogeo import cog_validate

    for path in written:
        assert cog_validate(str(path), quiet=True) == (True, [], []), path


def test_band_descriptions_pick_the_models_bands_in_any_order(tmp_path):
    image = _image((170, 180), seed=4)
    order = list(reversed(range(10)))
    src = _write(tmp_path / "shuffled.tif", image[order], descriptions=[BANDS[i].replace("B0", "B") for i in order])
    assert raster_band_names(src, [BANDS[i].replace("B0", "B") for i in order], 10) == [BANDS[i] for i in order]
    rgb = _segmenter(["B04", "B03", "B02"])
    predict(rgb, src, tmp_path / "out", progress=False)
    expected, _ = predict_scene(rgb, image)
    with rasterio.open(tmp_path / "out" / "shuffled_mine.tif") as out:
        np.testing.assert_array_equal(out.read(1), expected)
        assert out.tags()["bands"] == "B04,B03,B02"
    # Four bands named by their descriptions are enough for an RGB model.
    four = _write(tmp_path / "four.tif", image[[3, 2, 1, 0]], descriptions=["B05", "B04", "B03", "B02"])
    predict(rgb, four, tmp_path / "out4", progress=False)
    with rasterio.open(tmp_path / "out4" / "four_mine.tif") as out:
        np.testing.assert_array_equal(out.read(1), expected)


def test_wrong_band_count_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    src = _write(tmp_path / "Year2020.tif", _image((170, 170), bands=7))
    with pytest.raises(ValueError, match=r"Year2020\.tif: band count: expected 10 bands in the published order"):
        predict(_segmenter(), src, tmp_path / "out", progress=False)
    named = _write(tmp_path / "rgb.tif", _image((170, 170), bands=3), descriptions=["B04", "B03", "B02"])
    with pytest.raises(ValueError, match=r"rgb\.tif: bands: expected the model's bands .*no B05"):
        predict(_segmenter(), named, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    model = build_model("unet", size="tiny")
    model.save_pretrained(tmp_path / "model")
    assert cli_main(["predict", str(tmp_path / "model"), str(src), str(tmp_path / "out")]) == 2
    assert "band count" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- inputs without labels, any years ----------------------------------------------------------


def test_year_folder_site_folder_and_label_free_archive(tmp_path):
    model = _segmenter()
    for year, seed in ((2009, 1), (2030, 2)):
        _write(tmp_path / "archive" / "Alpha_1" / "image" / f"Year{year}.tif", _image((170, 150), seed))
        _write(tmp_path / "archive" / "Beta_2" / "image" / f"Year{year}.tif", _image((140, 200), seed + 5))
        _write(tmp_path / "years" / f"Year{year}.tif", _image((170, 150), seed))
    predict(model, tmp_path / "years", tmp_path / "o_years", progress=False)
    assert _maps(tmp_path / "o_years") == ["Year2009.tif", "Year2009.tif.aux.xml", "Year2030.tif", "Year2030.tif.aux.xml"]
    predict(model, tmp_path / "archive" / "Alpha_1", tmp_path / "o_site", years=[2030], progress=False)
    assert [p.relative_to(tmp_path / "o_site").as_posix() for p in (tmp_path / "o_site").rglob("*.tif")] == ["Alpha_1/Year2030.tif"]
    written = predict(model, tmp_path / "archive", tmp_path / "o_arch", progress=False)
    assert sorted(p.relative_to(tmp_path / "o_arch").as_posix() for p in written) == [
        "Alpha_1/Year2009.tif", "Alpha_1/Year2030.tif", "Beta_2/Year2009.tif", "Beta_2/Year2030.tif"]
    with rasterio.open(tmp_path / "o_arch" / "Beta_2" / "Year2030.tif") as out:
        assert (out.height, out.width) == (140, 200) and out.tags()["years"] == "2030"
        np.testing.assert_array_equal(out.read(1), predict_scene(model, _image((140, 200), 7))[0])
    with pytest.raises(ValueError, match=r"Alpha_1/image: image for year 2011: expected Year2011\.tif"):
        predict(model, tmp_path / "archive", tmp_path / "o_bad", years=[2011], progress=False)
    patches = tmp_path / "cropped" / "Gamma_3" / "2016" / "image"
    patches.mkdir(parents=True)
    np.save(patches / "Year2016_Patch0.npy", _image((160, 160)))
    with pytest.raises(ValueError, match=r"cropped: layout: .*found cropped patches"):
        predict(model, tmp_path / "cropped", tmp_path / "o_cropped", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: layout: expected site folders"):
        predict(model, tmp_path / "empty", tmp_path / "o_empty", progress=False)


def test_change_maps_from_one_geotiff_and_t2_or_a_year_folder(tmp_path):
    model = _detector()
    a, b = _image((330, 200), 1), _image((330, 200), 2)
    b[:, :, :20] = 0  # no data on the later date: no change claimed there
    t1 = _write(tmp_path / "site" / "Year2019.tif", a)
    t2 = _write(tmp_path / "site" / "Year2023.tif", b)
    with pytest.raises(ValueError, match=r"Year2019\.tif: a change detector compares two dates; give the later image with --t2"):
        predict(model, t1, tmp_path / "out", progress=False)
    written = predict(model, t1, tmp_path / "out", t2=t2, stride=80, batch_size=3, save_probability=True, progress=False)
    assert [p.name for p in written] == ["Change2019_2023.tif", "ChangeProbability2019_2023.tif"]
    expected, _ = predict_change_scene(model, a, b, stride=80)
    with rasterio.open(written[0]) as out:
        data = out.read(1)
        assert out.descriptions == ("change",) and out.tags()["years"] == "2019,2023" and out.tags()["task"] == "change_detection"
        assert out.colormap(1)[1][3] == 255 and out.crs is not None
    assert (data[:, :20] == MAP_NODATA).all()
    np.testing.assert_array_equal(data[:, 20:], expected[:, 20:])
    # a folder of years: pairs chosen; every year works
    _write(tmp_path / "site" / "Year2027.tif", _image((330, 200), 3))
    written = predict(model, tmp_path / "site", tmp_path / "pairs", pairs=[(2019, 2027)], progress=False)
    assert [p.name for p in written] == ["Change2019_2027.tif"]
    written = predict(model, tmp_path / "site", tmp_path / "default", progress=False)
    assert sorted(p.name for p in written) == ["Change2019_2023.tif", "Change2019_2027.tif", "Change2023_2027.tif"]
    shifted = tmp_path / "shifted.tif"
    with rasterio.open(shifted, "w", driver="GTiff", height=330, width=200, count=10, dtype="uint16", crs=CRS,
                       transform=from_origin(500010.0, 5600000.0, 10.0, 10.0)) as dst:
        dst.write(b)
    with pytest.raises(ValueError, match=r"shifted\.tif: georeference: expected CRS and transform of Year2019\.tif"):
        predict(model, t1, tmp_path / "bad", t2=shifted, progress=False)
    with pytest.raises(ValueError, match="--t2 needs a change detector"):
        predict(_segmenter(), t1, tmp_path / "bad", t2=t2, progress=False)


def test_cli_with_saved_models_for_both_tasks(tmp_path):
    src = _write(tmp_path / "img" / "Year2016.tif", _image((170, 170), 3))
    later = _write(tmp_path / "img" / "Year2018.tif", _image((170, 170), 4))
    segmenter = build_model("unet", size="tiny")
    segmenter.save_pretrained(tmp_path / "seg")
    assert cli_main(["predict", str(tmp_path / "seg"), str(src), str(tmp_path / "o1"), "--probabilities"]) == 0
    assert _maps(tmp_path / "o1") == ["Probability2016.tif", "Year2016.tif", "Year2016.tif.aux.xml"]
    with rasterio.open(tmp_path / "o1" / "Year2016.tif") as out:
        assert out.tags()["model"] == str(tmp_path / "seg") and out.tags()["model_type"] == segmenter.config.model_type
    detector = build_model("fc-siam-diff", size="tiny")
    detector.save_pretrained(tmp_path / "cd")
    assert cli_main(["predict", str(tmp_path / "cd"), str(src), str(tmp_path / "o2"), "--t2", str(later)]) == 0
    assert _maps(tmp_path / "o2") == ["Change2016_2018.tif", "Change2016_2018.tif.aux.xml"]
    assert cli_main(["predict", str(tmp_path / "cd"), str(src), str(tmp_path / "o3")]) == 2
    assert not (tmp_path / "o3").exists()


# ---- streaming: memory and atomicity -----------------------------------------------------------


def _peak_numpy_bytes(tmp_path: Path, rows: int, model) -> int:
    src = _write(tmp_path / f"tall{rows}.tif", _image((rows, 160), seed=rows))
    gc.collect()
    tracemalloc.start()
    try:
        predict_geotiff(model, [src], tmp_path / f"map{rows}.tif", probability_out=tmp_path / f"p{rows}.tif",
                        batch_size=2, stride=80)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_scene_height(tmp_path):
    model = _segmenter()
    small = _peak_numpy_bytes(tmp_path, 5 * 160, model)
    tall = _peak_numpy_bytes(tmp_path, 40 * 160, model)
    # Reading the whole scene would make the tall peak 8x the small one (20 MB of uint16 pixels).
    assert tall < 1.5 * small + 200_000, (small, tall)
    whole_scene = 10 * 40 * 160 * 160 * 2
    assert tall < whole_scene / 4, (tall, whole_scene)
    with rasterio.open(tmp_path / f"map{40 * 160}.tif") as out:
        assert out.height == 6400
        np.testing.assert_array_equal(out.read(1), predict_scene(model, _image((6400, 160), seed=6400), stride=80)[0])


def test_a_failed_prediction_leaves_no_partial_file(tmp_path):
    src = _write(tmp_path / "Year2020.tif", _image((700, 170)))
    model = _segmenter()
    calls = {"n": 0}
    original = model.segment

    def failing(pixel_values):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("device lost")
        return original(pixel_values)

    model.segment = failing
    (tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError, match="device lost"):
        predict(model, src, tmp_path / "out", save_probability=True, batch_size=2, progress=False)
    assert calls["n"] == 3
    assert list((tmp_path / "out").iterdir()) == []


def test_evaluate_reads_predict_outputs_with_nodata_and_change_probabilities(tmp_path):
    """Maps written by ``euromine predict`` (nodata 255 over empty input, ChangeProbability files)
    are read by the evaluation readers: nodata counts as "not mine", probability files are not
    reported as unexpected."""
    import warnings

    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from euromine_hf.data.archive import SiteRecord, read_prediction, scan_predictions

    site_dir = tmp_path / "pred" / "Site_1"
    site_dir.mkdir(parents=True)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:4] = 1
    mask[0, :] = 255  # empty input there
    profile = dict(driver="GTiff", height=8, width=8, count=1, dtype="uint8", nodata=255,
                   crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10))
    with rasterio.open(site_dir / "Year2016.tif", "w", **profile) as dst:
        dst.write(mask, 1)
    with rasterio.open(site_dir / "ChangeProbability2015_2016.tif", "w", **profile) as dst:
        dst.write(np.zeros((8, 8), np.uint8), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scan_predictions(tmp_path / "pred") == {"Site_1": {2016}}
    site = SiteRecord(name="Site_1", country="Site", layout="raw", root=tmp_path, years=(2016,), height=8, width=8)
    read = read_prediction(tmp_path / "pred", site, 2016)
    expected = mask.copy()
    expected[0, :] = 0
    assert np.array_equal(read, expected)


@pytest.mark.parametrize("stride", [160, 80])
def test_each_input_row_is_read_once_for_windows_and_nodata(tmp_path, monkeypatch, stride):
    from euromine_hf.inference.reader import SceneReader

    image = _image((480, 170))
    image[:, 100:130, :] = 0  # no data: the mask must still be nodata there
    src = _write(tmp_path / "Year2020.tif", image)
    rows_read: list[int] = []
    original = SceneReader.rows

    def counting(self, r0, r1):
        rows_read.extend(range(r0, r1))
        return original(self, r0, r1)

    monkeypatch.setattr(SceneReader, "rows", counting)
    model = _segmenter()
    predict_geotiff(model, [src], tmp_path / "map.tif", batch_size=3, stride=stride)
    # Windows start every `stride` rows; the validity of emitted rows comes from those reads.
    window_rows = sum(160 for _ in range(0, 480 - 160 + 1, stride))
    assert len(rows_read) == window_rows, (len(rows_read), window_rows)
    with rasterio.open(tmp_path / "map.tif") as out:
        data = out.read(1)
    invalid = (image == 0).all(axis=0)
    np.testing.assert_array_equal(data[invalid], MAP_NODATA)
    np.testing.assert_array_equal(data[~invalid], predict_scene(model, image, stride=stride)[0][~invalid])
