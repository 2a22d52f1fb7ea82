"""The transformers pipelines and ``euromine predict`` agree (user trial, items 1-3): ``import
euromine_hf.pipelines`` alone makes the package's pipeline tasks load saved models (no remote-code
prompt); GeoTIFF paths go through predict's reader, so the pipelines refuse what predict refuses
(float reflectances, a file missing bands, dates on different grids) and report predict's nodata
pixels (mask 255, probability NaN); a pipeline refuses a model of another task when built; predict
normalises with the model folder's ``preprocessor_config.json`` as the pipelines do (checked field by
field), so both give the same masks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from euromine_hf.bands import BANDS, MEAN, STD
from euromine_hf.cli import main as cli_main
from euromine_hf.models import build_model

REPO = Path(__file__).resolve().parents[1]
CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)


def _image(seed: int, shape=(170, 180)) -> np.ndarray:
    return np.random.default_rng(seed).integers(200, 4000, size=(10, *shape), dtype=np.uint16)


def _write(path: Path, data: np.ndarray, *, nodata=None, crs=CRS, transform=TRANSFORM) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype.name, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Tiny saved models of the three tasks (each with the image processor save_pretrained writes)."""
    root = tmp_path_factory.mktemp("pipelines")
    out = {}
    for name in ("unet", "fc-ef", "utae-series"):
        torch.manual_seed(0)
        build_model(name, size="tiny").save_pretrained(root / name)
        out[name] = root / name
    return out


def _pipe(task: str, folder: Path):
    from transformers import pipeline

    import euromine_hf.pipelines  # noqa: F401  (registers the tasks)

    return pipeline(task, model=str(folder))


# ---- item 1: the import alone registers everything, no remote-code prompt --------------------------


def test_importing_the_pipelines_alone_loads_saved_models_without_a_prompt(folders):
    child = textwrap.dedent(
        """
        import json, sys
        import euromine_hf.pipelines
        from transformers import pipeline
        for task, folder in json.loads(sys.argv[1]).items():
            pipe = pipeline(task, model=folder)
            assert type(pipe).__module__ == "euromine_hf.pipelines", type(pipe)
        assert not any(n.startswith("transformers_modules") for n in sys.modules), "remote code was run"
        print("OK")
        """
    )
    tasks = {"euromine-mapping": str(folders["unet"]), "euromine-change-detection": str(folders["fc-ef"]),
             "euromine-series": str(folders["utae-series"])}
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", child, json.dumps(tasks)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, timeout=300)
    output = proc.stdout + proc.stderr
    assert "[y/N]" not in output and "custom code" not in output, output[-3000:]
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), output[-3000:]


# ---- item 2: GeoTIFF paths are read and checked as predict reads them ------------------------------


def _predict_error(model_folder: Path, images: list[Path], out: Path) -> str:
    """predict's own message for ``images`` (the reference the pipelines must give)."""
    from euromine_hf.inference import predict
    from euromine_hf.models.loading import load_model

    model = load_model(model_folder)
    with pytest.raises(ValueError) as error:
        predict(model, images[0], out, t2=images[1] if len(images) == 2 else None, progress=False)
    return str(error.value)


def test_a_float_reflectance_geotiff_is_refused_like_predict(folders, tmp_path):
    path = _write(tmp_path / "Year2020.tif", (_image(0) / 10000.0).astype(np.float32))
    expected = _predict_error(folders["unet"], [path], tmp_path / "out")
    assert expected.startswith(f"{path}: dtype: expected integer Sentinel-2 digital numbers") and expected.endswith("found float32")
    with pytest.raises(ValueError) as error:
        _pipe("euromine-mapping", folders["unet"])(str(path))
    assert str(error.value) == expected


def test_a_geotiff_missing_a_band_is_refused_naming_the_file(folders, tmp_path):
    path = _write(tmp_path / "Year2020.tif", _image(0)[:9])
    expected = _predict_error(folders["unet"], [path], tmp_path / "out")
    with pytest.raises(ValueError) as error:
        _pipe("euromine-mapping", folders["unet"])(path)
    assert str(error.value) == expected and str(error.value).startswith(f"{path}: band count: expected 10 bands")
    with pytest.raises(ValueError, match="^source_bands: expected the 10 band names .* missing B12"):
        _pipe("euromine-mapping", folders["unet"])(str(path), source_bands=BANDS[:9])


def test_dates_on_different_grids_are_refused_like_predict(folders, tmp_path):
    first = _write(tmp_path / "a" / "Year2019.tif", _image(0))
    moved = _write(tmp_path / "b" / "Year2023.tif", _image(1), transform=from_origin(500010.0, 5600000.0, 10.0, 10.0))
    other_crs = _write(tmp_path / "c" / "Year2023.tif", _image(1), crs="EPSG:32634")
    for second in (moved, other_crs):
        expected = _predict_error(folders["fc-ef"], [first, second], tmp_path / "out")
        assert expected.startswith(f"{second}: georeference: expected CRS and transform of Year2019.tif"), expected
        with pytest.raises(ValueError) as error:
            _pipe("euromine-change-detection", folders["fc-ef"])((str(first), str(second)))
        assert str(error.value) == expected
    with pytest.raises(ValueError, match=rf"^{moved}: georeference: expected CRS and transform of Year2019.tif"):
        _pipe("euromine-series", folders["utae-series"])({"images": [str(first), str(moved)]})
    with pytest.raises(ValueError, match="every date as a GeoTIFF path or every date as a .* array, not both"):
        _pipe("euromine-change-detection", folders["fc-ef"])((str(first), _image(1)))


def _with_holes(image: np.ndarray, nodata: int, rows: slice) -> np.ndarray:
    """``image`` with the file's nodata value in every band on ``rows`` and zero in every band on a corner."""
    image = image.copy()
    image[:, rows] = nodata
    image[:, :20, -30:] = 0
    return image


def test_nodata_pixels_are_reported_as_predict_writes_them(folders, tmp_path):
    """Mask 255 and probability NaN exactly where predict's map is 255; every other pixel as predict."""
    from euromine_hf.inference import predict
    from euromine_hf.models.loading import load_model
    from euromine_hf.pipelines import MASK_NODATA
    from euromine_hf.inference.geotiff_out import MAP_NODATA

    assert MASK_NODATA == MAP_NODATA
    t1 = _write(tmp_path / "in" / "Year2019.tif", _with_holes(_image(0), 7, slice(30, 40)), nodata=7)
    t2 = _write(tmp_path / "in" / "Year2023.tif", _with_holes(_image(1), 7, slice(100, 110)), nodata=7)
    cases = [("euromine-mapping", "unet", t1, None, "Year2019.tif"),
             ("euromine-change-detection", "fc-ef", (str(t1), str(t2)), t2, "Change2019_2023.tif")]
    for task, name, inputs, later, map_name in cases:
        out = tmp_path / name
        predict(load_model(folders[name]), t1, out, t2=later, progress=False)
        with rasterio.open(out / map_name) as src:
            expected = src.read(1)
        result = _pipe(task, folders[name])(inputs if isinstance(inputs, tuple) else str(inputs))
        assert (expected == MAP_NODATA).sum() > 500
        np.testing.assert_array_equal(result["mask"], expected)
        assert np.array_equal(np.isnan(result["probability"]), expected == MAP_NODATA)
    # the series model: a year's mask is nodata where that year is empty, a change mask where either is
    series = _pipe("euromine-series", folders["utae-series"])({"images": [str(t2), str(t1)]})
    assert series["years"] == [2019, 2023] and series["pairs"] == [(2019, 2023)]
    first_empty, second_empty = series["masks"][0] == MASK_NODATA, series["masks"][1] == MASK_NODATA
    assert first_empty[30:40].all() and not first_empty[100:110].any() and second_empty[100:110].all()
    np.testing.assert_array_equal(series["change_masks"][0] == MASK_NODATA, first_empty | second_empty)
    assert np.array_equal(np.isnan(series["change_probabilities"][0]), first_empty | second_empty)


def test_a_pipeline_refuses_a_model_of_another_task_when_built(folders):
    cases = [("euromine-change-detection", "unet", "a segmentation model; the euromine-change-detection pipeline needs "
              "a change detection model (use euromine-mapping)"),
             ("euromine-change-detection", "utae-series", "a multitemporal model; the euromine-change-detection pipeline "
              "needs a change detection model (use euromine-series)"),
             ("euromine-series", "unet", "a segmentation model; the euromine-series pipeline needs a multitemporal model")]
    for task, name, message in cases:
        with pytest.raises(ValueError) as error:
            _pipe(task, folders[name])
        assert str(error.value).startswith(f"{folders[name]}: {message}"), str(error.value)
        assert "\n" not in str(error.value)


# ---- item 3: predict normalises with the model folder's image processor ----------------------------


def _shifted_folder(folders, tmp_path) -> Path:
    """The segmenter's folder with its processor's means shifted by one standard deviation."""
    folder = tmp_path / "shifted"
    shutil.copytree(folders["unet"], folder)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["image_mean"] = [float(m + s) for m, s in zip(MEAN, STD)]
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    return folder


def test_predict_and_the_pipeline_give_the_same_masks_with_the_folders_statistics(folders, tmp_path, capsys):
    from euromine_hf.inference import predict_scene
    from euromine_hf.models.loading import load_model

    folder = _shifted_folder(folders, tmp_path)
    image = _with_holes(_image(3, (200, 170)), 0, slice(50, 55))
    path = _write(tmp_path / "in" / "Year2020.tif", image, nodata=0)
    assert cli_main(["predict", str(folder), str(path), str(tmp_path / "out")]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if "normalising" in line]
    assert said == [f"normalising with image_mean/image_std of {folder / 'preprocessor_config.json'}"]
    with rasterio.open(tmp_path / "out" / "Year2020.tif") as src:
        written = src.read(1)
    result = _pipe("euromine-mapping", folder)(str(path))
    np.testing.assert_array_equal(result["mask"], written)
    # the published statistics map this scene differently: reading the file is what makes them agree
    published, _ = predict_scene(load_model(folder), image)
    valid = written != 255
    assert (published[valid] != written[valid]).mean() > 0.01


def test_a_folder_without_a_processor_file_is_normalised_with_the_published_statistics(folders, tmp_path, capsys):
    from euromine_hf.inference import predict_scene
    from euromine_hf.models.loading import load_model

    folder = tmp_path / "bare"
    shutil.copytree(folders["unet"], folder)
    (folder / "preprocessor_config.json").unlink()
    image = _image(4)
    path = _write(tmp_path / "in" / "Year2020.tif", image)
    assert cli_main(["predict", str(folder), str(path), str(tmp_path / "out")]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if "normalising" in line]
    assert said == [f"normalising with the published Sentinel-2 statistics ({folder} has no preprocessor_config.json)"]
    with rasterio.open(tmp_path / "out" / "Year2020.tif") as src:
        np.testing.assert_array_equal(src.read(1), predict_scene(load_model(folder), image)[0])


@pytest.mark.parametrize("edit, field, found", [
    (lambda c: "{not json", "content", "expected the model's image processor as JSON, found Expecting"),
    (lambda c: {**c, "image_mean": [1.0, 2.0, 3.0]}, "image_mean", "expected 10 numbers, one per model band (B02, "),
    (lambda c: {**c, "image_std": [0.0] + c["image_std"][1:]}, "image_std", "expected positive standard deviations, found 0.0"),
    (lambda c: {**c, "image_mean": ["a"] * 10}, "image_mean", "expected 10 numbers, one per model band"),
    (lambda c: {**c, "band_names": list(reversed(BANDS))}, "band_names", "expected the model's bands"),
])
def test_a_broken_processor_file_is_one_line_and_exit_2(folders, tmp_path, capsys, edit, field, found):
    folder = tmp_path / "broken"
    shutil.copytree(folders["unet"], folder)
    target = folder / "preprocessor_config.json"
    edited = edit(json.loads(target.read_text()))
    target.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    path = _write(tmp_path / "in" / "Year2020.tif", _image(5))
    assert cli_main(["predict", str(folder), str(path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"euromine predict: error: {target}: {field}: {found}"), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.tif"))


def test_geotiff_paths_without_the_package_say_what_they_need(folders, tmp_path, monkeypatch):
    """The remote-code copy of the pipeline, where the package is absent: paths are refused in one
    line (predict's checks live in the package), arrays still map."""
    import euromine_hf.pipelines as pipelines

    mapper = _pipe("euromine-mapping", folders["unet"])
    path = _write(tmp_path / "Year2020.tif", _image(0))
    monkeypatch.setattr(pipelines, "_PACKAGE_READER", "euromine_hf_absent.reader")
    with pytest.raises(ImportError, match=rf"^{path}: GeoTIFF paths are read with euromine predict's checks, which need "
                                          r"the euromine-hf package \(pip install euromine-hf\); or pass"):
        mapper(str(path))
    assert mapper(_image(0))["mask"].shape == (170, 180)
