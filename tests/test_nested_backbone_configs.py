"""Nested transformers backbone configs, checked for every zoo model (both tasks) that has one.

A model built on a transformers backbone keeps that backbone's config nested (``backbone_config``,
like transformers' ``UperNetConfig``), so ``config.json`` holds exactly what transformers builds the
backbone from; the fields an earlier release wrote flat are refused with a message.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, PretrainedConfig
from transformers.utils import logging as hf_logging

from euromine_hf.models import MODEL_ZOO, build_model
from euromine_hf.models.registry import get_spec

hf_logging.set_verbosity_error()

NESTED = sorted(name for name, spec in MODEL_ZOO.items() if spec.config_class.backbone_config_keys)

#: Zoo models on transformers backbones whose config *is* the transformers model's own flat config
#: (SegFormer = MiT + its MLP head, DeepLabV3-MobileViTV2), as transformers itself keeps them.
FLAT_AS_IN_TRANSFORMERS = {"segformer", "deeplabv3-mobilevitv2"}


def test_every_model_on_a_transformers_backbone_nests_its_config() -> None:
    """A zoo model holding a transformers backbone module has a nested config for it (or is one of
    transformers' own flat models): guards against a new model copying backbone fields again."""
    from transformers import PreTrainedModel

    missing = []
    for name in sorted(MODEL_ZOO):
        if name in NESTED or name in FLAT_AS_IN_TRANSFORMERS:
            continue
        model = build_model(name, "tiny")
        inner = [type(m).__name__ for m in model.modules() if isinstance(m, PreTrainedModel) and m is not model]
        if inner:
            missing.append(f"{name}: {inner[0]}")
    assert not missing, f"models building a transformers backbone from flat fields: {missing}"
    assert {"upernet-convnext", "upernet-swin", "mask2former", "deeplabv3plus-resnet101", "pspnet", "linknet"} <= set(NESTED)


@pytest.mark.parametrize("name", NESTED)
def test_nested_config_round_trips_through_config_json(name: str, tmp_path) -> None:
    model = build_model(name, "tiny", num_channels=3)
    config = model.config
    keys = type(config).backbone_config_keys
    assert set(keys) <= set(type(config).sub_configs), "transformers must see the nested configs as sub-configs"
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for key in keys:
        nested = getattr(config, key)
        assert isinstance(nested, PretrainedConfig)
        assert nested.num_channels == 3, f"{name}.{key} must follow num_channels"
        assert saved[key]["model_type"] == nested.model_type and saved[key]["num_channels"] == 3
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert type(reloaded) is type(config)
    for key in keys:
        assert getattr(reloaded, key).to_dict() == getattr(config, key).to_dict()
    # a config object passed in (not a dict) is taken as it is
    again = get_spec(name).make_config("tiny", num_channels=3, **{key: getattr(config, key) for key in keys})
    for key in keys:
        assert getattr(again, key).to_dict() == getattr(config, key).to_dict()
    rebuilt = type(model)(reloaded)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())
    assert sorted(rebuilt.state_dict()) == sorted(model.state_dict())


@pytest.mark.parametrize("name", NESTED)
def test_nested_config_refuses_another_band_count_and_removed_fields(name: str) -> None:
    spec = get_spec(name)
    key = spec.config_class.backbone_config_keys[0]
    with pytest.raises(ValueError, match=rf"{key}\.num_channels=3 but the model's num_channels=10"):
        spec.make_config("tiny", num_channels=10, **{key: {"num_channels": 3}})
    for field in spec.config_class.removed_fields:
        with pytest.raises(ValueError, match=rf"'{field}' is no longer read"):
            spec.make_config("tiny", **{field: None})


@pytest.mark.parametrize("name", NESTED)
def test_tiny_preset_forward_from_nested_config(name: str) -> None:
    model = build_model(name, "tiny").eval()
    inputs = torch.randn(1, 10, 64, 64)
    with torch.no_grad():
        if model.config.task == "segmentation":
            logits = model(pixel_values=inputs).logits
        else:
            logits = model(pixel_values_t1=inputs, pixel_values_t2=inputs.flip(-1)).logits
    assert logits.shape == (1, 2, 64, 64)


def test_overrides_change_nested_fields_one_by_one_and_typos_are_refused() -> None:
    from euromine_hf.training.arguments import parse_overrides

    spec = get_spec("upernet-swin")
    overrides = parse_overrides('backbone_config={"depths": [1, 1, 2, 1]},hidden_size=8')
    config = spec.make_config("tiny", **overrides)
    tiny = spec.presets["tiny"]["backbone_config"]
    assert config.backbone_config.depths == [1, 1, 2, 1]
    assert config.backbone_config.embed_dim == tiny["embed_dim"] and config.backbone_config.window_size == tiny["window_size"]
    assert spec.presets["tiny"]["backbone_config"] is tiny and tiny["depths"] == [1, 1, 1, 1]  # preset untouched
    with pytest.raises(ValueError, match="unknown config field\\(s\\) hidden_sise; EuroMineUperNetConfig takes .*hidden_size"):
        spec.make_config("tiny", hidden_sise=8)
