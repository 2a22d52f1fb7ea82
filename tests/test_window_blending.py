"""Overlapping windows are averaged: checked with models whose output depends on the window.

A 1x1 convolution predicts a pixel the same in every window, so no rule for combining windows can
be seen with it ("last window wins" would pass). The models here give each window a value that
depends on its content (the window's mean) and on the position inside the window (a ramp), and the
expected map is computed here, independently of the package: plain numpy over the published grid
(windows every ``stride`` px, the last aligned to the edge, scenes under 160 px wrap-tiled),
each pixel the mean of the probabilities of every window covering it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from euromine_hf.bands import MEAN, STD
from euromine_hf.inference import predict_change_scene, predict_geotiff, predict_scene
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig
from euromine_hf.models.modeling import EuroMineChangeDetectionModel, EuroMineSegmentationModel

P = 160


class WindowConfig(EuroMineConfig):
    model_type = "euromine-test-window-mean"


class WindowMeanModel(EuroMineSegmentationModel):
    """Mine logit = 2·(window mean of normalised band 1) + (column within the window)/160 − 0.5."""

    config_class = WindowConfig

    def __init__(self, config: WindowConfig):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.post_init()

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return _logits(pixel_values[:, 0])


class WindowChangeConfig(EuroMineChangeDetectionConfig):
    model_type = "euromine-test-window-change"


class WindowChangeModel(EuroMineChangeDetectionModel):
    """Change logit from the window means of band 1 on both dates (t2 − t1) and the same ramp."""

    config_class = WindowChangeConfig

    def __init__(self, config: WindowChangeConfig):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.post_init()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        return _logits(pixel_values_t2[:, 0] - pixel_values_t1[:, 0])


def _logits(band: torch.Tensor) -> torch.Tensor:
    n, h, w = band.shape
    ramp = torch.arange(w, dtype=torch.float32).view(1, 1, w) / P - 0.5
    mine = 2.0 * band.mean(dim=(1, 2)).view(n, 1, 1) + ramp
    return torch.stack([torch.zeros_like(mine), mine], dim=1)


# ---- the oracle: plain numpy, none of the package's helpers --------------------------------------


def _grid(length: int, stride: int | None) -> list[int]:
    step = stride or P
    if length <= P:
        return [0]
    starts = list(range(0, length - P + 1, step))
    return starts if starts[-1] == length - P else starts + [length - P]


def _normalised_band1(image: np.ndarray) -> np.ndarray:
    return (image[0].astype(np.float64) - MEAN[0]) / STD[0]


def _expected(values: np.ndarray, stride: int | None) -> np.ndarray:
    """Average, over the windows covering each pixel, of sigmoid(2·window mean + ramp)."""
    height, width = values.shape
    tiled = values[np.arange(max(height, P)) % height][:, np.arange(max(width, P)) % width]
    total = np.zeros(tiled.shape)
    count = np.zeros(tiled.shape)
    ramp = np.arange(P) / P - 0.5
    for r in _grid(height, stride):
        for c in _grid(width, stride):
            window = tiled[r : r + P, c : c + P]
            total[r : r + P, c : c + P] += 1.0 / (1.0 + np.exp(-(2.0 * window.mean() + ramp)))[None, :]
            count[r : r + P, c : c + P] += 1
    return (total / count)[:height, :width]


def _image(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Bright and dark halves so the window means differ strongly between overlapping windows."""
    rng = np.random.default_rng(seed)
    image = rng.integers(200, 1500, size=(10,) + shape).astype(np.uint16)
    image[0, :, shape[1] // 2 :] += 2500
    image[0, shape[0] // 3 :, :] //= 2
    return image


SHAPES = [(400, 350), (170, 330), (97, 230), (333, 161)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("stride,batch_size", [(None, 16), (80, 1), (80, 3), (50, 7)])
def test_segmentation_windows_are_averaged(shape, stride, batch_size):
    model = WindowMeanModel(WindowConfig()).eval()
    image = _image(shape, seed=sum(shape))
    mask, probability = predict_scene(model, image, stride=stride, batch_size=batch_size)
    expected = _expected(_normalised_band1(image), stride)
    np.testing.assert_allclose(probability, expected, atol=2e-5)
    np.testing.assert_array_equal(mask, (expected > 0.5).astype(np.uint8))


@pytest.mark.parametrize("shape", [(400, 350), (97, 230)])
@pytest.mark.parametrize("stride", [None, 80])
def test_change_windows_are_averaged(shape, stride):
    model = WindowChangeModel(WindowChangeConfig()).eval()
    first, second = _image(shape, seed=1), _image(shape, seed=2)[:, ::-1].copy()
    _, probability = predict_change_scene(model, first, second, stride=stride, batch_size=5)
    expected = _expected(_normalised_band1(second) - _normalised_band1(first), stride)
    np.testing.assert_allclose(probability, expected, atol=2e-5)


def test_geotiff_path_averages_windows_the_same_way(tmp_path: Path):
    """The streaming GeoTIFF writer (rows emitted as windows finish) against the same oracle."""
    model = WindowMeanModel(WindowConfig()).eval()
    image = _image((410, 260), seed=5)
    source = tmp_path / "in" / "Year2019.tif"
    source.parent.mkdir()
    profile = dict(driver="GTiff", height=410, width=260, count=10, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(500000, 5600000, 10, 10))
    with rasterio.open(source, "w", **profile) as dst:
        dst.write(image)
    out, prob_out = tmp_path / "out" / "Year2019.tif", tmp_path / "out" / "Probability2019.tif"
    predict_geotiff(model, [source], out, probability_out=prob_out, stride=80, batch_size=3)
    expected = _expected(_normalised_band1(image), 80)
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(1), (expected > 0.5).astype(np.uint8))
    with rasterio.open(prob_out) as src:
        percent = src.read(1).astype(np.float64)
    assert np.abs(percent - expected * 100).max() <= 0.5 + 1e-6


def test_batch_size_below_one_is_refused_by_name():
    model = WindowMeanModel(WindowConfig()).eval()
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        predict_scene(model, _image((170, 170), seed=0), batch_size=0)
