"""The change-detector contract, checked for every ``zoo_names("change_detection")`` entry.

Every detector added to the zoo is covered automatically (tiny preset unless said otherwise):
two dates (B,C,H,W) → ``SemanticSegmenterOutput`` with logits (B,2,H,W) at input resolution and a
finite loss; gradients reach the first layer; 3 and 10 channels; 160 and 256 px; safetensors +
``AutoModelForChangeDetection`` round trip with equal outputs; a few Adam steps lower the loss on a
fixed pair batch; the ``paper`` preset built with ``num_channels=3`` has the parameter count the
benchmark's framework publishes (units of 2^20) within 15 %. Model-specific behaviour lives in each
detector's own test file.
"""

from __future__ import annotations

import json
import warnings
from importlib import resources

import pytest
import torch
from transformers import AutoConfig, AutoModel
from transformers.modeling_outputs import SemanticSegmenterOutput
from transformers.utils import logging as hf_logging

from euromine_hf.models import MODEL_ZOO, AutoModelForChangeDetection, build_model, zoo_names
from euromine_hf.models.registry import ModelSpec

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=UserWarning)

SIZE = 64
DETECTORS = zoo_names("change_detection")
FIDELITY = 0.15  # the acceptance bar for parameter counts


def _pair_batch(channels: int, seed: int = 0, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A learnable fixed pair batch: date 2 is date 1 plus noise, brightened where a smooth random
    field is high; that region is the change mask."""
    generator = torch.Generator().manual_seed(seed)
    t1 = torch.randn(2, channels, size, size, generator=generator)
    field = torch.randn(2, 1, size, size, generator=generator)
    field = torch.nn.functional.avg_pool2d(field, 9, stride=1, padding=4)
    change = field > field.flatten(1).quantile(0.7, dim=1).view(2, 1, 1, 1)
    t2 = t1 + 0.3 * torch.randn(t1.shape, generator=generator) + 2.0 * change.float()
    return t1, t2, change[:, 0].long()


@pytest.fixture(params=DETECTORS)
def spec(request: pytest.FixtureRequest) -> ModelSpec:
    return MODEL_ZOO[request.param]


def test_zoo_has_detectors_with_paper_names() -> None:
    assert DETECTORS, "MODEL_ZOO holds no change detector"
    table = json.loads(resources.files("euromine_hf").joinpath("resources", "paper_results.json").read_text("utf-8"))
    for name in DETECTORS:
        spec = MODEL_ZOO[name]
        assert spec.paper_name in table["change_detection"], f"{name}: paper name {spec.paper_name!r} not in Table 5"
        assert {"paper", "tiny"} <= set(spec.presets)
        assert spec.config_class.model_type.startswith("euromine-")


def _every_head_trained(spec: ModelSpec) -> dict[str, bool]:
    """``auxiliary_losses=True`` where a detector has it: by default (the framework's training) its
    auxiliary heads get no gradient; with their losses on, every parameter must get one."""
    return {"auxiliary_losses": True} if hasattr(spec.config_class(), "auxiliary_losses") else {}


@pytest.mark.parametrize("channels", [10, 3])
def test_forward_backward_contract(spec: ModelSpec, channels: int) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny", num_channels=channels, **_every_head_trained(spec))
    assert model.main_input_name == "pixel_values_t1" and model.accepts_loss_kwargs is False
    assert model.config.task == "change_detection" and model.config.num_channels == channels
    t1, t2, labels = _pair_batch(channels)
    model.train()
    # Every pair carries both dates' mine masks (here: no mine at date 1, the change mined at date 2);
    # dual-task detectors (DTCDSCN) need them for their semantic branches to get gradients.
    dates = {"labels_t1": torch.zeros_like(labels), "labels_t2": labels}
    out = model(pixel_values_t1=t1, pixel_values_t2=t2, labels=labels, **dates)
    assert isinstance(out, SemanticSegmenterOutput)
    assert out.logits.shape == (2, 2, SIZE, SIZE)
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "a parameter got no / a non-finite gradient"
    first = next(p for p in model.parameters() if p.ndim == 4 and p.shape[1] in (channels, 2 * channels))
    assert first.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        plain = model(t1, t2)
    assert plain.loss is None and plain.logits.shape == (2, 2, SIZE, SIZE)
    with pytest.raises(ValueError, match="pixel_values_t2"):
        model(t1, t2[:, :1])


@pytest.mark.parametrize("size", [160, 256])
def test_benchmark_patch_sizes(spec: ModelSpec, size: int) -> None:
    """160 px (EuroMineNet patches) and 256 px (the framework's size): no pooling tied to one size."""
    model = build_model(spec.name, "tiny").eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 10, size, size), torch.randn(1, 10, size, size)).logits
    assert logits.shape == (1, 2, size, size) and torch.isfinite(logits).all()


@pytest.mark.parametrize("height, width", [(100, 90), (33, 47)])
def test_sizes_not_divisible_by_the_total_stride(spec: ModelSpec, height: int, width: int) -> None:
    """Edge tiles and cropped scenes: odd sizes are padded, cropped or resized inside, never a shape error."""
    model = build_model(spec.name, "tiny", num_channels=3).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, height, width), torch.randn(1, 3, height, width)).logits
    assert logits.shape == (1, 2, height, width) and torch.isfinite(logits).all()


def test_save_load_and_auto_classes(spec: ModelSpec, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(spec.name, "tiny").eval()
    t1, t2, _ = _pair_batch(10)
    with torch.no_grad():
        expected = model(t1, t2).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is spec.config_class
    for auto in (AutoModelForChangeDetection, AutoModel):
        loaded = auto.from_pretrained(tmp_path).eval()
        assert type(loaded) is spec.model_class
        with torch.no_grad():
            torch.testing.assert_close(loaded(t1, t2).logits, expected)


# That every detector trains is checked by tests/test_model_learning.py: it must fit the bright-square
# batch (IoU >= 0.8 in train and eval mode), a stronger claim than "the loss fell after 10 steps"
# (which A2Net's stride-32 framework output meets only barely on random labels).


def test_paper_preset_matches_published_parameter_count(spec: ModelSpec) -> None:
    """Built on the meta device (no memory, no init time) with RGB inputs, as the framework counts."""
    assert spec.published_params is not None, f"{spec.name}: register published_params (units of 2^20)"
    with torch.device("meta"):
        model = build_model(spec.name, "paper", num_channels=3)
    count = sum(p.numel() for p in model.parameters()) / 2**20
    assert abs(count - spec.published_params) <= FIDELITY * spec.published_params, (
        f"{spec.name}: {count:.3f} × 2^20 parameters, published {spec.published_params}"
    )
