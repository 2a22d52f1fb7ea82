"""Architecture-specific checks of the hand-written segmenters (DeepLabV3+, UNet, LinkNet, PSPNet, SQNet).

The generic contract (forward/backward, save/load, Auto classes) is tested for every zoo entry in
test_model_zoo.py; here each architecture is checked against its paper: feature strides, branch
counts, channel widths, skip shapes, parameter counts of the paper presets, and the PSPNet
auxiliary loss.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import euromine_hf.models  # noqa: F401  (registers the zoo)
from euromine_hf.models.segmentation.deeplabv3plus import DeepLabV3PlusConfig, DeepLabV3PlusForSemanticSegmentation
from euromine_hf.models.encoders.resnet import ResNetEncoder, dilate_resnet, resnet_backbone_config
from euromine_hf.models.segmentation.linknet import LinkNetConfig
from euromine_hf.models.segmentation.pspnet import PSPNetForSemanticSegmentation
from euromine_hf.models.registry import MODEL_ZOO, build_model
from euromine_hf.models.segmentation.sqnet import FireModule, SQNetConfig
from euromine_hf.models.segmentation.unet import UNetConfig
from transformers import AutoModelForSemanticSegmentation



def meta_model(name: str, size: str = "paper", **overrides):
    """Paper-size model on the meta device: shapes and counts without allocating or initialising."""
    with torch.device("meta"):
        return build_model(name, size, **overrides)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


HANDWRITTEN = {
    "deeplabv3plus-resnet101": "DeeplabV3P (ResNet-101)",
    "deeplabv3plus-mobilenetv2": "DeeplabV3P (MobileNetV2)",
    "unet": "UNet",
    "linknet": "LinkNet",
    "pspnet": "PSPNet",
    "sqnet": "SQNet",
}


def test_zoo_entries_use_paper_names():
    from euromine_hf.bands import load_resource

    paper_names = set(load_resource("paper_results.json")["mapping"])
    for name, paper_name in HANDWRITTEN.items():
        assert MODEL_ZOO[name].paper_name == paper_name
        assert paper_name in paper_names
        assert MODEL_ZOO[name].config_class.model_type.startswith("euromine-")


# Original-paper variants, 3 input channels: counts as the papers / reference implementations
# report them (the ``paper`` presets, the benchmark's sizes, are checked in test_model_zoo.py).
@pytest.mark.parametrize(
    ("name", "size", "low", "high"),
    [
        ("deeplabv3plus-resnet101", "paper", 58.5e6, 60.5e6),  # ≈59.3 M with plain-conv ASPP/decoder
        ("deeplabv3plus-mobilenetv2", "paper", 5.3e6, 6.3e6),  # ≈5.8 M
        ("unet", "original", 30.5e6, 31.5e6),  # the well-known ≈31.0 M (BN U-Net, width 64)
        ("linknet", "paper", 11.2e6, 11.8e6),  # LinkNet paper: 11.5 M
        ("pspnet", "original", 46e6, 51e6),  # ResNet-50 + PPM + aux head ≈ 48.9 M
        ("sqnet", "original", 12e6, 17e6),  # SqueezeNet 1.1 + 4×(512²·9) dilated convs + decoder ≈ 14.0 M
    ],
)
def test_original_variant_parameter_counts(name, size, low, high):
    count = n_params(meta_model(name, size, num_channels=3))
    assert low < count < high, f"{name}: {count / 1e6:.2f} M parameters"


@pytest.mark.parametrize("name", list(HANDWRITTEN))
def test_ten_bands_only_change_the_first_layer(name):
    three, ten = meta_model(name, num_channels=3), meta_model(name, num_channels=10)
    shapes3 = {k: tuple(v.shape) for k, v in three.state_dict().items()}
    shapes10 = {k: tuple(v.shape) for k, v in ten.state_dict().items()}
    assert shapes3.keys() == shapes10.keys()
    changed = [k for k in shapes3 if shapes3[k] != shapes10[k]]
    assert len(changed) == 1, changed
    assert shapes3[changed[0]][1] == 3 and shapes10[changed[0]][1] == 10


# ----------------------------------------------------------------------------------- DeepLabV3+
def test_deeplabv3plus_resnet101_structure():
    model = meta_model("deeplabv3plus-resnet101")
    assert isinstance(model.encoder, ResNetEncoder)
    assert model.encoder.backbone.config.depths == [3, 4, 23, 3]
    assert model.encoder.backbone.config.layer_type == "bottleneck"
    assert model.encoder.reductions == [4, 16]
    # ASPP: 1×1 + three atrous 3×3 (6/12/18) + image pooling, 256 channels each, BN.
    branches = model.aspp.branches
    assert len(branches) == 5
    assert branches[0][0].kernel_size == (1, 1)
    assert [b[0].dilation[0] for b in branches[1:4]] == [6, 12, 18]
    assert all(b[0].kernel_size == (3, 3) for b in branches[1:4])
    assert all(isinstance(b[1], nn.BatchNorm2d) for b in branches[:4])
    assert all(b[0].out_channels == 256 for b in branches[:4])
    assert branches[0][0].in_channels == 2048
    assert any(isinstance(m, nn.Dropout) for m in model.aspp.project)
    # Decoder: stride-4 features (256 ch) projected to 48, two 3×3 convs of 256.
    assert model.decoder.low_level_project[0].in_channels == 256
    assert model.decoder.low_level_project[0].out_channels == 48
    assert model.decoder.fuse[0][0].in_channels == 256 + 48
    assert [block[0].kernel_size for block in model.decoder.fuse] == [(3, 3), (3, 3)]
    # Output stride 16: the last stage's stride became dilation 2, the others untouched.
    stage4 = model.encoder.backbone.encoder.stages[3]
    assert all(m.stride == (1, 1) for m in stage4.modules() if isinstance(m, nn.Conv2d))
    assert {m.dilation for m in stage4.layers[1].modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)} == {(2, 2)}
    assert model.encoder.backbone.encoder.stages[2].layers[0].layer[1].convolution.stride == (2, 2)


@pytest.mark.parametrize("name", ["deeplabv3plus-resnet101", "deeplabv3plus-mobilenetv2"])
def test_deeplabv3plus_feature_strides(name):
    model = build_model(name, "tiny").eval()
    with torch.no_grad():
        low, high = model.encode(torch.randn(1, 10, 64, 64))
        logits = model.segment(torch.randn(1, 10, 64, 64))
    assert low.shape[-2:] == (16, 16)  # stride 4
    assert high.shape[-2:] == (4, 4)  # output stride 16
    assert logits.shape[-2:] == (16, 16)  # decoder at stride 4, ×4 upsampling by the base class


def test_deeplabv3plus_mobilenetv2_features():
    model = meta_model("deeplabv3plus-mobilenetv2")
    assert model.decoder.low_level_project[0].in_channels == 24  # second 24-channel block, stride 4
    assert model.aspp.branches[0][0].in_channels == 320  # last inverted residual block
    assert isinstance(model.encoder.mobilenet_v2.conv_1x1, nn.Identity)  # the unused 1280-channel conv is dropped
    assert model.encoder.mobilenet_v2.config.output_stride == 16
    assert model.encoder.channels == [16, 24, 32, 96, 320] and model.encoder.reductions == [2, 4, 8, 16, 16]


def test_deeplabv3plus_dilation_survives_save_and_load(tmp_path):
    model = build_model("deeplabv3plus-resnet101", "tiny").eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSemanticSegmentation.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, DeepLabV3PlusForSemanticSegmentation)
    x = torch.randn(2, 10, 48, 48)
    with torch.no_grad():
        assert loaded.encode(x)[1].shape[-2:] == (3, 3)
        torch.testing.assert_close(loaded(x).logits, model(x).logits)


def test_deeplabv3plus_config_rejects_unknown_backbone():
    with pytest.raises(ValueError, match="backbone"):
        DeepLabV3PlusConfig(backbone="xception")
    with pytest.raises(ValueError, match="output_stride"):
        DeepLabV3PlusConfig(output_stride=32)


def test_dilate_resnet_output_stride_8():
    encoder = ResNetEncoder(
        resnet_backbone_config(4, "resnet50", depths=[1, 2, 2, 1], hidden_sizes=[8, 16, 24, 32], embedding_size=8),
        output_stride=8,
    )
    assert encoder.dilations == [1, 1, 2, 4]
    resnet = encoder.backbone
    third = resnet.encoder.stages[2].layers
    assert third[0].layer[1].convolution.dilation == (1, 1)  # first block keeps the previous dilation
    assert third[1].layer[1].convolution.dilation == (2, 2)
    assert resnet.encoder.stages[3].layers[0].layer[1].convolution.dilation == (2, 2)
    with torch.no_grad():
        features = encoder(torch.randn(1, 4, 64, 64))
    assert [f.shape[-1] for f in features] == [16, 8, 8, 8]
    encoder.check_features(features, (64, 64))
    with pytest.raises(ValueError, match="output_stride"):
        dilate_resnet(list(resnet.encoder.stages), 12)


# ----------------------------------------------------------------------------------------- UNet
def test_unet_skip_shapes_and_widths():
    model = build_model("unet", "tiny", upsampling="transposed").eval()  # base width 4, depth 3
    with torch.no_grad():
        *skips, bottleneck = model.encoder(torch.randn(2, 10, 64, 64))
    assert [tuple(s.shape[1:]) for s in skips] == [(4, 64, 64), (8, 32, 32), (16, 16, 16)]
    assert tuple(bottleneck.shape[1:]) == (32, 8, 8)
    paper = meta_model("unet", "original")
    assert [stage[0].out_channels for stage in paper.encoder.stages] == [64, 128, 256, 512, 1024]
    # up stage: 2×2 transposed conv halves the channels, concat doubles them back, double conv
    up = paper.up_stages[0]
    assert (up.up.kernel_size, up.up.stride, up.up.out_channels) == ((2, 2), (2, 2), 512)
    assert up.conv[0].in_channels == 1024
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in paper.modules()) == 18


def test_unet_benchmark_variant_is_the_bilinear_unet():
    """The benchmark's U-Net: bilinear upsampling, bottleneck 512, decoder C → C/2 → C/4 (last → 64)."""
    model = meta_model("unet")
    assert model.encoder.channels == [64, 128, 256, 512, 512]
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    first = model.up_stages[0].conv
    assert (first[0].in_channels, first[0].out_channels, first[3].out_channels) == (1024, 512, 256)
    assert [stage.conv[3].out_channels for stage in model.up_stages] == [256, 128, 64, 64]
    tiny = build_model("unet", "tiny").eval()
    with torch.no_grad():
        assert tiny(torch.randn(1, 10, 37, 51)).logits.shape == (1, 2, 37, 51)


def test_unet_odd_input_size():
    model = build_model("unet", "tiny").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 10, 37, 51)).logits.shape == (1, 2, 37, 51)


def test_unet_config_validation():
    with pytest.raises(ValueError, match="depth"):
        UNetConfig(depth=0)
    with pytest.raises(ValueError, match="band_names"):
        UNetConfig(num_channels=3, band_names=["B04", "B03"])


# -------------------------------------------------------------------------------------- LinkNet
def test_linknet_encoder_and_decoder_shapes():
    model = build_model("linknet", "tiny").eval()  # stem 8, encoder widths 8/16/24/32
    with torch.no_grad():
        initial, blocks = model.encode(torch.randn(1, 10, 64, 64))
        decoded = model.decode(initial, blocks)
    assert tuple(initial.shape[1:]) == (8, 16, 16)
    assert model.encoder.reductions == [4, 8, 16, 32, 64]
    # every encoder block halves the resolution (paper Fig. 2)
    assert [tuple(b.shape[1:]) for b in blocks] == [(8, 8, 8), (16, 4, 4), (24, 2, 2), (32, 1, 1)]
    # decoder block i reproduces encoder block i-1's shape (to be added to it), block 1 the initial block's
    assert [tuple(d.shape[1:]) for d in decoded] == [(24, 2, 2), (16, 4, 4), (8, 8, 8), (8, 16, 16)]


def test_linknet_paper_table1_channels():
    model = meta_model("linknet")
    backbone = model.encoder.backbone
    assert backbone.config.depths == [2, 2, 2, 2] and backbone.config.layer_type == "basic"
    assert backbone.embedder.embedder.convolution.kernel_size == (7, 7)
    observed = [
        (b.reduce.conv.in_channels, b.reduce.conv.out_channels, b.upsample.conv.out_channels, b.expand.conv.out_channels)
        for b in model.decoder_blocks
    ]
    # Table 1 (m, n): (64, 64), (128, 64), (256, 128), (512, 256); inner width m/4
    assert observed == [(64, 16, 16, 64), (128, 32, 32, 64), (256, 64, 64, 128), (512, 128, 128, 256)]
    assert all(isinstance(b.upsample.conv, nn.ConvTranspose2d) and b.upsample.conv.stride == (2, 2) for b in model.decoder_blocks)
    assert (model.final_upsample.conv.in_channels, model.final_upsample.conv.out_channels) == (64, 32)
    assert model.final_conv.conv.kernel_size == (3, 3)
    assert (model.classifier.kernel_size, model.classifier.stride, model.classifier.out_channels) == ((2, 2), (2, 2), 2)


@pytest.mark.parametrize("size", [(64, 64), (65, 97), (160, 160)])
def test_linknet_any_input_size(size):
    model = build_model("linknet", "tiny").eval()
    with torch.no_grad():
        assert model.segment(torch.randn(1, 10, *size)).shape == (1, 2, *size)  # no resize needed


def test_linknet_config_validation():
    with pytest.raises(ValueError, match="hidden_sizes \\(2\\) and depths \\(3\\)"):
        LinkNetConfig(backbone_config={"hidden_sizes": [8, 16], "depths": [1, 1, 1]})
    with pytest.raises(ValueError, match="'encoder_depths' is no longer read.*backbone_config.depths"):
        LinkNetConfig(encoder_depths=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="downsample_in_first_stage=False, but this model sets it to True"):
        LinkNetConfig(backbone_config={"downsample_in_first_stage": False})


# --------------------------------------------------------------------------------------- PSPNet
def test_pspnet_pyramid_bins_and_widths():
    assert meta_model("pspnet").encoder.backbone.config.depths == [3, 4, 23, 3]  # the benchmark's ResNet-101
    assert meta_model("pspnet").auxiliary_head is None
    model = meta_model("pspnet", "original")
    assert model.encoder.backbone.config.depths == [3, 4, 6, 3]  # the PSPNet paper's ResNet-50 ablation
    pools = [level[0] for level in model.pyramid.levels]
    assert [p.output_size for p in pools] == [1, 2, 3, 6]
    assert all(level[1][0].out_channels == 512 for level in model.pyramid.levels)  # C/4 of 2048
    assert model.pyramid.out_channels == 2048 + 4 * 512
    assert model.head[0][0].kernel_size == (3, 3) and model.head[0][0].out_channels == 512
    assert model.auxiliary_head[0][0].in_channels == 1024  # stage 3


def test_pspnet_output_stride_8_and_pyramid_output():
    model = build_model("pspnet", "tiny").eval()
    x = torch.randn(2, 10, 64, 64)
    with torch.no_grad():
        stage3, stage4 = model._features(x)
        pyramid = model.pyramid(stage4)
    assert stage3.shape[-2:] == (8, 8) and stage4.shape[-2:] == (8, 8)
    assert pyramid.shape[1] == 64 + 4 * 16
    torch.testing.assert_close(pyramid[:, :64], stage4)  # the map itself is part of the concat
    level1 = pyramid[:, 64:80]  # 1×1 bin: constant over space
    torch.testing.assert_close(level1, level1[..., :1, :1].expand_as(level1))


def test_pspnet_auxiliary_loss_in_training_only():
    model = build_model("pspnet", "tiny", dropout=0.0)
    x = torch.randn(2, 10, 48, 48)
    labels = torch.randint(0, 2, (2, 48, 48))
    labels[0, :4] = 255  # ignored pixels are ignored by both terms
    model.train()
    out = model(x, labels=labels)
    stage3, stage4 = model._features(x)
    main = F.interpolate(model.head(model.pyramid(stage4)), size=(48, 48), mode="bilinear", align_corners=False)
    aux = F.interpolate(model.auxiliary_head(stage3), size=(48, 48), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(main, labels, ignore_index=255) + 0.4 * F.cross_entropy(aux, labels, ignore_index=255)
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    grad = model.auxiliary_head[-1].weight.grad  # the auxiliary term trains its head
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        evaluated = model(x, labels=labels)
    torch.testing.assert_close(evaluated.loss, F.cross_entropy(evaluated.logits, labels, ignore_index=255))


def test_pspnet_without_auxiliary_head():
    model = build_model("pspnet", "tiny", use_auxiliary_head=False, dropout=0.0).train()
    assert model.auxiliary_head is None
    x, labels = torch.randn(2, 10, 32, 32), torch.randint(0, 2, (2, 32, 32))
    out = model(x, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    assert isinstance(model, PSPNetForSemanticSegmentation)


# ---------------------------------------------------------------------------------------- SQNet
def test_sqnet_fire_modules_follow_squeezenet_1_1():
    model = meta_model("sqnet", "original")
    fires = [m for m in model.modules() if isinstance(m, FireModule)]
    assert [f.squeeze[0].out_channels for f in fires] == [16, 16, 32, 32, 48, 48, 64, 64]
    assert [f.out_channels for f in fires] == [128, 128, 256, 256, 384, 384, 512, 512]
    assert all(f.expand_1x1[0].kernel_size == (1, 1) and f.expand_3x3[0].kernel_size == (3, 3) for f in fires)
    assert model.encoder.stem[0].stride == (2, 2) and model.encoder.stem[0].out_channels == 64
    assert [b.dilation[0] for b in model.context.branches] == [1, 2, 4, 8]
    assert all(b.in_channels == b.out_channels == 512 for b in model.context.branches)
    # ELU as in the paper; no ReLU and (by default) no BatchNorm
    assert any(isinstance(m, nn.ELU) for m in model.modules())
    assert not any(isinstance(m, (nn.ReLU, nn.BatchNorm2d)) for m in model.modules())
    # decoder: transposed convs back to the bypass widths 256, 128, 64, then to the classes
    assert [u[0].out_channels for u in model.upsamplers] == [256, 128, 64]
    assert [r.bypass[0].in_channels for r in model.refinements] == [256, 128, 64]


def test_sqnet_benchmark_variant_is_the_public_port():
    """The benchmark's SQNet: stem 96, 2×2 pools, fires 16/32/64, dilations 1/2/3/4, concat-width fuses."""
    model = meta_model("sqnet")
    fires = [m for m in model.modules() if isinstance(m, FireModule)]
    assert [f.squeeze[0].out_channels for f in fires] == [16, 16, 32, 32, 64, 64, 64]
    assert model.encoder.channels == [96, 128, 256, 512]
    assert model.encoder.pool.kernel_size == 2
    assert [b.dilation[0] for b in model.context.branches] == [1, 2, 3, 4] and model.context.branch_activation
    assert [r.fuse[0].out_channels for r in model.refinements] == [512, 256, 192]
    assert [u[0].in_channels for u in model.upsamplers] == [512, 512, 256]
    assert model.classifier.in_channels == 192


def test_fire_module_output():
    fire = FireModule(6, squeeze=3, expand=5)
    out = fire(torch.randn(2, 6, 9, 9))
    assert out.shape == (2, 10, 9, 9)


def test_sqnet_bypass_shapes_and_odd_sizes():
    model = build_model("sqnet", "tiny").eval()
    with torch.no_grad():
        bypasses, context = model.encode(torch.randn(1, 10, 64, 64))
        assert [tuple(b.shape[1:]) for b in bypasses] == [(8, 32, 32), (8, 16, 16), (16, 8, 8)]
        assert tuple(context.shape[1:]) == (32, 4, 4)
        assert model.segment(torch.randn(1, 10, 37, 50)).shape == (1, 2, 37, 50)


def test_sqnet_config_validation():
    with pytest.raises(ValueError, match="fire_squeeze"):
        SQNetConfig(fire_squeeze=[[2, 2]], fire_expand=[[4]])
    with_bn = build_model("sqnet", "tiny", use_batchnorm=True)
    assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())


# ------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", list(HANDWRITTEN))
def test_untrained_model_starts_near_chance(name):
    """An untrained model starts near chance (cross-entropy ≈ ln 2), not at logits in the tens."""
    torch.manual_seed(0)  # independent of the tests that ran before
    model = build_model(name, "tiny", use_auxiliary_head=False) if name == "pspnet" else build_model(name, "tiny")
    with torch.no_grad():
        loss = model.eval()(torch.randn(2, 10, 32, 32), labels=torch.randint(0, 2, (2, 32, 32))).loss
    assert abs(loss.item() - 0.6931) < 0.05


@pytest.mark.parametrize("name", ["deeplabv3plus-resnet101", "deeplabv3plus-mobilenetv2", "pspnet"])
def test_training_batch_of_one_image(name):
    """Image-pooling branches see one value per channel at batch 1 (an epoch's last, short batch)."""
    model = build_model(name, "tiny").train()
    out = model(torch.randn(1, 10, 32, 32), labels=torch.randint(0, 2, (1, 32, 32)))
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_pooled_batchnorm_matches_batchnorm_otherwise():
    from euromine_hf.models.layers import PooledSafeBatchNorm2d

    safe, plain = PooledSafeBatchNorm2d(4).train(), nn.BatchNorm2d(4).train()
    x = torch.randn(3, 4, 5, 5)
    torch.testing.assert_close(safe(x), plain(x))
    torch.testing.assert_close(safe.running_mean, plain.running_mean)
    single = torch.randn(1, 4, 1, 1)
    torch.testing.assert_close(safe(single), plain.eval()(single))  # running statistics at batch 1


@pytest.mark.parametrize("name", list(HANDWRITTEN))
def test_a_few_steps_reduce_the_loss(name):
    """Each tiny model can fit a fixed small batch: the gradient path through every part works."""
    torch.manual_seed(0)
    model = build_model(name, "tiny", num_channels=3).train()
    x = torch.randn(4, 3, 32, 32)
    labels = (x[:, 0] > 0).long()  # a pixel-wise rule the models can learn quickly
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = model(x, labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < losses[0], losses


# -------------------------------------------------------------------------------------- encoders
def _encoders():
    from transformers import MobileNetV2Config

    from euromine_hf.models import encoders as enc

    return {
        "convnext": lambda c: enc.ConvNextEncoder(enc.convnext_backbone_config(c, 8, [1, 1, 1, 1])),
        "swin": lambda c: enc.SwinEncoder(enc.swin_backbone_config(c, 8, [1, 1, 1, 1], [1, 1, 2, 2], 4)),
        "pvtv2": lambda c: enc.PvtV2Encoder(enc.pvtv2_backbone_config(c, "pvt-v2-b0", depths=[1, 1, 1, 1])),
        "mit": lambda c: enc.MiTEncoder(enc.mit_backbone_config(c, "b0", depths=[1, 1, 1, 1])),
        "mobilenetv2": lambda c: enc.MobileNetV2Encoder(MobileNetV2Config(num_channels=c, depth_multiplier=0.25)),
        "vgg16bn": lambda c: enc.VGGEncoder(c, [4, 8, 8, 16, 16]),
        "unet": lambda c: enc.UNetEncoder(c, [4, 8, 16, 32, 32]),
        "squeezenet": lambda c: enc.SqueezeNetEncoder(c, 8, [[2], [4], [8]], [[4], [8], [16]]),
        "resnet18-os8": lambda c: enc.ResNetEncoder(enc.resnet_backbone_config(c, "resnet18", stem=True), output_stride=8),
    }


@pytest.mark.parametrize("name", list(_encoders()))
@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_encoder_contract(name, size):
    """Every encoder returns the maps it declares (channels, strides) for 3 and 10 bands."""
    for channels in (3, 10):
        encoder = _encoders()[name](channels).eval()
        with torch.no_grad():
            features = encoder(torch.randn(1, channels, *size))
        encoder.check_features(features, size)
        assert encoder.reductions == sorted(encoder.reductions)


def test_vgg16_bn_has_vgg16_size():
    from euromine_hf.models.encoders import VGGEncoder

    # torchvision's vgg16_bn features (no classifier): 14,723,136 parameters for RGB input.
    assert n_params(VGGEncoder(3)) == 14_723_136
