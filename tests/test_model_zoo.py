"""The segmenter contract, checked for every entry of MODEL_ZOO on its tiny preset.

Contract (ARCHITECTURE.md / DESIGN.md): ``pixel_values`` (B,C,H,W) → ``SemanticSegmenterOutput``
with a finite ``loss`` and ``logits`` (B,2,H,W) at input resolution; Auto-class loading;
safetensors round trip; 3 and 10 channels; ``model_type`` "euromine-…"; ``accepts_loss_kwargs``
False; trainable (the loss falls on a fixed batch).
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSemanticSegmentation
from transformers.modeling_outputs import SemanticSegmenterOutput
from transformers.utils import logging as hf_logging

from euromine_hf.models import MODEL_ZOO, build_model
from euromine_hf.models.registry import ModelSpec

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=UserWarning)


SIZE = 64
SEGMENTERS = sorted(name for name, spec in MODEL_ZOO.items() if spec.task == "segmentation")


def _batch(channels: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable fixed batch: the mine class is where a smoothed first band is positive."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(2, channels, SIZE, SIZE, generator=generator)
    smooth = torch.nn.functional.avg_pool2d(pixels[:, :1], 9, stride=1, padding=4)[:, 0]
    labels = (smooth > 0).long()
    return pixels, labels


def _first_input_layer(model: torch.nn.Module, channels: int) -> torch.nn.Parameter:
    for name, parameter in model.named_parameters():
        if parameter.ndim == 4 and parameter.shape[1] == channels:
            return parameter
    raise AssertionError(f"{type(model).__name__}: no convolution takes {channels} input channels")


@pytest.fixture(params=SEGMENTERS)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return MODEL_ZOO[request.param]


def test_zoo_is_populated() -> None:
    assert SEGMENTERS, "MODEL_ZOO holds no segmenter"
    paper_names = set(json.loads(
        __import__("importlib.resources").resources.files("euromine_hf").joinpath("resources", "paper_results.json")
        .read_text(encoding="utf-8")
    )["mapping"])
    for name in SEGMENTERS:
        assert MODEL_ZOO[name].paper_name in paper_names, f"{name}: paper name {MODEL_ZOO[name].paper_name!r}"
        assert {"paper", "tiny"} <= set(MODEL_ZOO[name].presets)


@pytest.mark.parametrize("channels", [10, 3])
def test_forward_backward_contract(spec: ModelSpec, channels: int) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny", num_channels=channels)
    assert model.config.model_type.startswith("euromine-")
    assert model.accepts_loss_kwargs is False
    assert model.config.num_channels == channels and len(model.config.band_names) == channels
    pixels, labels = _batch(channels)
    model.train()
    out = model(pixel_values=pixels, labels=labels)
    assert isinstance(out, SemanticSegmenterOutput)
    assert out.logits.shape == (2, 2, SIZE, SIZE)
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grad = _first_input_layer(model, channels).grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # Without labels: no loss, same logits contract.
    model.eval()
    with torch.no_grad():
        plain = model(pixel_values=pixels)
    assert plain.loss is None and plain.logits.shape == (2, 2, SIZE, SIZE)
    # Odd, non-square sizes also come back at input resolution.
    with torch.no_grad():
        odd = model(pixel_values=torch.randn(1, channels, 48, 80))
    assert odd.logits.shape == (1, 2, 48, 80)


def test_wrong_channel_count_is_rejected(spec: ModelSpec) -> None:
    model = build_model(spec.name, "tiny")
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=torch.randn(1, 3, SIZE, SIZE))


def test_ignored_pixels_keep_the_loss_finite(spec: ModelSpec) -> None:
    model = build_model(spec.name, "tiny").eval()
    pixels, labels = _batch(10)
    labels[0, : SIZE // 2] = model.config.ignore_index
    labels[1] = model.config.ignore_index  # one image entirely ignored
    labels[1, 0, 0] = 1
    assert torch.isfinite(model(pixel_values=pixels, labels=labels).loss)


def test_save_load_and_auto_classes(spec: ModelSpec, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny").eval()
    pixels, _ = _batch(10)
    with torch.no_grad():
        expected = model(pixel_values=pixels).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))

    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is spec.config_class and config.model_type == model.config.model_type
    for auto in (AutoModel, AutoModelForSemanticSegmentation):
        loaded = auto.from_pretrained(tmp_path).eval()
        assert type(loaded) is spec.model_class
        with torch.no_grad():
            torch.testing.assert_close(loaded(pixel_values=pixels).logits, expected)
    assert type(AutoModel.from_config(config)) is spec.model_class


def test_optimizer_steps_lower_the_loss(spec: ModelSpec) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny").train()
    pixels, labels = _batch(10, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_now() -> float:
        torch.manual_seed(7)  # same dropout / point sampling each time
        with torch.no_grad():
            return float(model(pixel_values=pixels, labels=labels).loss)

    before = loss_now()
    for _ in range(6):
        optimizer.zero_grad()
        model(pixel_values=pixels, labels=labels).loss.backward()
        optimizer.step()
    after = loss_now()
    assert after < before, f"{spec.name}: loss {before:.4f} → {after:.4f} after 6 Adam steps"


#: Parameter counts (millions, 1e6) of the segmenters the EuroMineNet benchmark's training code
#: built, at 10 bands and 2 classes (DESIGN.md, "Facts from the benchmark's published code").
BENCHMARK_SIZES = {
    "unet": 17.27,
    "linknet": 11.56,
    "pspnet": 65.70,
    "sqnet": 16.24,
    "deeplabv3plus-resnet101": 59.36,
}


@pytest.mark.parametrize("name", sorted(BENCHMARK_SIZES))
def test_paper_preset_has_the_benchmark_size(name: str) -> None:
    """The ``paper`` preset is what the benchmark ran: within 5 % of its published size."""
    with torch.device("meta"):
        model = build_model(name, "paper", num_channels=10)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert model.config.num_labels == 2
    assert abs(count - BENCHMARK_SIZES[name]) <= 0.05 * BENCHMARK_SIZES[name], f"{name}: {count:.2f} M"


@pytest.mark.parametrize("name", sorted(n for n in SEGMENTERS if "original" in MODEL_ZOO[n].presets))
def test_original_presets_differ_from_the_paper_preset(name: str) -> None:
    spec = MODEL_ZOO[name]
    assert spec.make_config("original").to_dict() != spec.make_config("paper").to_dict()
    with torch.device("meta"):
        original = build_model(name, "original")
        paper = build_model(name, "paper")
    assert sum(p.numel() for p in original.parameters()) != sum(p.numel() for p in paper.parameters())
