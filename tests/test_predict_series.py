"""`euromine predict` with a series model: one pass over a scene's windows writes every year's mine
map and the change maps of the asked pairs, under the names segmenters and detectors use.

Three views: the real ``utae-series`` on a scene that is one window equals the model called
directly on it; a window-dependent stand-in (its output depends on each window's content, on every
year of the window and on the years given) against a plain-numpy oracle of the overlap average;
and the files an archive's test split yields, read by ``euromine evaluate`` for both tasks. Each
year's rows are read once for all maps, and memory does not grow with the scene's height.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from _data_fixtures import small_archive  # noqa: F401  (session fixture)
from euromine_hf.bands import MEAN, STD
from euromine_hf.cli import main as cli_main
from euromine_hf.data.archive import ArchiveWarning
from euromine_hf.inference import MAP_NODATA, predict, predict_series_scene
from euromine_hf.models import build_model
from euromine_hf.models.configuration import EuroMineConfig

P = 160
CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)


def _write(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype="uint16", crs=CRS, transform=TRANSFORM) as dst:
        dst.write(data)
    return path


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _normalise(image: np.ndarray) -> np.ndarray:
    return ((image.astype(np.float32) - MEAN[:, None, None]) / STD[:, None, None]).astype(np.float32)


# ---- the real model on one window ---------------------------------------------------------------


def test_one_window_scene_equals_the_model_called_directly(tmp_path):
    """A 160 × 160 scene is one window: the yearly maps, the change maps of every pair and their
    probabilities are the model's own outputs for the years present (2017 missing), and a year with
    no data in a corner makes that corner nodata in its own map and its pairs' only."""
    torch.manual_seed(0)
    model = build_model("utae-series", "tiny").eval()
    years = [2015, 2016, 2018, 2020]
    rng = np.random.default_rng(0)
    images = {y: rng.integers(200, 4000, size=(10, P, P), dtype=np.uint16) for y in years}
    images[2016][:, :20, :30] = 0
    for y, data in images.items():
        _write(tmp_path / "scene" / f"Year{y}.tif", data)

    written = predict(model, tmp_path / "scene", tmp_path / "out", pairs="all", save_probability=True, progress=False)

    pairs = list(itertools.combinations(years, 2))
    assert sorted(p.name for p in written) == sorted(
        [f"Year{y}.tif" for y in years] + [f"Probability{y}.tif" for y in years]
        + [f"Change{a}_{b}.tif" for a, b in pairs] + [f"ChangeProbability{a}_{b}.tif" for a, b in pairs])
    series = torch.from_numpy(np.stack([_normalise(images[y]) for y in years]))[None]
    with torch.no_grad():
        output = model(series, years=torch.tensor([years]), pairs=torch.tensor(list(itertools.combinations(range(4), 2))))
    yearly = torch.softmax(output.logits[0], dim=1)[:, 1].numpy()
    change = torch.softmax(output.change_logits[0], dim=1)[:, 1].numpy()
    empty = np.zeros((P, P), bool)
    empty[:20, :30] = True
    for t, year in enumerate(years):
        expected = np.where(empty & (year == 2016), MAP_NODATA, yearly[t] > 0.5)
        np.testing.assert_array_equal(_read(tmp_path / "out" / f"Year{year}.tif"), expected)
        percent = _read(tmp_path / "out" / f"Probability{year}.tif")
        np.testing.assert_allclose(percent[~empty], np.rint(yearly[t][~empty] * 100), atol=1)
        with rasterio.open(tmp_path / "out" / f"Year{year}.tif") as src:
            assert src.tags()["task"] == "multitemporal" and src.tags()["years"] == str(year)
            assert src.tags()["series_years"] == "2015,2016,2018,2020" and src.descriptions == ("mine",)
    for k, (a, b) in enumerate(pairs):
        expected = np.where(empty & (2016 in (a, b)), MAP_NODATA, change[k] > 0.5)
        np.testing.assert_array_equal(_read(tmp_path / "out" / f"Change{a}_{b}.tif"), expected)
        with rasterio.open(tmp_path / "out" / f"Change{a}_{b}.tif") as src:
            assert src.tags()["years"] == f"{a},{b}" and src.descriptions == ("change",)
    # the same arrays in memory give the same maps
    scene = predict_series_scene(model, [images[y] for y in years], years)
    assert scene["pairs"] == pairs
    np.testing.assert_allclose(scene["probabilities"], yearly, atol=1e-6)
    np.testing.assert_allclose(scene["change_probabilities"], change, atol=1e-6)


# ---- a window-dependent stand-in against a numpy oracle ------------------------------------------


class WindowSeriesModel(torch.nn.Module):
    """Year t's mine logit: 2·(window mean of normalised band 1 in year t) − (its mean over the
    window's years) + 0.1·(year − 2015) + a ramp over the window's columns; pair (i, j)'s change
    logit: 2·(window mean of year j − of year i) + the ramp. Every output depends on its window."""

    def __init__(self) -> None:
        super().__init__()
        self.config = EuroMineConfig()
        self.config.task = "multitemporal"
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, pixel_values: torch.Tensor, years: torch.Tensor, pairs: torch.Tensor) -> SimpleNamespace:
        n, t, _, h, w = pixel_values.shape
        means = pixel_values[:, :, 0].mean(dim=(2, 3))  # (n, T)
        ramp = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w) / P - 0.5
        mine = (2 * means - means.mean(1, keepdim=True) + 0.1 * (years - 2015)).view(n, t, 1, 1) + ramp
        diff = (means[:, pairs[:, 1]] - means[:, pairs[:, 0]]).view(n, len(pairs), 1, 1)
        change = 2 * diff + ramp
        two = lambda x: torch.stack([torch.zeros_like(x), x], dim=2).expand(-1, -1, -1, h, -1)  # noqa: E731
        return SimpleNamespace(logits=two(mine), change_logits=two(change))


def _grid(length: int, stride: int | None) -> list[int]:
    if length <= P:
        return [0]
    starts = list(range(0, length - P + 1, stride or P))
    return starts if starts[-1] == length - P else starts + [length - P]


def _oracle(images: list[np.ndarray], years: list[int], pairs: list[tuple[int, int]], stride: int | None) -> np.ndarray:
    """(T + P, H, W): the average over the windows covering each pixel of each map's sigmoid."""
    band = [(image[0].astype(np.float64) - MEAN[0]) / STD[0] for image in images]
    height, width = band[0].shape
    tiled = [b[np.arange(max(height, P)) % height][:, np.arange(max(width, P)) % width] for b in band]
    ramp = np.arange(P) / P - 0.5
    total = np.zeros((len(years) + len(pairs),) + tiled[0].shape)
    count = np.zeros(tiled[0].shape)
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    for r in _grid(height, stride):
        for c in _grid(width, stride):
            means = np.array([b[r : r + P, c : c + P].mean() for b in tiled])
            logits = [2 * m - means.mean() + 0.1 * (y - 2015) for m, y in zip(means, years)]
            logits += [2 * (means[j] - means[i]) for i, j in pairs]
            for k, value in enumerate(logits):
                total[k, r : r + P, c : c + P] += sigmoid(value + ramp)[None, :]
            count[r : r + P, c : c + P] += 1
    return (total / count)[:, :height, :width]


def _series(shape: tuple[int, int], years: list[int]) -> list[np.ndarray]:
    images = []
    for k, _ in enumerate(years):
        rng = np.random.default_rng(k)
        image = rng.integers(200, 1500, size=(10,) + shape).astype(np.uint16)
        image[0, :, shape[1] // (k + 2):] += 2500  # bright parts that differ between years and windows
        image[0, shape[0] // 3 :, :] //= k + 1
        images.append(image)
    return images


@pytest.mark.parametrize("shape", [(400, 350), (97, 230)])
@pytest.mark.parametrize("stride,batch_size", [(None, 16), (80, 3)])
def test_series_windows_are_averaged_for_every_map(shape, stride, batch_size):
    years = [2015, 2017, 2018]
    images = _series(shape, years)
    scene = predict_series_scene(WindowSeriesModel().eval(), images, years, pairs=[(2015, 2018), (2017, 2018)],
                                 stride=stride, batch_size=batch_size)
    expected = _oracle(images, years, [(0, 2), (1, 2)], stride)
    np.testing.assert_allclose(scene["probabilities"], expected[:3], atol=2e-5)
    np.testing.assert_allclose(scene["change_probabilities"], expected[3:], atol=2e-5)
    np.testing.assert_array_equal(scene["masks"], (expected[:3] > 0.5).astype(np.uint8))


def test_series_geotiffs_stream_the_same_maps_and_read_each_row_once(tmp_path, monkeypatch):
    """The streaming GeoTIFF path (rows emitted as windows finish, one reader per year) against the
    same oracle; every year's rows are read once for all maps."""
    from euromine_hf.inference.reader import SceneReader

    years = [2016, 2019, 2020]
    images = _series((410, 260), years)
    for year, image in zip(years, images):
        _write(tmp_path / "scene" / f"Year{year}.tif", image)
    rows_read: dict[str, int] = {}
    original = SceneReader.rows

    def counting(self, r0, r1):
        rows_read[self.path.name] = rows_read.get(self.path.name, 0) + r1 - r0
        return original(self, r0, r1)

    monkeypatch.setattr(SceneReader, "rows", counting)
    predict(WindowSeriesModel().eval(), tmp_path / "scene", tmp_path / "out", pairs=[(2016, 2020)], stride=80,
            batch_size=3, progress=False)
    assert rows_read == {f"Year{y}.tif": P * len(_grid(410, 80)) for y in years}
    expected = _oracle(images, years, [(0, 2)], 80)
    for k, year in enumerate(years):
        np.testing.assert_array_equal(_read(tmp_path / "out" / f"Year{year}.tif"), (expected[k] > 0.5).astype(np.uint8))
    np.testing.assert_array_equal(_read(tmp_path / "out" / "Change2016_2020.tif"), (expected[3] > 0.5).astype(np.uint8))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == [
        "Change2016_2020.tif", "Year2016.tif", "Year2019.tif", "Year2020.tif"]


# ---- pairs, inputs and the evaluation readers ----------------------------------------------------


def test_pairs_default_to_a_detectors_and_bad_inputs_are_refused(tmp_path):
    model = WindowSeriesModel().eval()
    for year in (2015, 2016, 2020):
        _write(tmp_path / "scene" / f"Year{year}.tif", _series((60, 70), [year])[0])
    written = predict(model, tmp_path / "scene", tmp_path / "default", progress=False)
    assert sorted(p.name for p in written) == ["Change2015_2016.tif", "Change2015_2020.tif", "Change2016_2020.tif",
                                               "Year2015.tif", "Year2016.tif", "Year2020.tif"]
    for year in (2015, 2016, 2020):  # a site folder: maps under OUT/{Site}/
        _write(tmp_path / "Alpha_1" / "image" / f"Year{year}.tif", _series((60, 70), [year])[0])
    written = predict(model, tmp_path / "Alpha_1", tmp_path / "site", pairs=[(2015, 2020)], progress=False)
    assert sorted(p.relative_to(tmp_path / "site").as_posix() for p in written) == [
        "Alpha_1/Change2015_2020.tif", "Alpha_1/Year2015.tif", "Alpha_1/Year2016.tif", "Alpha_1/Year2020.tif"]
    with pytest.raises(ValueError, match=r"image for year 2017: expected Year2017\.tif"):
        predict(model, tmp_path / "scene", tmp_path / "bad", pairs=[(2015, 2017)], progress=False)
    with pytest.raises(ValueError, match="a series model maps a folder of Year"):
        predict(model, tmp_path / "scene" / "Year2015.tif", tmp_path / "bad", progress=False)
    with pytest.raises(ValueError, match="at least two Year"):
        predict(model, tmp_path / "scene", tmp_path / "bad", years=[2016], progress=False)
    with pytest.raises(ValueError, match="--t2: the model is a series model"):
        predict(model, tmp_path / "scene" / "Year2015.tif", tmp_path / "bad", t2=tmp_path / "scene" / "Year2016.tif",
                progress=False)
    assert not (tmp_path / "bad").exists()


def test_archive_test_split_maps_are_scored_by_evaluate_for_both_tasks(small_archive, tmp_path):  # noqa: F811
    """A saved utae-series through the CLI on an archive's test split, every pair: ``euromine
    evaluate`` reads the same folder for the mapping and the change-detection task."""
    torch.manual_seed(0)
    build_model("utae-series", "tiny").save_pretrained(tmp_path / "model")
    pred = tmp_path / "pred"
    assert cli_main(["predict", str(tmp_path / "model"), str(small_archive), str(pred), "--split", "test",
                     "--pairs", "all"]) == 0
    sites = sorted(p.name for p in pred.iterdir() if p.is_dir())
    assert sites
    for site in sites:
        names = {p.name for p in (pred / site).glob("*.tif")}
        assert names == {f"Year{y}.tif" for y in range(2015, 2025)} | {
            f"Change{a}_{b}.tif" for a, b in itertools.combinations(range(2015, 2025), 2)}
    for task in ("mapping", "change"):
        out = tmp_path / f"ev_{task}"
        with warnings.catch_warnings():
            warnings.simplefilter("error", ArchiveWarning)  # no file of the folder is a stray for either task
            code = cli_main(["evaluate", str(small_archive), str(pred), "--split", "test", "--task", task,
                             "--output", str(out)])
        assert code == 0
        scores = next(iter(json.loads((out / "scores.json").read_text())["scores"].values()))
        assert 0.0 <= scores["OF1"] <= 1.0


def _series_peak_bytes(tmp_path: Path, rows: int) -> int:
    import gc
    import tracemalloc

    folder = tmp_path / f"tall{rows}"
    for year, image in zip((2015, 2016, 2020), _series((rows, P), [2015, 2016, 2020])):
        _write(folder / f"Year{year}.tif", image)
    gc.collect()
    tracemalloc.start()
    try:
        predict(WindowSeriesModel().eval(), folder, tmp_path / f"out{rows}", pairs="all", save_probability=True,
                batch_size=2, stride=80, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_series_memory_does_not_grow_with_scene_height(tmp_path):
    """Three years, six maps (and their probabilities) from one pass: the peak stays that of a short
    scene on an 8x taller one (reading whole scenes would hold 3 x 20 MB of pixels)."""
    small = _series_peak_bytes(tmp_path, 5 * P)
    tall = _series_peak_bytes(tmp_path, 40 * P)
    assert tall < 1.5 * small + 300_000, (small, tall)
    assert tall < 3 * 10 * 40 * P * P * 2 / 4, tall  # a quarter of the three whole scenes
