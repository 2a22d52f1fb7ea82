"""The segmenters composed from transformers' classes: sizes, heads, losses, RGB band adaptation."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    ConvNextBackbone,
    ConvNextConfig,
    ConvNextModel,
    MobileViTV2Model,
    SegformerForSemanticSegmentation,
    SegformerModel,
    SwinBackbone,
    SwinConfig,
    SwinModel,
)
from transformers.utils import logging as hf_logging

from euromine_hf.bands import BANDS, RGB_BANDS
from euromine_hf.models import build_model, get_spec, load_rgb_checkpoint
from euromine_hf.models.segmentation.deeplabv3_mobilevit import EuroMineDeepLabV3MobileViTConfig
from euromine_hf.models.segmentation.mask2former import (
    EuroMineMask2FormerConfig,
    EuroMineMask2FormerForSegmentation,
    SemanticMask2FormerLoss,
    semantic_targets,
)
from euromine_hf.models.segmentation.segformer import SEGFORMER_VARIANTS, EuroMineSegformerConfig
from euromine_hf.models.segmentation.upernet import EuroMineUperNetConfig

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=UserWarning)


# --------------------------------------------------------------------------- configs and presets


def test_paper_names_match_the_published_results() -> None:
    from euromine_hf.bands import load_resource

    published = set(load_resource("paper_results.json")["mapping"])
    expected = {
        "segformer": "Segformer",
        "upernet-convnext": "UperNet (ConvNext-B5)",
        "upernet-swin": "UperNet (SwinT-B)",
        "mask2former": "Mask2Former (SwinT-B)",
        "deeplabv3-mobilevitv2": "DeeplabV3 (MobileViTV2)",
    }
    for name, paper_name in expected.items():
        assert get_spec(name).paper_name == paper_name
        assert paper_name in published


@pytest.mark.parametrize("variant", sorted(SEGFORMER_VARIANTS))
def test_segformer_variants_follow_the_segformer_paper(variant: str) -> None:
    config = EuroMineSegformerConfig(variant=variant)
    sizes = SEGFORMER_VARIANTS[variant]
    assert config.hidden_sizes == sizes["hidden_sizes"] and config.depths == sizes["depths"]
    assert config.decoder_hidden_size == sizes["decoder_hidden_size"]
    inner = config.to_segformer_config()
    assert inner.num_channels == 10 and list(inner.depths) == sizes["depths"]


def test_segformer_defaults_to_b5_and_validates() -> None:
    config = EuroMineSegformerConfig()
    assert config.variant == "b5" and config.depths == [3, 6, 40, 3] and config.hidden_sizes[-1] == 512
    assert get_spec("segformer").make_config("paper").depths == [3, 6, 40, 3]
    with pytest.raises(ValueError, match="variant"):
        EuroMineSegformerConfig(variant="b9")
    with pytest.raises(ValueError, match="custom"):
        EuroMineSegformerConfig(variant="custom")
    with pytest.raises(ValueError, match="divisible"):
        EuroMineSegformerConfig(variant="b0", hidden_sizes=[30, 64, 160, 256], num_attention_heads=[4, 2, 5, 8])
    # Explicit values override the named variant.
    assert EuroMineSegformerConfig(variant="b5", depths=[1, 1, 1, 1]).depths == [1, 1, 1, 1]


def test_segformer_b0_has_the_published_size() -> None:
    model = build_model("segformer", "paper", variant="b0", num_channels=3)
    params = sum(p.numel() for p in model.parameters())
    assert 3.5e6 < params < 3.9e6  # MiT-B0 SegFormer: 3.7 M parameters


def test_upernet_backbones_and_config_lists(tmp_path) -> None:
    convnext = build_model("upernet-convnext", "tiny")
    swin = build_model("upernet-swin", "tiny")
    assert isinstance(convnext.encoder.backbone, ConvNextBackbone)
    assert isinstance(swin.encoder.backbone, SwinBackbone)
    paper = get_spec("upernet-convnext").make_config("paper").backbone_config
    assert isinstance(paper, ConvNextConfig)
    assert paper.hidden_sizes == [128, 256, 512, 1024] and paper.depths == [3, 3, 27, 3]
    assert paper.out_features == ["stage1", "stage2", "stage3", "stage4"] and paper.num_channels == 10
    swin_paper = get_spec("upernet-swin").make_config("paper").backbone_config
    assert isinstance(swin_paper, SwinConfig)
    assert swin_paper.depths == [2, 2, 18, 2] and swin_paper.num_heads == [4, 8, 16, 32]
    convnext.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["backbone"] == "convnext"
    assert saved["backbone_config"]["model_type"] == "convnext" and saved["backbone_config"]["depths"] == [1, 1, 1, 1]
    reloaded = EuroMineUperNetConfig.from_pretrained(tmp_path)
    assert reloaded.backbone_config.to_dict() == convnext.config.backbone_config.to_dict()
    with pytest.raises(ValueError, match="backbone"):
        EuroMineUperNetConfig(backbone="resnet")
    with pytest.raises(ValueError, match="depths: expected 4 stages"):
        EuroMineUperNetConfig(backbone="swin", backbone_config={"depths": [1, 1], "num_heads": [1, 2]})
    with pytest.raises(ValueError, match="model_type is 'swin'; this backbone needs 'convnext'"):
        EuroMineUperNetConfig(backbone="convnext", backbone_config=swin.config.backbone_config.to_dict())
    with pytest.raises(ValueError, match="backbone_config.num_channels=3 but the model's num_channels=10"):
        EuroMineUperNetConfig(backbone_config={"num_channels": 3})
    with pytest.raises(ValueError, match="out_features=.*this model sets it to"):
        EuroMineUperNetConfig(backbone_config={"out_features": ["stage4"]})
    with pytest.raises(ValueError, match="'embed_dim' is no longer read"):
        EuroMineUperNetConfig(embed_dim=8)


def test_upernet_training_loss_adds_the_auxiliary_head_with_weight_0_4() -> None:
    torch.manual_seed(0)
    model = build_model("upernet-convnext", "tiny").train()
    pixels = torch.randn(2, 10, 64, 64)
    labels = torch.randint(0, 2, (2, 64, 64))
    labels[0, :8] = 255
    out = model(pixel_values=pixels, labels=labels)
    with torch.no_grad():  # train-mode BatchNorm normalises with batch statistics: same numbers again
        features = model.encoder(pixels)
        main = F.interpolate(model.decode_head(features), size=(64, 64), mode="bilinear", align_corners=False)
        aux = F.interpolate(model.auxiliary_head(features), size=(64, 64), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(main, labels, ignore_index=255) + 0.4 * F.cross_entropy(aux, labels, ignore_index=255)
    torch.testing.assert_close(out.loss.detach(), expected)
    torch.testing.assert_close(out.logits.detach(), main)  # logits are the main head's only
    # evaluation loss is the main head's alone, comparable with models without auxiliary heads
    model.eval()
    with torch.no_grad():
        evaluated = model(pixel_values=pixels, labels=labels)
    torch.testing.assert_close(evaluated.loss, F.cross_entropy(evaluated.logits, labels, ignore_index=255))

    without = build_model("upernet-convnext", "tiny", use_auxiliary_head=False).eval()
    assert without.auxiliary_head is None
    result = without(pixel_values=pixels, labels=labels)
    torch.testing.assert_close(result.loss, F.cross_entropy(result.logits, labels, ignore_index=255))


def test_mobilevit_starts_with_unit_batchnorm_and_output_stride() -> None:
    model = build_model("deeplabv3-mobilevitv2", "tiny").train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.all(m.weight == 1) for m in norms)
    with torch.no_grad():  # batch statistics: unit-scale norms keep the signal alive to the logits
        assert model(pixel_values=torch.randn(2, 10, 64, 64)).logits.abs().max() > 1e-3
    with pytest.raises(ValueError, match="output_stride"):
        EuroMineDeepLabV3MobileViTConfig(output_stride=4)
    assert model.config.to_mobilevitv2_config().output_stride == 16  # the published recipe


def test_mobilevit_recipe_auxiliary_head_on_stage_4() -> None:
    """ml-cvnets' VOC DeepLabV3-MobileViTV2 recipe: aux head on stage 4, weight 0.4, training only."""
    paper = get_spec("deeplabv3-mobilevitv2").make_config("paper")
    assert paper.output_stride == 16 and paper.atrous_rates == [6, 12, 18] and paper.aspp_out_channels == 512
    with torch.device("meta"):
        model = build_model("deeplabv3-mobilevitv2", "paper")
    assert model.auxiliary_head[0].in_channels == 384 and model.auxiliary_head[0].out_channels == 128
    torch.manual_seed(0)
    tiny = build_model("deeplabv3-mobilevitv2", "tiny", auxiliary_dropout_prob=0.0).train()
    pixels, labels = torch.randn(2, 10, 64, 64), torch.randint(0, 2, (2, 64, 64))
    out = tiny(pixel_values=pixels, labels=labels)
    with torch.no_grad():
        stages = tiny.deeplabv3.mobilevitv2(pixels, output_hidden_states=True).hidden_states
        assert len(stages) == 5
        main = F.interpolate(tiny.deeplabv3.segmentation_head(stages), size=(64, 64), mode="bilinear")
        aux = F.interpolate(tiny.auxiliary_head(stages[3]), size=(64, 64), mode="bilinear")
    expected = F.cross_entropy(main, labels) + 0.4 * F.cross_entropy(aux, labels)
    torch.testing.assert_close(out.loss.detach(), expected)


# --------------------------------------------------------------------------- Mask2Former


def test_semantic_targets_one_mask_per_present_class() -> None:
    labels = torch.tensor([[[0, 1], [255, 1]], [[0, 0], [0, 255]]])
    masks, classes, valid = semantic_targets(labels, num_labels=2, ignore_index=255)
    assert classes[0].tolist() == [0, 1] and classes[1].tolist() == [0]
    assert masks[0].tolist() == [[[1, 0], [0, 0]], [[0, 1], [0, 1]]]  # ignored pixel in no mask
    assert masks[1].tolist() == [[[1, 1], [1, 0]]]
    assert valid.tolist() == [[[True, True], [False, True]], [[True, True], [True, False]]]
    with pytest.raises(ValueError, match="outside"):
        semantic_targets(torch.tensor([[[0, 3]]]), num_labels=2, ignore_index=255)


def test_mask2former_logits_are_semantic_inference_scores() -> None:
    torch.manual_seed(0)
    model = build_model("mask2former", "tiny").eval()
    pixels = torch.randn(1, 10, 64, 64)
    with torch.no_grad():
        raw = model.mask2former(pixel_values=pixels)
        scores = model(pixel_values=pixels).logits
    masks = F.interpolate(raw.masks_queries_logits, size=(64, 64), mode="bilinear", align_corners=False).sigmoid()
    probs = raw.class_queries_logits.softmax(-1)[..., :-1]
    expected = (probs[..., None, None] * masks[:, :, None]).sum(1)
    torch.testing.assert_close(scores, expected)
    assert scores.min() >= 0


def test_mask2former_mask_loss_ignores_predictions_on_ignored_pixels() -> None:
    config = EuroMineMask2FormerConfig(**{**get_spec("mask2former").presets["tiny"], "importance_sample_ratio": 0.0})
    criterion = SemanticMask2FormerLoss(config.to_mask2former_config(), weight_dict={})
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[:, 16:, :] = 1
    labels[:, :, :12] = 255  # ignored columns 0..11
    masks, classes, valid = semantic_targets(labels, 2, 255)
    logits = torch.randn(1, 2, 32, 32)
    indices = [(torch.tensor([0, 1]), torch.tensor([0, 1]))]
    changed = logits.clone()
    changed[..., :10] = 50.0  # wild predictions, only where labels are ignored (bilinear reach excluded)

    def mask_losses(pred: torch.Tensor, valid_masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
        criterion._valid_masks = valid_masks
        torch.manual_seed(0)
        return criterion.loss_masks(pred, masks, indices, torch.tensor(2.0))

    base = mask_losses(logits, valid)
    for key, value in mask_losses(changed, valid).items():
        torch.testing.assert_close(value, base[key])
    # Without the validity map (transformers' own rule) the same change does move the loss.
    assert not torch.allclose(mask_losses(changed, None)["loss_mask"], mask_losses(logits, None)["loss_mask"])


def test_mask2former_loss_is_the_weighted_mask_classification_loss() -> None:
    torch.manual_seed(0)
    model = build_model("mask2former", "tiny").train()
    assert isinstance(model.mask2former.criterion, SemanticMask2FormerLoss)
    assert model.mask2former.weight_dict == {"loss_cross_entropy": 2.0, "loss_mask": 5.0, "loss_dice": 5.0}
    pixels = torch.randn(2, 10, 64, 64)
    labels = (torch.rand(2, 64, 64) > 0.5).long()
    torch.manual_seed(3)
    ours = model(pixel_values=pixels, labels=labels).loss
    # transformers' own forward with the same targets (no ignored pixels → same rule) and seed.
    mask_labels, class_labels, _ = semantic_targets(labels, 2, 255)
    torch.manual_seed(3)
    reference = model.mask2former(pixel_values=pixels, mask_labels=mask_labels, class_labels=class_labels).loss
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_mask2former_config_validation() -> None:
    with pytest.raises(ValueError, match="GroupNorm"):
        EuroMineMask2FormerConfig(feature_size=48, num_attention_heads=8)
    with pytest.raises(ValueError, match="depths"):
        EuroMineMask2FormerConfig(depths=[2, 2])
    assert isinstance(build_model("mask2former", "tiny"), EuroMineMask2FormerForSegmentation)


# --------------------------------------------------------------------------- RGB band adaptation


def _rgb_checkpoint(name: str) -> torch.nn.Module:
    """A tiny RGB model of the same backbone as the zoo entry's tiny preset."""
    config = get_spec(name).make_config("tiny", num_channels=3)
    if name == "segformer":
        return SegformerModel(config.to_segformer_config())
    if name == "segformer-full":
        return SegformerForSemanticSegmentation(config.to_segformer_config())
    if name == "upernet-convnext":
        return ConvNextModel(config.backbone_config)
    if name == "upernet-swin":
        return SwinModel(config.backbone_config)
    if name == "deeplabv3-mobilevitv2":
        return MobileViTV2Model(config.to_mobilevitv2_config())
    raise KeyError(name)


@pytest.mark.parametrize(
    "name",
    [
        "segformer",
        "upernet-convnext",
        "upernet-swin",
        "deeplabv3-mobilevitv2",
    ],
)
def test_rgb_checkpoint_loads_into_the_10_band_model(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    rgb = _rgb_checkpoint(name)
    rgb.save_pretrained(tmp_path)
    model = build_model(name, "tiny")
    report = load_rgb_checkpoint(model, tmp_path)
    # Only the classification model's pooled-output norm has no place in a segmentation backbone.
    unused = set(report.skipped) - {"layernorm.weight", "layernorm.bias"}
    assert not unused, f"checkpoint tensors left unused: {sorted(unused)[:5]}"
    assert len(report.adapted) == 1
    adapted_key = report.adapted[0]
    rgb_state = rgb.state_dict()
    rgb_key = next(k for k in rgb_state if adapted_key.endswith(k))
    rgb_weight, weight = rgb_state[rgb_key], model.state_dict()[adapted_key]
    assert weight.shape[1] == len(BANDS) == 10
    scale = 3.0 / len(BANDS)
    for channel, band in enumerate(BANDS):
        if band in RGB_BANDS:
            expected = rgb_weight[:, RGB_BANDS.index(band)] * scale
        else:
            expected = rgb_weight.mean(dim=1) * scale
        torch.testing.assert_close(weight[:, channel], expected)
    # Every other backbone tensor is copied unchanged.
    for key in report.copied:
        source = next(k for k in rgb_state if key.endswith(k))
        torch.testing.assert_close(model.state_dict()[key], rgb_state[source])
    with torch.no_grad():
        assert model.eval()(pixel_values=torch.randn(1, 10, 64, 64)).logits.shape == (1, 2, 64, 64)
