"""What is specific to TinyCD, BIT and ChangeFormer beyond the zoo contract (test_detector_zoo.py):
their paper structure, TinyCD's single sigmoid output, BIT's tokens and positional embeddings,
ChangeFormer's deep supervision, and RGB-checkpoint band adaptation of the pretrained backbones."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from transformers import EfficientNetConfig, EfficientNetModel, ResNetConfig, ResNetModel, SegformerConfig
from transformers.utils import logging as hf_logging

from euromine_hf.bands import BANDS, RGB_BANDS
from euromine_hf.models import build_model
from euromine_hf.models.band_adaptation import adapt_rgb_weight, load_rgb_checkpoint
from euromine_hf.models.change_detection.bit import BITConfig
from euromine_hf.models.change_detection.changeformer import ChangeFormerConfig
from euromine_hf.models.change_detection.tinycd import TinyCDConfig
from euromine_hf.models.encoders.efficientnet import EfficientNetEncoder, efficientnet_backbone_config
from euromine_hf.models.modeling import resize_logits
from euromine_hf.models.registry import AutoModelForChangeDetection

hf_logging.set_verbosity_error()
warnings.filterwarnings("ignore", category=UserWarning)


def _pair(channels: int = 10, size: int = 64, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    t1 = torch.randn(batch, channels, size, size, generator=generator)
    t2 = torch.randn(batch, channels, size, size, generator=generator)
    labels = torch.randint(0, 2, (batch, size, size), generator=generator)
    return t1, t2, labels


# --- TinyCD -------------------------------------------------------------------------------------

def test_efficientnet_b4_early_blocks_are_the_papers():
    encoder = EfficientNetEncoder(efficientnet_backbone_config(3, "b4"), num_stages=3)
    assert encoder.channels == [24, 32, 56] and encoder.reductions == [2, 4, 8]
    assert encoder.stage_ends == [2, 6, 10]  # ceil(1.8 × [1, 2, 2]) MBConv blocks
    assert encoder.embeddings.convolution.out_channels == 48 and type(encoder.embeddings.convolution) is torch.nn.Conv2d
    assert encoder.blocks[6].depthwise_conv.depthwise_conv.kernel_size == (5, 5)
    encoder.check_features(encoder(torch.randn(1, 3, 96, 96)), (96, 96))
    with pytest.raises(ValueError, match="num_stages"):
        EfficientNetEncoder(efficientnet_backbone_config(3, "b4"), num_stages=8)


def test_tinycd_backbone_has_the_torchvision_layout_by_default():
    """Symmetric padding, BatchNorm 0.1 / 1e-5, per-sample stochastic depth (torchvision's B4, which the
    reference loads); ``backbone_layout="tf"`` keeps the TF port (asymmetric padding, 0.01 / 1e-3, element-wise)."""
    from euromine_hf.models.encoders.efficientnet import SampleDropPath

    with torch.device("meta"):
        paper = build_model("tinycd", "paper", num_channels=3)
        tf = build_model("tinycd", "paper", num_channels=3, backbone_layout="tf")
    assert paper.config.backbone_layout == "torchvision"
    encoder, tf_encoder = paper.siamese.encoder, tf.siamese.encoder
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 and m.eps == 1e-5 for m in norms)
    assert tf_encoder.embeddings.batchnorm.momentum == 0.01 and tf_encoder.embeddings.batchnorm.eps == 1e-3
    assert encoder.embeddings.padding.padding == (1, 1, 1, 1) and tf_encoder.embeddings.padding.padding == (0, 1, 0, 1)
    strided = [b for b in encoder.blocks if b.depthwise_conv.stride == 2]
    assert strided and all(len(set(b.depthwise_conv.depthwise_conv_pad.padding)) == 1 for b in strided)
    drops = [b.projection.dropout for b in encoder.blocks if b.projection.apply_dropout]
    assert drops and all(isinstance(d, SampleDropPath) for d in drops)
    assert all(isinstance(b.projection.dropout, torch.nn.Dropout) for b in tf_encoder.blocks)
    assert [d.p for d in drops] == [b.projection.dropout.p for b in tf_encoder.blocks if b.projection.apply_dropout]
    assert paper.state_dict().keys() == tf.state_dict().keys()  # parameter-free modules only
    # per-sample: in training a sample's branch is dropped whole or scaled by 1 / (1 − p)
    torch.manual_seed(0)
    drop = SampleDropPath(0.5).train()
    out = drop(torch.ones(64, 3, 4, 4))
    assert set(out.flatten(1).unique(dim=1).flatten().tolist()) <= {0.0, 2.0}
    assert all(len(row.unique()) == 1 for row in out.flatten(1)) and 0 < out[:, 0, 0, 0].count_nonzero() < 64
    torch.testing.assert_close(drop.eval()(out), out)
    # same weights, other padding: other outputs
    torch.manual_seed(0)
    a = build_model("tinycd", "tiny", num_channels=3).eval()
    b = build_model("tinycd", "tiny", num_channels=3, backbone_layout="tf").eval()
    b.load_state_dict(a.state_dict())
    t1, t2, _ = _pair(channels=3)
    with torch.no_grad():
        assert not torch.allclose(a(t1, t2).logits, b(t1, t2).logits)
    with pytest.raises(ValueError, match="backbone_layout"):
        build_model("tinycd", "tiny", backbone_layout="keras")


def test_tinycd_single_sigmoid_output_is_trained_with_bce():
    torch.manual_seed(0)
    model = build_model("tinycd", "tiny").eval()
    t1, t2, labels = _pair()
    out = model(t1, t2, labels=labels)
    assert torch.count_nonzero(out.logits[:, 0]) == 0  # [0, z]: one score per pixel
    score = out.logits[:, 1]
    bce = F.binary_cross_entropy_with_logits(score, labels.float())
    torch.testing.assert_close(out.loss, bce)
    torch.testing.assert_close(out.logits.softmax(dim=1)[:, 1], torch.sigmoid(score))


def test_tinycd_attention_masks_have_one_channel():
    model = build_model("tinycd", "tiny").eval()
    t1, t2, _ = _pair(size=64, batch=1)
    shapes = []
    hooks = [block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
             for block in [model.first_mix, *model.masks]]
    with torch.no_grad():
        model(t1, t2)
    for hook in hooks:
        hook.remove()
    assert shapes == [(1, 1, 64, 64), (1, 1, 32, 32), (1, 1, 16, 16)]


# --- BIT ----------------------------------------------------------------------------------------

def test_bit_paper_configuration():
    with torch.device("meta"):
        model = build_model("bit", "paper", num_channels=3)
    config = model.config
    assert (config.token_len, config.token_dim, config.encoder_layers, config.decoder_layers) == (4, 32, 1, 8)
    # output stride 8 (layer3/4 at stride 1) but undilated: BIT's BasicBlock resets the dilation to 1
    assert model.encoder.dilations == [1, 1, 1, 1]
    layer3 = model.encoder.backbone.encoder.stages[2]
    convs = [m for m in layer3.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert convs and all(m.dilation == (1, 1) and m.padding == (1, 1) for m in convs)
    assert convs[0].stride == (1, 1)
    assert (config.encoder_head_dim, config.decoder_head_dim, config.num_heads) == (64, 8, 8)  # "dd8_dedim8"
    assert model.transformer_decoder[0].attention.to_q.out_features == 64
    with torch.device("meta"):  # BIT's own base_transformer_pos_s4_dd8: 8 decoder heads of 64
        original = build_model("bit", "paper", num_channels=3, decoder_head_dim=64)
    assert original.transformer_decoder[0].attention.to_q.out_features == 512
    assert model.unused_fc.in_features == 512 and model.unused_fc.out_features == 1000  # the idle ImageNet fc
    trunk = config.backbone_config
    assert isinstance(trunk, ResNetConfig) and model.encoder.backbone.config is trunk
    assert (trunk.depths, trunk.hidden_sizes, trunk.layer_type) == ([2, 2, 2, 2], [64, 128, 256, 512], "basic")
    assert trunk.out_features == ["stage3"] and trunk.num_channels == 3
    assert model.projection.in_channels == 256 and model.projection.out_channels == 32
    assert model.token_positions.shape == (1, 8, 32)
    assert model.decoder_positions is None  # the paper's base_transformer_pos_s4_dd8 has none
    idle = sum(p.numel() for p in model.encoder.backbone.encoder.stages[3].parameters())
    assert idle / 2**20 == pytest.approx(8.0, abs=0.01)
    # the framework's module, rebuilt at 3 bands, has exactly this many parameters (11.39 × 2^20 published)
    assert sum(p.numel() for p in model.parameters()) == 11_943_754


def test_bit_dilated_trunk_is_selectable():
    """``dilate_trunk=True``: the DeepLab-style trunk (layer3 dilated by 2), same parameters, other outputs."""
    torch.manual_seed(0)
    trunk = {"depths": [1, 1, 2, 1], "hidden_sizes": [8, 8, 16, 16], "embedding_size": 8}  # two blocks in layer3
    framework = build_model("bit", "tiny", backbone_config=trunk).eval()
    dilated = build_model("bit", "tiny", backbone_config=trunk, dilate_trunk=True).eval()
    dilated.load_state_dict(framework.state_dict())
    layer3 = dilated.encoder.backbone.encoder.stages[2]
    assert dilated.encoder.dilations[2] == 2
    assert {m.dilation for m in layer3.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)} == {
        (1, 1), (2, 2)
    }  # the first block keeps the previous dilation
    t1, t2, _ = _pair(batch=1)
    with torch.no_grad():
        assert not torch.allclose(framework(t1, t2).logits, dilated(t1, t2).logits)


def test_bit_tokens_and_positional_embeddings_at_256_and_160_px():
    torch.manual_seed(0)
    model = build_model("bit", "tiny", decoder_positional_embedding=True).train()
    seen = {}
    model.transformer_encoder[0].register_forward_hook(lambda m, i, o: seen.__setitem__("tokens", tuple(i[0].shape)))
    model.projection.register_forward_hook(lambda m, i, o: seen.__setitem__("map", tuple(o.shape)))
    dim = model.config.token_dim
    for size in (256, 160):
        t1, t2, labels = _pair(size=size, batch=1)
        model.zero_grad()
        out = model(t1, t2, labels=labels)
        out.loss.backward()
        assert out.logits.shape == (1, 2, size, size)
        assert seen["tokens"] == (1, 2 * 4, dim)  # L = 4 tokens per date, both dates in one sequence
        assert seen["map"] == (1, dim, size // 4, size // 4)  # stride 8 trunk, ×2, projected; one date per call
        assert model.decoder_positions.grad is not None and model.decoder_positions.grad.abs().sum() > 0
    assert model.positional_map((64, 64)) is model.decoder_positions  # learned for 256 px: used as is
    assert model.positional_map((40, 40)).shape == (1, dim, 40, 40)


def test_bit_idle_last_stage_is_built_but_never_run():
    torch.manual_seed(0)
    with_idle = build_model("bit", "tiny", keep_unused_last_stage=True).eval()
    without = build_model("bit", "tiny", keep_unused_last_stage=False).eval()
    stages = with_idle.encoder.backbone.encoder.stages
    assert len(stages) == 4 and len(without.encoder.backbone.encoder.stages) == 3
    # without the idle stage, the nested trunk config holds only the stages that are built
    assert with_idle.config.backbone_config.depths == [1, 1, 1, 1]
    assert without.config.backbone_config.hidden_sizes == [8, 8, 16] and without.config.backbone_config.depths == [1, 1, 1]
    calls = []
    stages[3].register_forward_hook(lambda *args: calls.append(1))
    result = without.load_state_dict(with_idle.state_dict(), strict=False)
    assert not result.missing_keys
    assert result.unexpected_keys and all(
        ".stages.3." in key or key.startswith("unused_fc.") for key in result.unexpected_keys
    )
    assert {"unused_fc.weight", "unused_fc.bias"} <= set(result.unexpected_keys)
    t1, t2, _ = _pair(batch=1)
    with torch.no_grad():
        torch.testing.assert_close(with_idle(t1, t2).logits, without(t1, t2).logits)
    assert not calls


def test_bit_loads_an_rgb_resnet18_checkpoint_into_ten_bands(tmp_path):
    torch.manual_seed(3)
    resnet = ResNetModel(build_model("bit", "tiny", num_channels=3, keep_unused_last_stage=True).config.backbone_config)
    resnet.save_pretrained(tmp_path)
    model = build_model("bit", "tiny", num_channels=10, keep_unused_last_stage=True)
    report = load_rgb_checkpoint(model, tmp_path)
    first = "encoder.backbone.embedder.embedder.convolution.weight"
    assert report.adapted == [first] and not report.skipped
    target = model.state_dict()
    rgb_stem = resnet.state_dict()["embedder.embedder.convolution.weight"]
    torch.testing.assert_close(target[first], adapt_rgb_weight(rgb_stem, BANDS))
    for key, tensor in resnet.state_dict().items():
        if not key.startswith("embedder.embedder.convolution"):
            torch.testing.assert_close(target[f"encoder.backbone.{key}"], tensor, msg=key)
    assert all(not key.startswith("encoder.") for key in report.missing)  # every trunk tensor came from the checkpoint


# --- ChangeFormer -------------------------------------------------------------------------------

def test_changeformer_v6_configuration():
    with torch.device("meta"):
        model = build_model("changeformer", "paper", num_channels=3)
    encoder = model.siamese.encoder
    assert encoder.channels == [64, 128, 320, 512] and encoder.reductions == [4, 8, 16, 32]
    config = encoder.transformer.config
    assert config is model.config.backbone_config and isinstance(config, SegformerConfig)
    assert list(config.depths) == [3, 3, 4, 3] and list(config.num_attention_heads) == [1, 2, 4, 8]
    assert (config.num_encoder_blocks, config.sr_ratios, config.patch_sizes) == (4, [8, 4, 2, 1], [7, 7, 7, 7])
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob, config.drop_path_rate) == (0.1, 0.1, 0.1)
    kernels = [m.kernel_size for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (7, 7)]
    assert len(kernels) == 4  # V6: a 7×7 overlapping patch embedding in every stage
    assert model.config.deep_supervision_weights == [0.5, 0.5, 0.5, 0.8]
    assert model.decoder.projections[0].out_features == 256


def test_changeformer_deep_supervision_terms_are_in_the_training_loss_only():
    """``auxiliary_losses=True`` (the authors' loss); the default (the framework) is tested below."""
    torch.manual_seed(0)
    model = build_model("changeformer", "tiny", auxiliary_losses=True).train()
    t1, t2, labels = _pair()
    loss = model(t1, t2, labels=labels).loss
    with torch.no_grad():
        logits, predictions = model.decoder(*model.siamese(t1, t2))
    assert [p.shape[-1] for p in predictions] == [64 // 32, 64 // 16, 64 // 8, 64 // 4]  # deepest first
    weights = [0.5, 0.5, 0.5, 0.8]
    expected = F.cross_entropy(resize_logits(logits, (64, 64)), labels)
    for weight, prediction in zip(weights, predictions):
        expected = expected + weight * F.cross_entropy(resize_logits(prediction, (64, 64)), labels)
    torch.testing.assert_close(loss, expected)
    main_only = F.cross_entropy(resize_logits(logits, (64, 64)), labels)
    assert loss > main_only
    for plain in (build_model("changeformer", "tiny", deep_supervision_weights=[], auxiliary_losses=True),
                  build_model("changeformer", "tiny")):  # no weights, or the framework's default: main only
        plain.load_state_dict(model.state_dict())
        torch.testing.assert_close(plain.train()(t1, t2, labels=labels).loss, main_only)
    assert build_model("changeformer", "paper", num_channels=3).config.auxiliary_losses is False
    model.eval()
    with torch.no_grad():
        eval_out = model(t1, t2, labels=labels)
    torch.testing.assert_close(eval_out.loss, F.cross_entropy(eval_out.logits, labels))
    with pytest.raises(ValueError, match="deep_supervision_weights"):
        build_model("changeformer", "tiny", deep_supervision_weights=[1.0])


def test_tinycd_loads_an_rgb_efficientnet_checkpoint_into_ten_bands(tmp_path):
    torch.manual_seed(4)
    backbone = build_model("tinycd", "tiny", num_channels=3).config.backbone_config
    backbone.hidden_dim = 320  # a small top convolution (which TinyCD skips)
    efficientnet = EfficientNetModel(backbone)
    efficientnet.save_pretrained(tmp_path)
    model = build_model("tinycd", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path)
    stem = "siamese.encoder.embeddings.convolution.weight"
    assert report.adapted == [stem]
    source, target = efficientnet.state_dict(), model.state_dict()
    torch.testing.assert_close(target[stem], adapt_rgb_weight(source["embeddings.convolution.weight"], BANDS))
    built = len(model.siamese.encoder.blocks)
    for key, tensor in source.items():
        if key.startswith("encoder.blocks.") and int(key.split(".")[2]) < built:
            torch.testing.assert_close(target[f"siamese.{key}"], tensor, msg=key)
    # the later blocks and the top convolution of the full network have no place in TinyCD
    assert report.skipped and all(k.startswith(("encoder.blocks.", "encoder.top")) for k in report.skipped)
    assert all(not key.startswith("siamese.") for key in report.missing)


def test_tinycd_rgb_model_checkpoint_adapts_the_per_band_date_mixing(tmp_path):
    """A whole RGB TinyCD (e.g. trained on LEVIR-CD) into 10 bands: the full-resolution MAMB's grouped
    convolution has one group per band, so its rows are mapped band by band, not left at random."""
    torch.manual_seed(5)
    rgb = build_model("tinycd", "tiny", num_channels=3)
    rgb.save_pretrained(tmp_path)
    model = build_model("tinycd", "tiny", num_channels=10)
    report = load_rgb_checkpoint(model, tmp_path)
    mix_weight, mix_bias = model.band_indexed_parameters
    assert {mix_weight, mix_bias, "first_mix.mask.0.weight"} <= set(report.adapted)
    assert not report.missing and not report.skipped
    source, target = rgb.state_dict(), model.state_dict()
    assert target[mix_weight].shape == (10, 2, 3, 3)
    for band_index, band in enumerate(BANDS):
        for key in (mix_weight, mix_bias):
            want = source[key][RGB_BANDS.index(band)] if band in RGB_BANDS else source[key].mean(dim=0)
            torch.testing.assert_close(target[key][band_index], want, msg=f"{key} {band}")
    # the MLP after the mixing sums over bands: adapted like a first layer (3/C scaled)
    torch.testing.assert_close(
        target["first_mix.mask.0.weight"], adapt_rgb_weight(source["first_mix.mask.0.weight"], BANDS)
    )


# --- nested transformers backbone configs -------------------------------------------------------

NESTED = {
    # name: (config class, backbone config class, its model_type, a removed field and a value for it)
    "tinycd": (TinyCDConfig, EfficientNetConfig, "efficientnet", "backbone_overrides", {"depth_coefficient": 0.5}),
    "bit": (BITConfig, ResNetConfig, "resnet", "backbone_overrides", {"depths": [1, 1, 1, 1]}),
    "changeformer": (ChangeFormerConfig, SegformerConfig, "segformer", "embed_dims", [8, 8, 16, 16]),
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_backbone_config_is_nested_and_round_trips(name, tmp_path):
    config_class, backbone_class, model_type, removed, value = NESTED[name]
    torch.manual_seed(0)
    model = build_model(name, "tiny", num_channels=3).eval()
    backbone = model.config.backbone_config
    assert isinstance(backbone, backbone_class) and backbone.num_channels == 3
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["backbone_config"]["model_type"] == model_type and removed not in saved
    assert config_class.from_pretrained(tmp_path).backbone_config.to_dict() == backbone.to_dict()
    reloaded = AutoModelForChangeDetection.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded.config.backbone_config, backbone_class)
    t1, t2, _ = _pair(channels=3, batch=1)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(t1, t2).logits, model(t1, t2).logits)
    # the whole backbone config object is accepted as well, for the same bands only
    assert config_class(num_channels=3, backbone_config=backbone).backbone_config.to_dict() == backbone.to_dict()
    with pytest.raises(ValueError, match="backbone_config.num_channels=3 but the model's num_channels=10"):
        config_class(num_channels=10, backbone_config=backbone)
    with pytest.raises(ValueError, match=f"{removed!r} is no longer read"):
        config_class(**{removed: value})


def test_nested_backbone_configs_keep_what_each_model_decides():
    tiny = TinyCDConfig(backbone_config={"width_coefficient": 0.25})
    assert (tiny.backbone_config.width_coefficient, tiny.backbone_config.depth_coefficient) == (0.25, 1.8)  # B4 rest
    assert (tiny.backbone_config.batch_norm_momentum, tiny.backbone_config.batch_norm_eps) == (0.1, 1e-5)  # torchvision
    tf = TinyCDConfig(backbone_layout="tf").backbone_config
    assert (tf.batch_norm_momentum, tf.batch_norm_eps) == (0.01, 1e-3)
    with pytest.raises(ValueError, match="backbone_stages must be in 1..7"):
        TinyCDConfig(backbone_stages=8)
    with pytest.raises(ValueError, match="model_type is 'resnet'; this backbone needs 'efficientnet'"):
        TinyCDConfig(backbone_config=BITConfig().backbone_config.to_dict())
    with pytest.raises(ValueError, match="out_features=.*this model sets it to"):
        BITConfig(backbone_config={"out_features": ["stage4"]})
    assert BITConfig(backbone_stages=2, keep_unused_last_stage=False).backbone_config.depths == [2, 2]
    with pytest.raises(ValueError, match="depths has 2 stages; backbone_stages=3"):
        BITConfig(backbone_config={"depths": [1, 1], "hidden_sizes": [8, 16]})
    former = ChangeFormerConfig(backbone_config={"depths": [1, 1, 1], "hidden_sizes": [8, 8, 16], "num_attention_heads": [1, 1, 1],
                                                 "mlp_ratios": [2] * 3, "sr_ratios": [4, 2, 1], "patch_sizes": [7, 3, 3],
                                                 "strides": [4, 2, 2]}, deep_supervision_weights=[1, 1, 1])
    assert former.backbone_config.num_encoder_blocks == 3  # follows depths
    with pytest.raises(ValueError, match="num_encoder_blocks=3, but this model sets it to 4"):
        ChangeFormerConfig(backbone_config={"num_encoder_blocks": 3})
    with pytest.raises(ValueError, match="per-stage fields must have one entry per stage"):
        ChangeFormerConfig(backbone_config={"depths": [1, 1, 1]})
    with pytest.raises(ValueError, match="hidden size 10 is not divisible by its 4 attention heads"):
        ChangeFormerConfig(backbone_config={"hidden_sizes": [10, 128, 320, 512], "num_attention_heads": [4, 2, 4, 8]})
