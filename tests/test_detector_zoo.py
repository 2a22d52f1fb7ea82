"""The change-detector contract, checked for every ``zoo_names("change_detection")`` entry.

Contract (MODELS.md / issue 8): two dates (B,C,H,W) → ``SemanticSegmenterOutput`` with logits
(B,2,H,W) at input resolution and a finite loss given ``labels``; trainable end to end; 3 and 10
channels; 160 and 256 px (no size tied to one resolution); safetensors save →
``AutoModelForChangeDetection`` round trip with equal outputs; a short training lowers the loss;
the ``paper`` preset built with 3 channels is within 15 % of the parameter count the benchmark's
change-detection framework publishes.
"""

from __future__ import annotations

import json
import warnings
from importlib import resources

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig
from transformers.modeling_outputs import SemanticSegmenterOutput
from transformers.utils import logging as hf_logging

from euromine_hf.models import MODEL_ZOO, AutoModelForChangeDetection, build_model, zoo_names
from euromine_hf.models.registry import ModelSpec

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=UserWarning)

SIZE = 64
DETECTORS = zoo_names("change_detection")


def _pair(channels: int, size: int = SIZE, batch: int = 2, seed: int = 0):
    """A learnable fixed pair batch: change where a smoothed band differs between the dates."""
    generator = torch.Generator().manual_seed(seed)
    t1 = torch.randn(batch, channels, size, size, generator=generator)
    t2 = t1.clone()
    blob = F.avg_pool2d(torch.randn(batch, 1, size, size, generator=generator), 9, stride=1, padding=4)
    changed = blob > 0.05
    t2[:, :1] = torch.where(changed, t2[:, :1] + 2.0, t2[:, :1])
    return t1, t2, changed[:, 0].long()


def _first_input_layer(model: torch.nn.Module, channels: int) -> torch.nn.Parameter:
    for parameter in model.parameters():
        if parameter.ndim == 4 and parameter.shape[1] == channels:
            return parameter
    raise AssertionError(f"{type(model).__name__}: no convolution takes {channels} input channels")


@pytest.fixture(params=DETECTORS)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return MODEL_ZOO[request.param]


def test_detector_zoo_is_populated() -> None:
    assert {"tinycd", "bit", "changeformer"} <= set(DETECTORS)
    paper_names = set(json.loads(
        resources.files("euromine_hf").joinpath("resources", "paper_results.json").read_text(encoding="utf-8")
    )["change_detection"])
    for name in DETECTORS:
        spec = MODEL_ZOO[name]
        assert spec.paper_name in paper_names, f"{name}: paper name {spec.paper_name!r} is not in Table 5"
        assert {"paper", "tiny"} <= set(spec.presets)
        assert spec.model_class.main_input_name == "pixel_values_t1"


@pytest.mark.parametrize("channels", [10, 3])
def test_forward_backward_contract(spec: ModelSpec, channels: int) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny", num_channels=channels).train()
    assert model.config.model_type.startswith("euromine-") and model.accepts_loss_kwargs is False
    t1, t2, labels = _pair(channels)
    out = model(pixel_values_t1=t1, pixel_values_t2=t2, labels=labels)
    assert isinstance(out, SemanticSegmenterOutput)
    assert out.logits.shape == (2, 2, SIZE, SIZE)
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grad = _first_input_layer(model, channels).grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        plain = model(t1, t2)
    assert plain.loss is None and plain.logits.shape == (2, 2, SIZE, SIZE)
    with pytest.raises(ValueError, match="pixel_values_t2"):
        model(t1, t2[:, :1])


@pytest.mark.parametrize("size", [160, 256])
def test_sizes_divisible_by_32(spec: ModelSpec, size: int) -> None:
    model = build_model(spec.name, "tiny").eval()
    t1, t2, _ = _pair(10, size=size, batch=1)
    with torch.no_grad():
        logits = model(t1, t2).logits
    assert logits.shape == (1, 2, size, size) and torch.isfinite(logits).all()


def test_save_load_auto_round_trip(spec: ModelSpec, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny").eval()
    t1, t2, _ = _pair(10)
    with torch.no_grad():
        expected = model(t1, t2).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert type(AutoConfig.from_pretrained(tmp_path)) is spec.config_class
    loaded = AutoModelForChangeDetection.from_pretrained(tmp_path).eval()
    assert type(loaded) is spec.model_class
    with torch.no_grad():
        torch.testing.assert_close(loaded(t1, t2).logits, expected)


def test_optimizer_steps_lower_the_loss(spec: ModelSpec) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny").train()
    t1, t2, labels = _pair(10, seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_now() -> float:
        torch.manual_seed(7)  # the same dropout each time
        with torch.no_grad():
            return float(model(t1, t2, labels=labels).loss)

    before = loss_now()
    for _ in range(10):
        optimizer.zero_grad()
        model(t1, t2, labels=labels).loss.backward()
        optimizer.step()
    after = loss_now()
    assert after < before, f"{spec.name}: loss {before:.4f} → {after:.4f} after 10 Adam steps"


def test_paper_preset_parameter_count_matches_published(spec: ModelSpec) -> None:
    if spec.published_params is None:
        pytest.skip(f"{spec.name}: the benchmark publishes no parameter count")
    with torch.device("meta"):  # no memory, no initialisation: counting only
        model = build_model(spec.name, "paper", num_channels=3)
    count = sum(p.numel() for p in model.parameters()) / 2**20
    assert abs(count - spec.published_params) <= 0.15 * spec.published_params, (
        f"{spec.name}: {count:.3f} × 2^20 parameters, published {spec.published_params}"
    )
