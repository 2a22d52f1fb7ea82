"""What is specific to DTCDSCN, FCN-PP and ResUnet beyond the zoo contract (test_detector_zoo.py):
the framework's exact modules (parameter counts to the unit), DTCDSCN's SE-ResNet encoder and its
semantic branches supervised by each date's mask and its nested ResNet config, FCN-PP's single
sigmoid output, pyramid and input fusion, ResUnet's bridge and |Δ| skips."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from transformers import ResNetBackbone, ResNetConfig
from transformers.utils import logging as hf_logging

from euromine_hf.models import build_model
from euromine_hf.models.change_detection.dtcdscn import DTCDSCNConfig
from euromine_hf.models.change_detection.fcn_pp import FCNPPConfig
from euromine_hf.models.change_detection.resunet import ResUnetConfig
from euromine_hf.models.encoders.resnet import ResNetEncoder, SqueezeExcitation, resnet_backbone_config
from euromine_hf.models.modeling import resize_logits

hf_logging.set_verbosity_error()
warnings.filterwarnings("ignore", category=UserWarning)


def _pair(channels: int = 10, size: int = 64, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    t1 = torch.randn(batch, channels, size, size, generator=generator)
    t2 = torch.randn(batch, channels, size, size, generator=generator)
    masks = [torch.randint(0, 2, (batch, size, size), generator=generator) for _ in range(3)]
    return t1, t2, *masks


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, count",
    # The framework's modules rebuilt here with num_classes=2 (FCN-PP: 1) and 3 input bands.
    [("dtcdscn", 41_071_268), ("fcn-pp", 15_268_737), ("resunet", 13_198_226)],
)
def test_paper_presets_are_the_frameworks_modules(name: str, count: int) -> None:
    with torch.device("meta"):
        model = build_model(name, "paper", num_channels=3)
    assert _count(model) == count


# --- SE-ResNet (encoders) -----------------------------------------------------------------------

def test_se_resnet34_adds_one_gate_per_block_and_loads_plain_resnet_weights() -> None:
    config = resnet_backbone_config(3, "resnet34")
    plain, se = ResNetEncoder(config), ResNetEncoder(config, se_reduction=16)
    gates = [m for m in se.modules() if isinstance(m, SqueezeExcitation)]
    assert len(gates) == 3 + 4 + 6 + 3
    widths = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    assert _count(se) - _count(plain) == sum(2 * c * (c // 16) for c in widths)
    assert _count(plain) == _count(ResNetBackbone(config))  # the default stays a plain ResNet
    # An ImageNet ResNet-34 checkpoint loads; only the gates are new.
    missing, unexpected = se.backbone.load_state_dict(plain.backbone.state_dict(), strict=False)
    assert not unexpected and missing and all(".layer.2." in key for key in missing)
    features = se(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512]


def test_squeeze_excitation_rescales_channels() -> None:
    gate = SqueezeExcitation(8, reduction=4)
    torch.nn.init.zeros_(gate.excite.weight)  # sigmoid(0) = 0.5 on every channel
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(gate(x), 0.5 * x)
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, reduction=0)


# --- DTCDSCN ------------------------------------------------------------------------------------

def test_dtcdscn_semantic_branches_are_supervised_by_each_dates_mask() -> None:
    torch.manual_seed(0)
    model = build_model("dtcdscn", "tiny", auxiliary_losses=True).train()  # no dropout: repeatable passes
    t1, t2, change, mask_t1, mask_t2 = _pair()
    logits, auxiliary = model.detect_with_auxiliary(t1, t2)
    assert [(a.weight, a.target) for a in auxiliary] == [(0.5, "labels_t1"), (0.5, "labels_t2")]

    def ce(lg: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(resize_logits(lg, labels.shape[-2:]), labels)

    both = model(t1, t2, labels=change, labels_t1=mask_t1, labels_t2=mask_t2).loss
    expected = ce(logits, change) + 0.5 * ce(auxiliary[0].logits, mask_t1) + 0.5 * ce(auxiliary[1].logits, mask_t2)
    torch.testing.assert_close(both, expected)
    only_t1 = model(t1, t2, labels=change, labels_t1=mask_t1).loss
    torch.testing.assert_close(only_t1, ce(logits, change) + 0.5 * ce(auxiliary[0].logits, mask_t1))
    # Skipped when absent: the change term alone, and the semantic branch gets no gradient.
    model.zero_grad()
    plain = model(t1, t2, labels=change).loss
    torch.testing.assert_close(plain, ce(logits, change))
    plain.backward()
    assert all(p.grad is None for p in model.semantic_decoder.parameters())
    model.zero_grad()
    model(t1, t2, labels=change, labels_t2=mask_t2).loss.backward()
    assert all(p.grad is not None for p in model.semantic_decoder.parameters())


def test_dtcdscn_semantic_weight_and_date_independence() -> None:
    torch.manual_seed(0)
    model = build_model("dtcdscn", "tiny", semantic_weight=0.0, auxiliary_losses=True).eval()
    t1, t2, change, mask_t1, mask_t2 = _pair()
    model.train()
    with torch.no_grad():
        logits, _ = model.detect_with_auxiliary(t1, t2)
        loss = model(t1, t2, labels=change, labels_t1=mask_t1, labels_t2=mask_t2).loss
    torch.testing.assert_close(loss, F.cross_entropy(logits, change))
    model.eval()
    with torch.no_grad():  # Siamese: a date's semantic map depends on that date only
        first, second = model.segment_dates(t1, t2)
        first_again, _ = model.segment_dates(t1, torch.randn_like(t2))
    assert first.shape == second.shape == (2, 2, 64, 64)
    torch.testing.assert_close(first, first_again)
    assert model.uses_date_labels is True


def test_dtcdscn_framework_default_trains_the_change_map_only() -> None:
    """Default and ``paper`` (the framework): no semantic term even with both dates' masks given."""
    assert build_model("dtcdscn", "paper", num_channels=3).config.auxiliary_losses is False
    torch.manual_seed(0)
    model = build_model("dtcdscn", "tiny").train()
    calls = []
    model.semantic_decoder.register_forward_hook(lambda *args: calls.append(1))
    t1, t2, change, mask_t1, mask_t2 = _pair()
    logits, auxiliary = model.detect_with_auxiliary(t1, t2)
    assert auxiliary == []
    loss = model(t1, t2, labels=change, labels_t1=mask_t1, labels_t2=mask_t2).loss
    loss.backward()
    assert not calls and all(p.grad is None for p in model.semantic_decoder.parameters())


def test_dtcdscn_inference_skips_the_semantic_branch() -> None:
    model = build_model("dtcdscn", "tiny").eval()
    calls = []
    model.semantic_decoder.register_forward_hook(lambda *args: calls.append(1))
    t1, t2, change, *_ = _pair(size=32)
    with torch.no_grad():
        model(t1, t2)
        model(t1, t2, labels=change)  # evaluation loss: the change term only
    assert calls == []


def test_dtcdscn_paper_structure() -> None:
    with torch.device("meta"):
        model = build_model("dtcdscn", "paper", num_channels=3)
    assert model.encoder.backbone.config.depths == [3, 4, 6, 3]
    assert [conv.dilation[0] for conv in model.change_decoder.center.convs] == [1, 2, 4, 8]
    assert [(b.reduce[0].in_channels, b.expand[0].out_channels) for b in model.change_decoder.blocks] == [
        (512, 256), (256, 128), (128, 64), (64, 64)
    ]
    with pytest.raises(ValueError, match="backbone"):
        DTCDSCNConfig(backbone="resnet50")


def test_dtcdscn_backbone_config_is_a_nested_resnet_config(tmp_path) -> None:
    """The ResNet's fields live in a transformers ResNetConfig; the SE option (not one of its
    fields) stays on the DTCDSCN config; config.json round-trips to the same model."""
    torch.manual_seed(0)
    model = build_model("dtcdscn", "tiny").eval()
    assert DTCDSCNConfig.backbone_config_keys == ("backbone_config",)
    assert isinstance(model.config.backbone_config, ResNetConfig)
    assert model.encoder.backbone.config.to_dict() == model.config.backbone_config.to_dict()
    assert DTCDSCNConfig().backbone_config.depths == [3, 4, 6, 3]  # the ResNet-34 variant's defaults
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    nested = saved["backbone_config"]
    assert nested["model_type"] == "resnet" and nested["depths"] == [1, 1, 1, 1] and nested["num_channels"] == 10
    assert nested["out_features"] == ["stage1", "stage2", "stage3", "stage4"]
    assert saved["se_reduction"] == 4 and "se_reduction" not in nested and "backbone_overrides" not in saved
    config = DTCDSCNConfig.from_pretrained(tmp_path)
    assert config.backbone_config.to_dict() == model.config.backbone_config.to_dict()
    reloaded = type(model).from_pretrained(tmp_path).eval()
    assert reloaded.config.se_reduction == 4
    t1, t2, *_ = _pair(size=32)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(t1, t2).logits, model(t1, t2).logits)
    with pytest.raises(ValueError, match="DTCDSCNConfig: field 'backbone_overrides' is no longer read"):
        DTCDSCNConfig(backbone_overrides={"depths": [1, 1, 1, 1]})
    with pytest.raises(ValueError, match="backbone_config.num_channels=3 but the model's num_channels=10"):
        DTCDSCNConfig(backbone_config={"num_channels": 3})
    with pytest.raises(ValueError, match="backbone_config.num_channels=10 but the model's num_channels=3"):
        DTCDSCNConfig(num_channels=3, backbone_config=model.config.backbone_config)


# --- FCN-PP -------------------------------------------------------------------------------------

def test_fcn_pp_single_sigmoid_output_is_trained_with_bce() -> None:
    torch.manual_seed(0)
    model = build_model("fcn-pp", "tiny").eval()
    t1, t2, change, *_ = _pair()
    out = model(t1, t2, labels=change)
    assert torch.count_nonzero(out.logits[:, 0]) == 0
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits[:, 1], change.float()))


def test_fcn_pp_pyramid_runs_at_stride_8_and_is_fused_at_that_scale() -> None:
    model = build_model("fcn-pp", "tiny").eval()
    shapes = {}
    model.pyramid.register_forward_hook(lambda m, i, o: shapes.update(pyramid=(i[0].shape, o.shape)))
    model.ups[0].unit.register_forward_hook(lambda m, i, o: shapes.update(first=i[0].shape))
    t1, t2, *_ = _pair(size=64)
    with torch.no_grad():
        model(t1, t2)
    (inp, out), first = shapes["pyramid"], shapes["first"]
    assert inp[-2:] == out[-2:] == (8, 8)
    assert first[-2:] == (8, 8)  # not upsampled and cropped (the framework's code crops ×2 context)
    assert [m.upsample for m in model.ups] == [False, True, True, True]
    assert [model.stages[0][i].dilation[0] for i in (0, 3, 6)] == [1, 2, 3]
    model.train()  # a one-image batch trains (the pooling branch's BatchNorm)
    model(t1[:1], t2[:1], labels=torch.zeros(1, 64, 64, dtype=torch.long)).loss.backward()


def test_fcn_pp_input_fusion() -> None:
    assert build_model("fcn-pp", "tiny").stages[0][0].in_channels == 20
    model = build_model("fcn-pp", "tiny", input_fusion="difference").eval()
    assert model.stages[0][0].in_channels == 10
    t1, t2, *_ = _pair()
    with torch.no_grad():
        torch.testing.assert_close(model(t1, t2).logits, model(t2, t1).logits)
    with pytest.raises(ValueError, match="input_fusion"):
        FCNPPConfig(input_fusion="sum")


# --- ResUnet ------------------------------------------------------------------------------------

def test_resunet_bridge_fusion() -> None:
    torch.manual_seed(0)
    t1, t2, *_ = _pair()
    batches = []
    symmetric = build_model("resunet", "tiny", bridge_fusion="difference").eval()
    framework = build_model("resunet", "tiny").eval()
    framework.load_state_dict(symmetric.state_dict())  # same parameters, different wiring
    for model in (framework, symmetric):
        model.down_units[-1].register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
    with torch.no_grad():
        torch.testing.assert_close(symmetric(t1, t2).logits, symmetric(t2, t1).logits)
        assert not torch.allclose(framework(t1, t2).logits, framework(t2, t1).logits)
    assert batches == [4, 4, 2, 2]  # "difference" runs the bridge on both dates; "t1" on date 1 only
    with pytest.raises(ValueError, match="bridge_fusion"):
        ResUnetConfig(bridge_fusion="sum")


def test_resunet_skips_are_absolute_differences_and_odd_sizes_work() -> None:
    model = build_model("resunet", "tiny", bridge_fusion="difference").eval()
    inputs = []
    model.up_units[-1].register_forward_hook(lambda m, i, o: inputs.append(i[0]))
    t1, *_ = _pair()
    with torch.no_grad():
        model(t1, t1)
    skip = inputs[0][:, model.config.widths[1]:]  # [upsampled, |f1 − f2|] at full resolution
    assert skip.shape[1] == model.config.widths[0] and torch.count_nonzero(skip) == 0
    with torch.no_grad():
        assert model(torch.randn(1, 10, 50, 50), torch.randn(1, 10, 50, 50)).logits.shape == (1, 2, 50, 50)


def test_dtcdscn_encoder_takes_an_rgb_resnet_checkpoint_with_band_adaptation(tmp_path) -> None:
    from transformers import ResNetModel

    from euromine_hf.bands import BANDS
    from euromine_hf.models.band_adaptation import adapt_rgb_weight, load_rgb_checkpoint

    overrides = {"depths": [1, 1, 1, 1], "hidden_sizes": [8, 8, 16, 16], "embedding_size": 8}
    resnet = ResNetModel(resnet_backbone_config(3, "resnet34", **overrides))
    resnet.save_pretrained(tmp_path)
    model = build_model("dtcdscn", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path)
    first = "encoder.backbone.embedder.embedder.convolution.weight"
    assert report.adapted == [first] and not report.skipped
    target, source = model.state_dict(), resnet.state_dict()
    torch.testing.assert_close(target[first], adapt_rgb_weight(source["embedder.embedder.convolution.weight"], BANDS))
    for key, tensor in source.items():
        if not key.startswith("embedder.embedder.convolution"):
            torch.testing.assert_close(target[f"encoder.backbone.{key}"], tensor, msg=key)
    trunk_missing = [key for key in report.missing if key.startswith("encoder.")]
    assert trunk_missing and all(".layer.2." in key for key in trunk_missing)  # only the SE gates are new
