"""What makes FC-EF, FC-Siam-conc, FC-Siam-diff (Daudt et al. 2018) and SNUNet-CD (Fang et al. 2021)
those architectures; the common detector contract is in test_detector_zoo.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from euromine_hf.models import build_model
from euromine_hf.models.change_detection.fc_blocks import FullyConvolutionalCDConfig
from euromine_hf.models.change_detection.snunet import ChannelAttention, EnsembleChannelAttention, SNUNetConfig


def _pair(channels: int = 10, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, channels, size, size, generator=generator), torch.randn(2, channels, size, size, generator=generator)


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if type(m) is nn.Conv2d]


@pytest.mark.parametrize("name", ["fc-ef", "fc-siam-conc", "fc-siam-diff"])
def test_fc_paper_layout(name: str) -> None:
    """Encoder 16/32/64/128 channels in stages of 2/2/3/3 convs; decoder of the same depths; 3×3 everywhere."""
    with torch.device("meta"):
        model = build_model(name, "paper", num_channels=3)
    encoder = model.encoder.encoder if hasattr(model.encoder, "encoder") else model.encoder
    assert [[c.out_channels for c in _convs(stage)] for stage in encoder.stages] == [
        [16, 16], [32, 32], [64, 64, 64], [128, 128, 128]
    ]
    assert _convs(encoder)[0].in_channels == (6 if name == "fc-ef" else 3)
    skip = {"fc-ef": 1, "fc-siam-conc": 2, "fc-siam-diff": 1}[name]
    decoder_in = [_convs(stage)[0].in_channels for stage in model.decoder.stages]
    assert decoder_in == [128 + skip * 128, 64 + skip * 64, 32 + skip * 32, 16 + skip * 16]
    assert [len(_convs(stage)) for stage in model.decoder.stages] == [3, 3, 2, 2]
    assert _convs(model)[-1].out_channels == 2
    assert all(c.kernel_size == (3, 3) for c in _convs(model))
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout2d)] == [0.2] * 19  # all but the classifier
    assert all(up.stride == (2, 2) for up in model.decoder.ups)


def test_fc_siam_diff_skips_are_symmetric_differences() -> None:
    model = build_model("fc-siam-diff", "tiny").eval()
    t1, t2 = _pair()
    with torch.no_grad():
        a1, a2 = model.encoder(t1, t2)
        skips = [fuse(x, y) for fuse, x, y in zip(model.fusions, a1, a2)]
        swapped = [fuse(y, x) for fuse, x, y in zip(model.fusions, a1, a2)]
        same = [fuse(x, x) for fuse, x in zip(model.fusions, a1)]
    for skip, other, zero, x, y in zip(skips, swapped, same, a1, a2):
        torch.testing.assert_close(skip, other)
        torch.testing.assert_close(skip, (x - y).abs())
        assert torch.count_nonzero(zero) == 0
    # The Siamese encoder shares weights: a date's features do not depend on which slot it is in.
    with torch.no_grad():
        b1, b2 = model.encoder(t2, t1)
    torch.testing.assert_close(b1[-1], a2[-1])


def test_fc_siam_conc_keeps_both_dates_and_fc_ef_stacks_them() -> None:
    conc = build_model("fc-siam-conc", "tiny").eval()
    t1, t2 = _pair()
    with torch.no_grad():
        f1, f2 = conc.encoder(t1, t2)
        fused = conc.fusions[0](f1[0], f2[0])
    torch.testing.assert_close(fused, torch.cat([f1[0], f2[0]], dim=1))
    early = build_model("fc-ef", "tiny").eval()
    assert _convs(early.encoder)[0].in_channels == 20  # 2 × 10 bands
    with torch.no_grad():  # early fusion is ordered: swapping the dates changes the answer
        assert not torch.allclose(early(t1, t2).logits, early(t2, t1).logits)


def test_fc_decoder_handles_sizes_not_divisible_by_16() -> None:
    model = build_model("fc-siam-conc", "tiny").eval()
    t1, t2 = _pair(size=40)
    with torch.no_grad():
        assert model(t1[..., :36], t2[..., :36]).logits.shape == (2, 2, 40, 36)


def test_fc_config_validation() -> None:
    with pytest.raises(ValueError, match="config.depths"):
        FullyConvolutionalCDConfig(depths=[2, 1, 3, 3])
    with pytest.raises(ValueError, match="config.dropout"):
        FullyConvolutionalCDConfig(dropout=1.0)


def test_snunet_nested_layout() -> None:
    """UNet++ nodes x^{i,j} (i + j ≤ 4, j ≥ 1): inputs (j+1)·w_i (both dates + earlier nodes) + w_{i+1}."""
    with torch.device("meta"):
        model = build_model("snunet", "paper", num_channels=3)
    widths = [32, 64, 128, 256, 512]
    assert len(model.nodes) == 10 and len(model.ups) == 10
    for key, node in model.nodes.items():
        i, j = map(int, key.split("_"))
        assert node.conv1.in_channels == (j + 1) * widths[i] + widths[i + 1] and node.conv2.out_channels == widths[i]
    assert [stage.conv2.out_channels for stage in model.encoder] == widths
    assert model.classifier.in_channels == 4 * 32 and model.classifier.kernel_size == (1, 1)
    assert model.ecam.inter.mlp[0].out_channels == 128 // 16 and model.ecam.intra.mlp[0].out_channels == 32 // 4


def test_snunet_residual_node_adds_first_conv_output() -> None:
    model = build_model("snunet", "tiny", num_channels=3).eval()
    node = model.encoder[0]
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        identity = node.conv1(x)
        expected = torch.relu(node.norm2(node.conv2(torch.relu(node.norm1(identity)))) + identity)
        torch.testing.assert_close(node(x), expected)


def test_ecam_output() -> None:
    torch.manual_seed(0)
    ecam = EnsembleChannelAttention(8, 4, 16).eval()
    outputs = [torch.randn(2, 8, 6, 6) for _ in range(4)]
    inter = torch.cat(outputs, dim=1)
    intra_weights = ecam.intra(sum(outputs))
    expected = ecam.inter(inter) * (inter + intra_weights.repeat(1, 4, 1, 1))
    result = ecam(outputs)
    assert result.shape == (2, 32, 6, 6)
    torch.testing.assert_close(result, expected)
    weights = ChannelAttention(32, 16)(inter)
    assert weights.shape == (2, 32, 1, 1) and bool(((weights > 0) & (weights < 1)).all())


def test_snunet_decoder_sees_both_dates_at_every_level() -> None:
    """Dense skips: date 1 reaches the output only through the level-0…3 skips (its deepest level is
    never computed); a change in date 1 therefore moves the logits, and so does date 2."""
    model = build_model("snunet", "tiny").eval()
    t1, t2 = _pair()
    first, second = model.encode(t1, t2)
    assert len(first) == 4 and len(second) == 5
    t1.requires_grad_(True)
    t2.requires_grad_(True)
    logits = model(t1, t2).logits
    logits[:, 1].sum().backward()
    assert t1.grad.abs().sum() > 0 and t2.grad.abs().sum() > 0


def test_snunet_hybrid_loss_option() -> None:
    t1, t2 = _pair()
    labels = torch.randint(0, 2, (2, 32, 32))
    torch.manual_seed(0)
    ce = build_model("snunet", "tiny").eval()
    torch.manual_seed(0)
    hybrid = build_model("snunet", "tiny", loss="ce+dice").eval()
    assert ce.config.loss == "ce" and hybrid.config.loss == "ce+dice"
    with torch.no_grad():
        assert hybrid(t1, t2, labels=labels).loss > ce(t1, t2, labels=labels).loss
    with pytest.raises(ValueError, match="attention_reduction"):
        SNUNetConfig(attention_reduction=2)


def test_snunet_ecam_pool_follows_the_framework_by_default() -> None:
    """``ecam_pool="avg"`` (default, paper): σ(2·MLP(avg)), the framework's AdaptiveAvgPool2d "max_pool";
    ``"max"``: the paper's σ(MLP(avg) + MLP(max)). Same parameters, so one state dict serves both."""
    assert SNUNetConfig().ecam_pool == "avg" and build_model("snunet", "paper", num_channels=3).config.ecam_pool == "avg"
    torch.manual_seed(0)
    framework = build_model("snunet", "tiny").eval()
    original = build_model("snunet", "tiny", ecam_pool="max").eval()
    original.load_state_dict(framework.state_dict())
    attention = framework.ecam.inter
    hidden = torch.randn(2, attention.mlp[0].in_channels, 5, 5)
    average = attention.mlp(hidden.mean(dim=(2, 3), keepdim=True))
    maximum = attention.mlp(hidden.amax(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(attention(hidden), torch.sigmoid(2 * average))
    torch.testing.assert_close(original.ecam.inter(hidden), torch.sigmoid(average + maximum))
    assert not torch.allclose(attention(hidden), original.ecam.inter(hidden))
    with pytest.raises(ValueError, match="ecam_pool"):
        SNUNetConfig(ecam_pool="min")
