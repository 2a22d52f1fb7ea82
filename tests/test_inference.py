"""Whole-scene inference: stitching is exact, outputs are georeferenced and read back by evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torch import nn

from euromine_hf.bands import BANDS, MEAN, STD
from euromine_hf.cli import main as cli_main
from euromine_hf.data.archive import read_prediction, scan_archive
from euromine_hf.data.synthetic import SyntheticConfig, generate_archive
from euromine_hf.inference import predict_archive, predict_scene, select_bands, window_offsets
from euromine_hf.models import build_model
from euromine_hf.models.configuration import EuroMineConfig
from euromine_hf.models.modeling import EuroMineSegmentationModel

YEARS3 = (2015, 2016, 2017)


class PixelConfig(EuroMineConfig):
    model_type = "euromine-test-pixelwise"

    def __init__(self, num_channels: int = 10, band_names=None, **kwargs):
        super().__init__(num_channels=num_channels, band_names=band_names, **kwargs)


class PixelModel(EuroMineSegmentationModel):
    """A 1×1 convolution: its prediction of a pixel does not depend on the window it sits in."""

    config_class = PixelConfig

    def __init__(self, config: PixelConfig):
        super().__init__(config)
        self.head = nn.Conv2d(config.num_channels, 2, 1)
        self.post_init()

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(pixel_values)


def _pixel_model(num_channels: int = 10, band_names=None) -> PixelModel:
    torch.manual_seed(0)
    model = PixelModel(PixelConfig(num_channels=num_channels, band_names=band_names))
    with torch.no_grad():
        model.head.weight.normal_()
        model.head.bias.zero_()
    return model.eval()


def _direct(model: PixelModel, image: np.ndarray, bands=BANDS) -> np.ndarray:
    idx = [list(BANDS).index(b) for b in bands]
    x = (torch.from_numpy(image.astype(np.float32))[None] - torch.from_numpy(MEAN[idx]).view(1, -1, 1, 1)) / torch.from_numpy(
        STD[idx]
    ).view(1, -1, 1, 1)
    with torch.no_grad():
        return torch.softmax(model(pixel_values=x).logits, 1)[0, 1].numpy()


@pytest.mark.parametrize("shape", [(150, 370), (330, 200), (160, 160), (97, 101)])
@pytest.mark.parametrize("stride", [None, 80])
def test_stitched_prediction_equals_whole_image_prediction(shape, stride):
    rng = np.random.default_rng(1)
    image = rng.integers(200, 4000, size=(10,) + shape, dtype=np.uint16)
    model = _pixel_model()
    mask, probability = predict_scene(model, image, stride=stride, batch_size=3)
    expected = _direct(model, image)
    assert mask.shape == shape and mask.dtype == np.uint8
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    np.testing.assert_array_equal(mask, (expected > 0.5).astype(np.uint8))


def test_three_band_model_reads_its_own_bands_from_a_ten_band_scene():
    rng = np.random.default_rng(2)
    image = rng.integers(200, 4000, size=(10, 170, 180), dtype=np.uint16)
    model = _pixel_model(3, ["B04", "B03", "B02"])
    _, probability = predict_scene(model, image)
    np.testing.assert_allclose(probability, _direct(model, select_bands(image, ["B04", "B03", "B02"]), ("B04", "B03", "B02")), atol=1e-5)


def test_window_offsets_match_the_published_grid_and_cover_the_edge():
    assert window_offsets(330) == [0, 160, 170]
    assert window_offsets(320) == [0, 160]
    assert window_offsets(100) == [0]
    assert window_offsets(330, stride=80) == [0, 80, 160, 170]
    with pytest.raises(ValueError, match="stride"):
        window_offsets(330, stride=0)
    # the bounds themselves: stride 1 and stride = size are valid, 161 is not; no window passes the edge
    assert window_offsets(163, stride=1) == [0, 1, 2, 3]
    assert window_offsets(240, stride=81) == [0, 80]  # 81 > 240 - 160: clipped to the edge, never beyond
    assert window_offsets(160, stride=7) == [0]
    with pytest.raises(ValueError, match=r"stride must be in 1\.\.160, got 161"):
        window_offsets(330, stride=161)


def test_bad_scenes_are_rejected_clearly():
    model = _pixel_model()
    with pytest.raises(ValueError, match="9 bands"):
        predict_scene(model, np.zeros((9, 160, 160), dtype=np.uint16))
    with pytest.raises(ValueError, match="integer"):
        predict_scene(model, np.zeros((10, 160, 160), dtype=np.float32))
    with pytest.raises(ValueError, match="not among"):
        select_bands(np.zeros((10, 4, 4), dtype=np.uint16), ["B01"])


@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inference") / "archive"
    generate_archive(out, SyntheticConfig(seed=3, num_sites=3, min_size=120, max_size=200, years=YEARS3))
    return out


def test_predict_archive_writes_georeferenced_rasters_that_evaluate_reads(tiny_archive, tmp_path):
    model = _pixel_model()
    out = tmp_path / "pred"
    written = predict_archive(model, tiny_archive, out, years=YEARS3, save_probability=True, progress=False)
    sites = scan_archive(tiny_archive, years=YEARS3)
    assert len(written) == 2 * len(sites) * len(YEARS3)
    for site in sites:
        with rasterio.open(site.image_path(2016)) as src, rasterio.open(out / site.name / "Year2016.tif") as pred:
            assert pred.crs == src.crs and pred.transform == src.transform
            assert (pred.height, pred.width) == (src.height, src.width)
        mask = read_prediction(out, site, 2016)
        assert set(np.unique(mask)) <= {0, 1}
    assert not list(out.rglob("*.tmp"))


def test_predict_command_from_a_saved_model(tiny_archive, tmp_path):
    model = build_model("unet", size="tiny")
    model.save_pretrained(tmp_path / "model")
    out = tmp_path / "pred"
    code = cli_main(["predict", str(tmp_path / "model"), str(tiny_archive), str(out), "--years", "2015", "--batch-size", "4"])
    assert code == 0
    sites = scan_archive(tiny_archive, years=YEARS3)
    assert sorted(p.parent.name for p in out.glob("*/Year2015.tif")) == sorted(s.name for s in sites)


def test_predict_archive_reads_within_the_pixel_limit(tiny_archive, tmp_path, monkeypatch):
    """Image sizes are checked from headers before pixels are read; the limit is one setting."""
    from euromine_hf.data.archive import MAX_PIXELS_ENV, ArchiveError

    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")  # under every synthetic site (>= 120x120)
    with pytest.raises(ArchiveError, match=rf"image/Year2015\.tif: size: expected at most 10,000 pixels per band \(set {MAX_PIXELS_ENV}"):
        predict_archive(_pixel_model(), tiny_archive, tmp_path / "pred", years=YEARS3, progress=False)
    assert not (tmp_path / "pred").exists()
