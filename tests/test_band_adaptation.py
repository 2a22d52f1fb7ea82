"""Starting a 10-band model from an RGB checkpoint (euromine_hf.models.band_adaptation).

The checkpoints are tiny RGB models the tests write themselves (a 3-channel UNet of this package
and a bare transformers ResNetModel), so nothing is downloaded.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import ResNetConfig, ResNetModel

import euromine_hf.models  # noqa: F401  (registers the zoo)
from euromine_hf.bands import BANDS
from euromine_hf.models.band_adaptation import adapt_rgb_weight, load_rgb_checkpoint
from euromine_hf.models.registry import build_model

TINY_RESNET = {"depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 48, 64], "embedding_size": 8}


def test_adapt_rgb_weight_hand_checked():
    # two output filters, 1×1 kernels; input channels are (R, G, B)
    weight = torch.tensor([[1.0, 2.0, 3.0], [-3.0, 0.0, 6.0]]).reshape(2, 3, 1, 1)
    adapted = adapt_rgb_weight(weight, ["B02", "B03", "B04", "B08"])
    # B02 = blue, B03 = green, B04 = red, B08 = mean of the three; all × 3/4
    expected = torch.tensor([[3.0, 2.0, 1.0, 2.0], [6.0, 0.0, -3.0, 1.0]]) * 0.75
    torch.testing.assert_close(adapted, expected.reshape(2, 4, 1, 1))


def test_adapt_rgb_weight_published_band_order():
    weight = torch.randn(5, 3, 3, 3)
    adapted = adapt_rgb_weight(weight, BANDS)
    assert adapted.shape == (5, 10, 3, 3)
    scale = 3 / 10
    torch.testing.assert_close(adapted[:, BANDS.index("B04")], weight[:, 0] * scale)
    torch.testing.assert_close(adapted[:, BANDS.index("B03")], weight[:, 1] * scale)
    torch.testing.assert_close(adapted[:, BANDS.index("B02")], weight[:, 2] * scale)
    for band in ("B05", "B06", "B07", "B08", "B8A", "B11", "B12"):
        torch.testing.assert_close(adapted[:, BANDS.index(band)], weight.mean(dim=1) * scale)
    # three bands in RGB order give the weight back unchanged
    torch.testing.assert_close(adapt_rgb_weight(weight, ["B04", "B03", "B02"]), weight)


def test_adapt_rgb_weight_rejects_non_rgb_weight():
    with pytest.raises(ValueError, match="3 input channels"):
        adapt_rgb_weight(torch.randn(4, 10, 3, 3), BANDS)


@pytest.fixture(scope="module")
def rgb_unet_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = build_model("unet", "tiny", num_channels=3)
    folder = tmp_path_factory.mktemp("rgb_unet")
    model.save_pretrained(folder)
    return folder, model


def test_load_rgb_unet_into_ten_bands(rgb_unet_checkpoint):
    folder, rgb = rgb_unet_checkpoint
    model = build_model("unet", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, folder)
    first = "encoder.stages.0.0.weight"
    assert report.adapted == [first]
    assert not report.skipped and not report.missing
    source, target = rgb.state_dict(), model.state_dict()
    assert sorted(report.copied) == sorted(k for k in source if k != first)
    for key in report.copied:
        torch.testing.assert_close(target[key], source[key], msg=key)
    torch.testing.assert_close(target[first], adapt_rgb_weight(source[first], BANDS))


def test_load_bare_resnet_backbone_into_deeplab(tmp_path):
    """A backbone-only checkpoint (keys without the wrapper's prefix) loads by dotted suffix."""
    torch.manual_seed(2)
    resnet = ResNetModel(ResNetConfig(num_channels=3, layer_type="bottleneck", **TINY_RESNET))
    resnet.save_pretrained(tmp_path)
    model = build_model("deeplabv3plus-resnet101", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path)
    assert report.adapted == ["encoder.backbone.embedder.embedder.convolution.weight"]
    assert not report.skipped
    source, target = resnet.state_dict(), model.state_dict()
    for key, tensor in source.items():
        model_key = f"encoder.backbone.{key}"
        if model_key in report.adapted:
            continue
        assert model_key in report.copied
        torch.testing.assert_close(target[model_key], tensor, msg=key)
    # the heads are not in a backbone checkpoint: left as initialised and listed as such
    assert report.missing and all(not k.startswith("encoder.backbone.") for k in report.missing)
    assert any(k.startswith("aspp.") for k in report.missing)


def test_checkpoint_with_nothing_matching(tmp_path):
    file = tmp_path / "unrelated.safetensors"
    save_file({"some.other.network.weight": torch.randn(4, 3, 3, 3)}, str(file))
    with pytest.raises(ValueError, match="no 3-channel input layer"):
        load_rgb_checkpoint(build_model("unet", "tiny", num_channels=10), file)
    with pytest.raises(ValueError, match="no tensor of the checkpoint matches"):
        load_rgb_checkpoint(build_model("unet", "tiny", num_channels=3), file)


def test_missing_checkpoint_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_rgb_checkpoint(build_model("unet", "tiny"), tmp_path)


def test_bad_checkpoint_paths_are_clear_errors(tmp_path):
    # a pickled checkpoint is refused by name (never unpickled), not with safetensors' bare header error
    pickled = tmp_path / "resnet.pth"
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, pickled)
    with pytest.raises(ValueError, match=r"resnet\.pth: RGB checkpoint: expected a safetensors file"):
        load_rgb_checkpoint(build_model("unet", "tiny"), pickled)
    # a mistyped local path is "no such path", not a Hub id validation or network error
    for missing in (tmp_path / "nope", "checkpoints/nope.safetensors"):
        with pytest.raises(FileNotFoundError, match="found no such path"):
            load_rgb_checkpoint(build_model("unet", "tiny"), missing)


def _first_layer_ratio(rgb_conv, adapted_conv, correlation: float) -> float:
    """mean |output| with 10 bands / with the 3 RGB bands of the same scene (equal per-band stats)."""
    generator = torch.Generator().manual_seed(3)
    shared = torch.randn(8, 1, 32, 32, generator=generator)
    own = torch.randn(8, 10, 32, 32, generator=generator)
    bands = correlation**0.5 * shared + (1 - correlation) ** 0.5 * own  # every band: mean 0, std 1
    rgb = bands[:, [BANDS.index(b) for b in ("B04", "B03", "B02")]]
    with torch.no_grad():
        return (F.conv2d(bands, adapted_conv.weight, padding=1).abs().mean()
                / F.conv2d(rgb, rgb_conv.weight, padding=1).abs().mean()).item()


def test_activation_magnitude_is_kept(rgb_unet_checkpoint):
    folder, rgb = rgb_unet_checkpoint
    model = build_model("unet", "tiny", num_channels=10)
    load_rgb_checkpoint(model, folder)
    rgb_conv, conv = rgb.encoder.stages[0][0], model.encoder.stages[0][0]
    # identical bands: the 3/C rule keeps the response exactly
    assert _first_layer_ratio(rgb_conv, conv, 1.0) == pytest.approx(1.0, rel=1e-4)
    # strongly correlated bands, as Sentinel-2 reflectances of one scene are: within a factor 2
    assert 0.5 < _first_layer_ratio(rgb_conv, conv, 0.9) < 2.0
    # unscaled (×1 instead of ×3/10) the same layer would respond ~3× too strongly
    unscaled = torch.nn.Conv2d(10, conv.out_channels, 3, padding=1, bias=False)
    unscaled.weight.data = conv.weight.data * (10 / 3)
    assert _first_layer_ratio(rgb_conv, unscaled, 0.9) > 2.5
    # the rule's known limit: for independent bands it undershoots (≈ ×0.4), documented here
    assert 0.25 < _first_layer_ratio(rgb_conv, conv, 0.0) < 0.6


def test_adapted_model_still_trains(rgb_unet_checkpoint):
    folder, _ = rgb_unet_checkpoint
    model = build_model("unet", "tiny", num_channels=10)
    load_rgb_checkpoint(model, folder)
    out = model(torch.randn(2, 10, 32, 32), labels=torch.randint(0, 2, (2, 32, 32)))
    out.loss.backward()
    # the adapted first layer is a trainable leaf that the loss reaches: a finite, non-zero gradient
    grad = model.encoder.stages[0][0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


# ------------------------------------------------------ the benchmark's starting checkpoints' layouts
def _standin(name: str):
    """A tiny RGB model of the SAME transformers class and key layout as the Hub checkpoint the
    benchmark's code starts ``name`` from (built locally, never downloaded)."""
    from transformers import (
        Mask2FormerForUniversalSegmentation,
        MobileNetV2Config,
        MobileNetV2ForSemanticSegmentation,
        MobileViTV2ForSemanticSegmentation,
        SegformerForSemanticSegmentation,
        UperNetForSemanticSegmentation,
    )

    from euromine_hf.models.registry import get_spec

    if name == "deeplabv3plus-mobilenetv2":  # google/deeplabv3_mobilenet_v2_1.0_513
        return MobileNetV2ForSemanticSegmentation(
            MobileNetV2Config(num_channels=3, depth_multiplier=0.25, expand_ratio=2.0, output_stride=8, num_labels=21)
        )
    config = get_spec(name).make_config("tiny", num_channels=3, num_labels=21)
    if name == "segformer":  # nvidia/segformer-b5-finetuned-ade-640-640
        return SegformerForSemanticSegmentation(config.to_segformer_config())
    if name.startswith("upernet"):  # openmmlab/upernet-convnext-base, openmmlab/upernet-swin-base
        return UperNetForSemanticSegmentation(config.to_upernet_config())
    if name == "mask2former":  # facebook/mask2former-swin-base-ade-semantic
        return Mask2FormerForUniversalSegmentation(config.to_mask2former_config())
    if name == "deeplabv3-mobilevitv2":  # apple/mobilevitv2-1.0-voc-deeplabv3
        return MobileViTV2ForSemanticSegmentation(config.to_mobilevitv2_config())
    raise KeyError(name)


@pytest.mark.parametrize(
    "name",
    ["segformer", "upernet-convnext", "upernet-swin", "mask2former", "deeplabv3-mobilevitv2", "deeplabv3plus-mobilenetv2"],
)
def test_benchmark_starting_checkpoints_load_into_ten_bands(name, tmp_path):
    torch.manual_seed(0)
    rgb = _standin(name)
    rgb.save_pretrained(tmp_path)
    model = build_model(name, "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path)
    assert len(report.adapted) == 1, report.adapted  # exactly the first convolution / patch embedding
    # Everything but the class-count-dependent tensors (21 vs 2 classes) is copied; for MobileNetV2
    # the checkpoint's DeepLabV3 head and 1280-channel expansion have no place in DeepLabV3+, whose
    # ASPP/decoder differ: only its backbone transfers.
    allowed = ("classifier", "class_predictor", "empty_weight")
    if name == "deeplabv3plus-mobilenetv2":
        allowed += ("segmentation_head.", "conv_1x1")
    for key, reason in report.skipped.items():
        assert any(part in key for part in allowed), (key, reason)
    assert len(report.copied) > 0.5 * len(rgb.state_dict())
    target = model.state_dict()
    source = rgb.state_dict()
    for key in report.copied[:20]:
        match = next(k for k in source if key.endswith(k) or k.endswith(key.split(".", 1)[-1]))
        assert target[key].shape == source[match].shape
    with torch.no_grad():
        assert model.eval()(pixel_values=torch.randn(1, 10, 64, 64)).logits.shape == (1, 2, 64, 64)


# ---- early-fusion change detectors: both dates' bands stacked in one first layer -----------------

FC_EF_FIRST = "encoder.stages.0.0.0.weight"  # FC-EF's first convolution: 2×C input channels


def test_adapt_rgb_pair_weight_six_and_three_channel_sources():
    from euromine_hf.models.band_adaptation import adapt_rgb_pair_weight

    six = torch.randn(4, 6, 3, 3)
    adapted = adapt_rgb_pair_weight(six, BANDS)
    assert adapted.shape == (4, 20, 3, 3)
    torch.testing.assert_close(adapted[:, :10], adapt_rgb_weight(six[:, :3], BANDS))  # date 1's RGB → date 1
    torch.testing.assert_close(adapted[:, 10:], adapt_rgb_weight(six[:, 3:], BANDS))  # date 2's RGB → date 2
    three = torch.randn(4, 3, 3, 3)
    adapted = adapt_rgb_pair_weight(three, BANDS)
    torch.testing.assert_close(adapted[:, :10], adapt_rgb_weight(three, BANDS) / 2)
    torch.testing.assert_close(adapted[:, 10:], adapted[:, :10])
    # a pair of identical images whose bands move together: the RGB filter's response to one image
    image = torch.randn(1, 1, 8, 8)
    pair = image.expand(1, 20, 8, 8)
    torch.testing.assert_close(F.conv2d(pair, adapted), F.conv2d(image.expand(1, 3, 8, 8), three))
    with pytest.raises(ValueError, match="3 or 6"):
        adapt_rgb_pair_weight(torch.randn(4, 10, 3, 3), BANDS)


def test_load_six_channel_rgb_fc_ef_into_ten_band_pairs(tmp_path):
    """A stand-in RGB FC-EF (first layer 6 = 2×3 channels) starts a 10-band FC-EF: the first layer is
    adapted date by date, every other tensor copied; on band-constant pairs both give equal logits."""
    torch.manual_seed(3)
    rgb = build_model("fc-ef", "tiny", num_channels=3).eval()
    assert rgb.state_dict()[FC_EF_FIRST].shape[1] == 6
    rgb.save_pretrained(tmp_path)
    model = build_model("fc-ef", "tiny", num_channels=10).eval()
    report = load_rgb_checkpoint(model, tmp_path)
    assert report.adapted == [FC_EF_FIRST] and not report.skipped and not report.missing
    source, target = rgb.state_dict(), model.state_dict()
    for key in report.copied:
        torch.testing.assert_close(target[key], source[key], msg=key)
    torch.testing.assert_close(target[FC_EF_FIRST][:, :10], adapt_rgb_weight(source[FC_EF_FIRST][:, :3], BANDS))
    torch.testing.assert_close(target[FC_EF_FIRST][:, 10:], adapt_rgb_weight(source[FC_EF_FIRST][:, 3:], BANDS))
    # two dates that differ, each with all bands equal per pixel: the adapted model sees what the RGB one saw
    t1, t2 = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        ours = model(pixel_values_t1=t1.expand(2, 10, 32, 32), pixel_values_t2=t2.expand(2, 10, 32, 32)).logits
        theirs = rgb(pixel_values_t1=t1.expand(2, 3, 32, 32), pixel_values_t2=t2.expand(2, 3, 32, 32)).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_load_three_channel_rgb_filter_into_both_dates_of_fc_ef(tmp_path):
    """A single-image RGB first layer (3 channels) under FC-EF's key: the same filter for both dates, halved."""
    from safetensors.torch import load_file

    torch.manual_seed(4)
    build_model("fc-ef", "tiny", num_channels=3).save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    single = torch.randn(state[FC_EF_FIRST].shape[0], 3, 3, 3)
    state[FC_EF_FIRST] = single
    save_file(state, str(tmp_path / "model.safetensors"))
    model = build_model("fc-ef", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path / "model.safetensors")
    assert report.adapted == [FC_EF_FIRST]
    weight = model.state_dict()[FC_EF_FIRST]
    torch.testing.assert_close(weight[:, :10], adapt_rgb_weight(single, BANDS) / 2)
    torch.testing.assert_close(weight[:, 10:], weight[:, :10])


@pytest.mark.parametrize("name", ["fc-ef", "fcn-pp", "rdpnet"])
def test_every_early_fusion_detector_adapts_its_stacked_first_layer(name, tmp_path):
    torch.manual_seed(5)
    rgb = build_model(name, "tiny", num_channels=3)
    rgb.save_pretrained(tmp_path)
    model = build_model(name, "tiny", num_channels=10)
    stacked = [k for k, v in model.state_dict().items() if v.ndim == 4 and v.shape[1] == 20]
    assert len(stacked) == 1, stacked
    report = load_rgb_checkpoint(model, tmp_path)
    assert report.adapted == stacked and not report.skipped and not report.missing
    first = rgb.state_dict()[stacked[0]]
    torch.testing.assert_close(model.state_dict()[stacked[0]][:, 10:], adapt_rgb_weight(first[:, 3:], BANDS))
