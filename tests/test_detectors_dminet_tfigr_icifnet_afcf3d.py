"""Model-specific checks of DMINet, TFI-GR, ICIF-Net and AFCF3D-Net (the shared contract is in
test_detector_zoo.py): parameter counts against the published ones minus the reference's documented
dead weights, deep supervision as each paper prescribes, the idle PVTv2 stage, DMINet's joint
attention, AFCF3D's temporal mixing and single sigmoid output, config validation, the nested
transformers backbone configs of DMINet, TFI-GR and ICIF-Net."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import PvtV2Config, ResNetConfig

from euromine_hf.models import build_model
from euromine_hf.models.change_detection.afcf3d import AFCF3DConfig, TemporalMixing
from euromine_hf.models.change_detection.dminet import DMINetConfig, JointAttention
from euromine_hf.models.change_detection.icifnet import ICIFNetConfig, sinusoidal_position_2d
from euromine_hf.models.change_detection.tfi_gr import TFIGRConfig
from euromine_hf.models.encoders.pvtv2 import PvtV2Encoder, pvtv2_backbone_config

MIB = 2**20
#: torchvision ResNet-18's 1000-class fc, built but never run by the references (512·1000 + 1000).
RESNET_FC = 513_000 / MIB


def _count(name: str, size: str = "paper", **overrides) -> float:
    with torch.device("meta"):
        model = build_model(name, size, num_channels=3, **overrides)
    return sum(p.numel() for p in model.parameters()) / MIB


def _pair(channels: int = 10, size: int = 64, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    t1 = torch.randn(batch, channels, size, size, generator=generator)
    t2 = torch.randn(batch, channels, size, size, generator=generator)
    return t1, t2, torch.randint(0, 2, (batch, size, size), generator=generator)


@pytest.mark.parametrize(
    "name, published, dead",
    [
        ("dminet", 6.44, RESNET_FC),  # fc only
        ("tfi-gr", 27.06, RESNET_FC),  # fc only
        # fc + per interaction module (2 dates × 3 levels, widths 320/128/64): 3 dense d×d + qkv (3d² + 3d)
        ("icifnet", 24.64, RESNET_FC + 2 * sum(6 * d * d + 3 * d for d in (320, 128, 64)) / MIB),
        ("afcf3d", 16.83, 0.0),
    ],
)
def test_paper_count_is_published_count_minus_documented_dead_weights(name: str, published: float, dead: float) -> None:
    """The docstrings' accounting is exact: our module + the reference's unused weights = published."""
    assert _count(name) + dead == pytest.approx(published, rel=0.01)


def test_icifnet_keeps_the_idle_pvt_stage_built_but_does_not_run_it() -> None:
    assert _count("icifnet") - _count("icifnet", keep_unused_last_stage=False) == pytest.approx(7.46, abs=0.01)
    four_stages = {"depths": [1] * 4, "hidden_sizes": [8] * 4, "num_attention_heads": [1] * 4, "mlp_ratios": [1] * 4}
    model = build_model("icifnet", "tiny", keep_unused_last_stage=True, transformer_backbone_config=four_stages).eval()
    assert model.config.transformer_backbone_config.num_encoder_blocks == 4
    layers = model.transformer.backbone.encoder.layers
    assert len(layers) == 4
    calls: list[int] = []
    handles = [layer.register_forward_hook(lambda *_, i=i: calls.append(i)) for i, layer in enumerate(layers)]
    with torch.no_grad():
        model(*_pair()[:2])
    for handle in handles:
        handle.remove()
    assert sorted(set(calls)) == [0, 1, 2]


def test_pvt_run_stages_matches_the_full_backbone() -> None:
    encoder = PvtV2Encoder(pvtv2_backbone_config(4, "pvt-v2-b0", depths=[1, 1, 1, 1])).eval()
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        full, partial = encoder(x), encoder.run_stages(x, 3)
    assert len(partial) == 3
    for a, b in zip(full, partial):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="count"):
        encoder.run_stages(x, 5)


@pytest.mark.parametrize("name, weights", [("dminet", [1.0, 0.5, 0.5]), ("icifnet", [1.0, 0.5])])
def test_deep_supervision_and_summed_prediction(name: str, weights: list[float]) -> None:
    """Authors' trainers (``main_output="sum"``, ``auxiliary_losses=True``): loss = main + weighted
    side outputs; prediction = sum of the final outputs."""
    torch.manual_seed(0)
    model = build_model(name, "tiny", main_output="sum", auxiliary_losses=True).eval()  # eval: dropout off, BatchNorm fixed, so both paths agree
    t1, t2, labels = _pair()
    with torch.no_grad():
        main, auxiliary = model.detect_with_auxiliary(t1, t2)
        prediction = model(t1, t2).logits
    assert [a.weight for a in auxiliary] == weights and {a.target for a in auxiliary} == {"labels"}
    finals = [main, auxiliary[0].logits] if name == "dminet" else [main, *(a.logits for a in auxiliary)]
    torch.testing.assert_close(prediction, sum(finals))
    model.train()
    torch.manual_seed(1)
    loss = model(t1, t2, labels=labels).loss
    torch.manual_seed(1)
    main, auxiliary = model.detect_with_auxiliary(t1, t2)
    expected = model.compute_loss(main, labels) + sum(a.weight * model.compute_loss(a.logits, labels) for a in auxiliary)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("name", ["tfi-gr", "afcf3d"])
def test_single_output_detectors_have_no_auxiliary_terms(name: str) -> None:
    model = build_model(name, "tiny")
    _, auxiliary = model.detect_with_auxiliary(*_pair()[:2])
    assert auxiliary == []


def test_dminet_joint_attention_starts_as_identity_and_crosses_dates() -> None:
    torch.manual_seed(0)
    attention = JointAttention(16).eval()
    f1, f2 = torch.randn(1, 16, 6, 6), torch.randn(1, 16, 6, 6)
    _, r1, r2 = attention(f1, f2)
    torch.testing.assert_close(r1, f1)  # γ = 0 at start
    torch.testing.assert_close(r2, f2)
    with torch.no_grad():
        attention.gamma.fill_(1.0)
    _, r1, _ = attention(f1, f2)
    _, r1_other, _ = attention(f1, torch.randn(1, 16, 6, 6))
    assert not torch.allclose(r1, r1_other)  # date 1's refinement depends on date 2's queries


def test_dminet_joint_attention_is_the_unscaled_softmax_of_both_dates_queries() -> None:
    """γ·(V_date · softmax(QᵀK_date)ᵀ) + input with Q = [Q_t1; Q_t2], no 1/√d, per date."""
    torch.manual_seed(0)
    attention = JointAttention(16).eval()
    with torch.no_grad():
        attention.gamma.fill_(0.5)
    f1, f2 = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 5, 7)
    _, r1, r2 = attention(f1, f2)
    query = torch.cat([attention.query[0](f1), attention.query[1](f2)], dim=1).flatten(2)  # (B, C/4, N)
    for index, (features, refined) in enumerate(((f1, r1), (f2, r2))):
        key, value = attention.key[index](features).flatten(2), attention.value[index](features).flatten(2)
        weights = (query.transpose(1, 2) @ key).softmax(dim=-1)  # (B, N_query, N_key)
        expected = 0.5 * (value @ weights.transpose(1, 2)).view_as(features) + features
        torch.testing.assert_close(refined, expected, rtol=1e-5, atol=1e-5)
        assert refined.is_contiguous()  # keeps the decoder's convolutions in the default layout


def test_afcf3d_single_sigmoid_output_and_temporal_mixing() -> None:
    torch.manual_seed(0)
    model = build_model("afcf3d", "tiny").eval()
    t1, t2, _ = _pair()
    with torch.no_grad():
        logits = model(t1, t2).logits
    assert torch.equal(logits[:, 0], torch.zeros_like(logits[:, 0]))  # binary_logits: [0, z]
    mixing = model.encoder.stem[0].mixing
    assert isinstance(mixing, TemporalMixing)
    torch.testing.assert_close(mixing.same, torch.eye(mixing.same.shape[0]))
    assert not mixing.to_first.any() and not mixing.to_second.any()
    x = torch.randn(1, 8, 2, 4, 4)
    with torch.no_grad():
        mixing.to_first.fill_(0.1)
        out = mixing(x)
    expected_first = x[:, :, 0] + 0.1 * x[:, :, 1].sum(1, keepdim=True)
    torch.testing.assert_close(out[:, :, 0], expected_first)
    torch.testing.assert_close(out[:, :, 1], x[:, :, 1])  # date 2 is untouched by the date-2→1 map


def test_afcf3d_unshared_middle_fusion_adds_two_modules() -> None:
    shared = build_model("afcf3d", "tiny")
    separate = build_model("afcf3d", "tiny", share_middle_fusion=False)
    assert len(shared.fusion_middle) == 1 and len(separate.fusion_middle) == 3
    t1, t2, _ = _pair()
    assert separate.eval()(t1, t2).logits.shape == (2, 2, 64, 64)


def test_sinusoidal_position_code() -> None:
    code = sinusoidal_position_2d(8, 3, 5, torch.zeros(1))
    assert code.shape == (1, 8, 3, 5)
    torch.testing.assert_close(code[0, 0], torch.arange(3.0)[:, None].sin().expand(3, 5))  # rows, frequency 1
    torch.testing.assert_close(code[0, 4], torch.arange(5.0)[None, :].sin().expand(3, 5))  # columns, frequency 1


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (DMINetConfig, {"deep_supervision_weights": [1.0]}, "deep_supervision_weights"),
        (DMINetConfig, {"backbone": "vgg"}, "backbone"),
        (ICIFNetConfig, {"position_windows": [[3, 2], [5, 3]]}, "position_windows"),
        (ICIFNetConfig, {"transformer_backbone": "pvt-v2-b9"}, "transformer_backbone"),
        (AFCF3DConfig, {"depths": [2, 2, 2]}, "depths"),
        (DMINetConfig, {"backbone_config": {"depths": [1] * 4, "hidden_sizes": [8] * 4}}, "expected 3 stages"),
        (TFIGRConfig, {"backbone_config": {"depths": [1] * 3, "hidden_sizes": [8] * 3}}, "needs a 4-stage ResNet"),
        (DMINetConfig, {"backbone_config": {"out_features": ["stage3"]}}, r"out_features=.*this model sets it to"),
        (ICIFNetConfig, {"cnn_backbone_config": {"depths": [1] * 4}}, r"cnn_backbone_config.depths: expected 3 stages"),
        (ICIFNetConfig, {"keep_unused_last_stage": False, "transformer_backbone_config": {"depths": [1] * 4}},
         r"transformer_backbone_config.depths: expected 3 stages \(keep_unused_last_stage=False\)"),
        (ICIFNetConfig, {"transformer_backbone_config": {"num_encoder_blocks": 3}},
         r"num_encoder_blocks=3, but this model sets it to 4"),
        (ICIFNetConfig, {"transformer_backbone_config": ResNetConfig()}, "is a ResNetConfig; this backbone needs"),
    ],
)
def test_config_validation(factory, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


# --- nested transformers backbone configs -------------------------------------------------------

#: model → {config key: transformers model_type of the nested backbone config}
NESTED = {
    "dminet": {"backbone_config": "resnet"},
    "tfi-gr": {"backbone_config": "resnet"},
    "icifnet": {"cnn_backbone_config": "resnet", "transformer_backbone_config": "pvt_v2"},
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_backbone_configs_are_nested_and_round_trip(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(name, "tiny").eval()
    keys = NESTED[name]
    assert model.config.backbone_config_keys == tuple(keys)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {key: saved[key]["model_type"] for key in keys} == keys
    assert not set(saved) & set(model.config.removed_fields)
    assert all(saved[key]["num_channels"] == 10 for key in keys)
    # The encoders are built from exactly these configs.
    encoders = {"cnn_backbone_config": "cnn", "transformer_backbone_config": "transformer"}
    for key in keys:
        encoder = model.siamese.encoder if key == "backbone_config" else getattr(model, encoders[key])
        assert encoder.backbone.config.to_dict() == getattr(model.config, key).to_dict()
    config = type(model.config).from_pretrained(tmp_path)
    for key in keys:
        assert getattr(config, key).to_dict() == getattr(model.config, key).to_dict(), key
    reloaded = type(model).from_pretrained(tmp_path).eval()
    for key in keys:  # loading a model also records the weights' dtype on each sub-config
        loaded, built = getattr(reloaded.config, key).to_dict(), getattr(model.config, key).to_dict()
        assert {**loaded, "dtype": None} == {**built, "dtype": None}, key
    t1, t2, _ = _pair(size=32)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(t1, t2).logits, model(t1, t2).logits)


@pytest.mark.parametrize(
    "factory, field",
    [(DMINetConfig, "backbone_overrides"), (TFIGRConfig, "backbone_overrides"),
     (ICIFNetConfig, "cnn_overrides"), (ICIFNetConfig, "transformer_overrides")],
)  # fmt: skip
def test_removed_backbone_fields_raise(factory, field: str) -> None:
    with pytest.raises(ValueError, match=f"{factory.__name__}: field '{field}' is no longer read.*backbone_config"):
        factory(**{field: {"depths": [1, 1, 1]}})


@pytest.mark.parametrize(
    "factory, key, value",
    [
        (DMINetConfig, "backbone_config", {"num_channels": 3}),
        (TFIGRConfig, "backbone_config", ResNetConfig(num_channels=3)),
        (ICIFNetConfig, "cnn_backbone_config", {"num_channels": 3}),
        (ICIFNetConfig, "transformer_backbone_config", PvtV2Config(num_channels=3)),
    ],
)
def test_backbone_config_with_other_num_channels_raises(factory, key: str, value) -> None:
    with pytest.raises(ValueError, match=f"{key}.num_channels=3 but the model's num_channels=10"):
        factory(**{key: value})


def test_dminet_and_icifnet_follow_the_framework_by_default() -> None:
    """DMINet predicts from the difference branch's stride-8 head, ICIF-Net from its global head
    (the framework's ``main_predictions``), and both train on that prediction alone."""
    t1, t2, labels = _pair()
    for name, main_output, index in (("dminet", "diff8", 3), ("icifnet", "global", 0)):
        paper = build_model(name, "paper", num_channels=3).config
        assert (paper.main_output, paper.auxiliary_losses) == (main_output, False)
        torch.manual_seed(0)
        model = build_model(name, "tiny").eval()
        assert (model.config.main_output, model.config.auxiliary_losses) == (main_output, False)
        with torch.no_grad():
            heads = model._outputs(t1, t2, intermediate=True) if name == "dminet" else model._outputs(t1, t2)
            torch.testing.assert_close(model(t1, t2).logits, heads[index])
        model.train()
        main, auxiliary = model.detect_with_auxiliary(t1, t2)
        assert auxiliary == []
        with pytest.raises(ValueError, match="main_output"):
            build_model(name, "tiny", main_output="other")
    torch.manual_seed(0)
    dminet = build_model("dminet", "tiny", auxiliary_losses=True).eval()  # framework read-out, authors' terms
    with torch.no_grad():
        main, auxiliary = dminet.detect_with_auxiliary(t1, t2)
        sum_final, diff_final, sum_8, diff_8 = dminet._outputs(t1, t2, intermediate=True)
    torch.testing.assert_close(main, diff_8)
    assert [a.weight for a in auxiliary] == [1.0, 1.0, 0.5]
