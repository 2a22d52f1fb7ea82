"""What makes HANet (Han et al. 2023), MSPSNet (Guo et al. 2021) and RDP-Net (Chen et al. 2022)
those architectures; the common detector contract is in test_detector_zoo.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models import AutoModelForChangeDetection, build_model
from euromine_hf.models.change_detection.hanet import AxialAttention, HierarchicalAttention
from euromine_hf.models.change_detection.msps_blocks import ChannelSelfAttention, MultiscaleSiameseConfig
from euromine_hf.models.change_detection.rdpnet import RDPNetConfig, SwitchableNorm2d, disk_kernel, edge_loss


def _pair(channels: int = 10, size: int = 32, seed: int = 0, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (2, channels, size, width or size)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- MSPSNet / HANet skeleton -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mspsnet", "hanet"])
def test_multiscale_siamese_paper_layout(name: str) -> None:
    """Stem 5×5 → 40; FECs 40/80/160/320; PCS of 4 grouped dilated 3×3 (2C→C, C/2 groups) + 1×1 fusion;
    600 → 80 fusion; bias-free 3×3 classifier; the four idle convolutions frozen."""
    with torch.device("meta"):
        model = build_model(name, "paper", num_channels=3)
    assert model.encoder.stem.kernel_size == (5, 5) and model.encoder.stem.in_channels == 3
    assert [cell.conv1.out_channels for cell in model.encoder.cells] == [40, 80, 160, 320]
    assert [cell.conv2.kernel_size for cell in model.encoder.cells] == [(1, 1)] * 4
    for width, pcs in zip([40, 80, 160, 320], model.pcs):
        assert [b.dilation for b in pcs.branches] == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert {(b.in_channels, b.out_channels, b.groups, b.kernel_size) for b in pcs.branches} == {
            (2 * width, width, width // 2, (3, 3))
        }
        assert (pcs.fuse.in_channels, pcs.fuse.out_channels) == (4 * width, width)
    assert (model.fuse.in_channels, model.fuse.out_channels) == (600, 80)
    assert model.classifier.kernel_size == (3, 3) and model.classifier.bias is None
    idle = model.idle_convs
    assert [(c.in_channels, c.out_channels) for c in idle] == [(40, 40), (80, 80), (160, 80), (320, 80)]
    assert not any(p.requires_grad for p in idle.parameters())
    assert _count(idle) == 417_880


def test_published_parameter_counts_exactly() -> None:
    """HANet: the framework's 3,029,444 (DESIGN.md); MSPSNet 2.11 and RDP-Net 1.62 × 2^20 to 3 digits."""
    with torch.device("meta"):
        counts = {name: _count(build_model(name, "paper", num_channels=3)) for name in ("hanet", "mspsnet", "rdpnet")}
    assert counts["hanet"] == 3_029_444
    assert round(counts["mspsnet"] / 2**20, 2) == 2.11
    assert round(counts["rdpnet"] / 2**20, 2) == 1.62
    with torch.device("meta"):
        lean = build_model("mspsnet", "paper", num_channels=3, keep_idle_convs=False)
    assert counts["mspsnet"] - _count(lean) == 417_880 and not hasattr(lean, "idle_convs")


def test_idle_convs_get_no_gradient_and_survive_save_load(tmp_path) -> None:
    model = build_model("mspsnet", "tiny", keep_idle_convs=True).train()
    t1, t2 = _pair()
    model(t1, t2, labels=(t1[:, 0] > 0).long()).loss.backward()
    assert all(p.grad is None for p in model.idle_convs.parameters())
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("idle_convs"))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForChangeDetection.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.idle_convs[0].weight, model.idle_convs[0].weight)
    assert not loaded.idle_convs[0].weight.requires_grad


def test_pcs_groups_see_one_date_each() -> None:
    """With C/2 groups over [date 1, date 2] the grouped convolutions never mix the dates (reference fact)."""
    model = build_model("mspsnet", "tiny").eval()
    pcs = model.pcs[0]
    width = pcs.fuse.out_channels
    a, b = torch.randn(1, width, 8, 8), torch.randn(1, width, 8, 8)
    with torch.no_grad():
        base = [branch(torch.cat([a, b], 1)) for branch in pcs.branches]
        moved = [branch(torch.cat([a, b + 1.0], 1)) for branch in pcs.branches]
    for before, after in zip(base, moved):
        changed = (before - after).abs().flatten(2).amax(-1)[0] > 0
        assert changed.tolist() == [False] * (width // 2) + [True] * (width // 2)


def test_channel_self_attention_formula_and_identity_start() -> None:
    cam = ChannelSelfAttention()
    x = torch.randn(2, 6, 5, 7)
    torch.testing.assert_close(cam(x), x)  # γ = 0
    with torch.no_grad():
        cam.gamma.fill_(0.5)
    flat = x.flatten(2)
    energy = flat @ flat.transpose(1, 2)
    attention = (energy.amax(-1, keepdim=True) - energy).softmax(-1)
    torch.testing.assert_close(cam(x), 0.5 * (attention @ flat).view_as(x) + x)


@pytest.mark.parametrize("axis", ["row", "column"])
def test_axial_attention_stays_on_its_axis(axis: str) -> None:
    torch.manual_seed(0)
    attention = AxialAttention(4, 4, axis).eval()
    with torch.no_grad():
        attention.gamma.fill_(1.0)
        x = torch.randn(1, 4, 6, 9)  # rectangular: no size assumed
        y = x.clone()
        y[..., 2, 5] += 3.0
        delta = (attention(y) - attention(x)).abs().sum(1)[0]
    touched = delta > 1e-6
    expected = torch.zeros(6, 9, dtype=torch.bool)
    if axis == "row":
        expected[2, :] = True
    else:
        expected[:, 5] = True
    assert torch.equal(touched, expected)


def test_axial_attention_matches_explicit_row_softmax() -> None:
    torch.manual_seed(1)
    attention = AxialAttention(3, 2, "row")
    with torch.no_grad():
        attention.gamma.fill_(1.0)
        x = torch.randn(1, 3, 2, 4)
        q, k, v = attention.query(x), attention.key(x), attention.value(x)
        row = 1
        weights = (q[0, :, row].T @ k[0, :, row]).softmax(-1)  # (W, W)
        expected = v[0, :, row] @ weights.T + x[0, :, row]
        torch.testing.assert_close(attention(x)[0, :, row], expected)


def test_hierarchical_attention_is_channel_plus_row_after_column() -> None:
    torch.manual_seed(0)
    han = HierarchicalAttention(4, 4).eval()
    with torch.no_grad():
        han.row.gamma.fill_(0.7)
        han.column.gamma.fill_(0.3)
        x = torch.randn(2, 4, 5, 6)
        torch.testing.assert_close(han(x), han.channel(x) + han.row(han.column(x)))
        # Row after column: one changed pixel reaches every pixel of the map.
        y = x.clone()
        y[0, :, 1, 2] += 3.0
        spread = (han.row(han.column(y)) - han.row(han.column(x)))[0].abs().sum(0)
    assert bool((spread > 0).all())


def test_hanet_differs_from_mspsnet_only_by_axial_attention() -> None:
    with torch.device("meta"):
        hanet = build_model("hanet", "paper", num_channels=3)
        mspsnet = build_model("mspsnet", "paper", num_channels=3)
    axial = sum(_count(m) for m in hanet.modules() if isinstance(m, AxialAttention))
    assert _count(hanet) - _count(mspsnet) == axial == 2 * sum(3 * (c * c + c) + 1 for c in (40, 80, 160, 320))


@pytest.mark.parametrize("name", ["mspsnet", "hanet", "rdpnet"])
def test_sizes_not_divisible_by_the_stride(name: str) -> None:
    model = build_model(name, "tiny").eval()
    t1, t2 = _pair(size=36, width=44)
    with torch.no_grad():
        logits = model(t1, t2).logits
    assert logits.shape == (2, 2, 36, 44) and torch.isfinite(logits).all()


def test_multiscale_config_rejects_odd_width() -> None:
    with pytest.raises(ValueError, match="base_width"):
        MultiscaleSiameseConfig(base_width=5)


# --- RDP-Net ------------------------------------------------------------------------------------


def test_rdpnet_paper_layout() -> None:
    with torch.device("meta"):
        model = build_model("rdpnet", "paper", num_channels=3)
    assert model.embedding.in_channels == 6 and model.embedding.out_channels == 384
    assert model.embedding.kernel_size == model.embedding.stride == (8, 8)
    assert len(model.mixers) == len(model.heads) == 6
    for mixer, head in zip(model.mixers, model.heads):
        assert mixer.depthwise.kernel_size == (9, 9) and mixer.depthwise.groups == 384
        assert mixer.pointwise.kernel_size == (1, 1)
        assert (head.reduce.out_channels, head.up.kernel_size, head.up.stride) == (32, (8, 8), (8, 8))
    assert model.classifier.in_channels == 192 and model.head_scale.shape == (192,)
    assert sum(isinstance(m, SwitchableNorm2d) for m in model.modules()) == 1 + 6 * 2 + 6 * 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_rdpnet_every_mixer_reaches_the_output() -> None:
    """Each mixer's detail head feeds the classifier: zeroing one head's scale changes the logits."""
    model = build_model("rdpnet", "tiny").eval()
    t1, t2 = _pair()
    with torch.no_grad():
        base = model(t1, t2).logits
        width = model.config.head_channels
        for index in range(model.config.num_mixers):
            saved = model.head_scale.clone()
            model.head_scale[index * width:(index + 1) * width] = 0
            assert not torch.allclose(model(t1, t2).logits, base)
            model.head_scale.copy_(saved)


def test_switchable_norm_reduces_to_batch_and_instance_norm() -> None:
    x = torch.randn(4, 3, 5, 6) * 3 + 1
    norm = SwitchableNorm2d(3).train()
    with torch.no_grad():
        norm.mean_weight.copy_(torch.tensor([-1e4, -1e4, 0.0]))
        norm.var_weight.copy_(torch.tensor([-1e4, -1e4, 0.0]))
    expected = F.batch_norm(x, None, None, training=True, eps=norm.eps)
    torch.testing.assert_close(norm(x), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(norm.running_mean, 0.1 * x.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        norm.mean_weight.copy_(torch.tensor([0.0, -1e4, -1e4]))
        norm.var_weight.copy_(torch.tensor([0.0, -1e4, -1e4]))
    torch.testing.assert_close(norm(x), F.instance_norm(x, eps=norm.eps), atol=1e-4, rtol=1e-4)
    norm.eval()  # the batch part now comes from the running statistics: a single image works
    assert torch.isfinite(norm(x[:1])).all()


def test_disk_kernel_and_edge_weights() -> None:
    kernel = disk_kernel(7)
    assert int((kernel > 0).sum()) == 29 and torch.isclose(kernel.sum(), torch.tensor(1.0))
    logits = torch.randn(1, 2, 20, 20)
    assert float(edge_loss(logits, torch.zeros(1, 20, 20, dtype=torch.long), 255)) == 0.0  # no boundary
    labels = torch.zeros(1, 20, 20, dtype=torch.long)
    labels[:, 5:15, 5:15] = 1
    # Only pixels within the disk radius of the square's boundary carry weight.
    confident = torch.zeros(1, 2, 20, 20)
    confident[:, 0] = 5.0  # predicts no-change everywhere
    centre_only = confident.clone()
    centre_only[:, 1, 9:11, 9:11] = 10.0  # fixing the square's deep interior changes nothing
    assert torch.isclose(edge_loss(confident, labels, 255), edge_loss(centre_only, labels, 255))
    edge_fixed = confident.clone()
    edge_fixed[:, 1, 5, 5:15] = 10.0  # fixing its boundary lowers the loss
    assert edge_loss(edge_fixed, labels, 255) < edge_loss(confident, labels, 255)
    ignored = labels.clone()
    ignored[:, 5, 5:15] = 255
    assert torch.isfinite(edge_loss(confident, ignored, 255))


def test_edge_loss_is_added_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("rdpnet", "tiny", edge_loss_weight=2.0)
    t1, t2 = _pair()
    labels = torch.zeros(2, 32, 32, dtype=torch.long)
    labels[:, 8:20, 10:24] = 1
    model.eval()
    with torch.no_grad():
        evaluation = model(t1, t2, labels=labels)
    torch.testing.assert_close(evaluation.loss, F.cross_entropy(evaluation.logits, labels))
    model.train()
    torch.manual_seed(1)
    training = model(t1, t2, labels=labels)
    expected = F.cross_entropy(training.logits, labels) + 2.0 * edge_loss(training.logits, labels, 255)
    torch.testing.assert_close(training.loss, expected)
    plain = build_model("rdpnet", "tiny").train()
    out = plain(t1, t2, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


def test_rdpnet_original_preset_uses_the_papers_losses() -> None:
    with torch.device("meta"):
        model = build_model("rdpnet", "original", num_channels=3)
    assert model.config.edge_loss_weight == 1.0 and model.config.loss == "ce+dice"
    with pytest.raises(ValueError, match="edge_loss_weight"):
        RDPNetConfig(edge_loss_weight=-1.0)


def test_idle_convs_stay_frozen_with_loading_info(tmp_path) -> None:
    build_model("hanet", "tiny", keep_idle_convs=True).save_pretrained(tmp_path)
    model, info = AutoModelForChangeDetection.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not any(p.requires_grad for p in model.idle_convs.parameters())


def test_rdpnet_learned_scale_and_norm_weights_survive_save_load(tmp_path) -> None:
    model = build_model("rdpnet", "tiny").eval()
    with torch.no_grad():
        model.head_scale.uniform_(-2, 2)
        model.mixers[0].norm1.mean_weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
        model.mixers[0].norm1.running_var.fill_(3.0)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForChangeDetection.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.head_scale, model.head_scale)
    torch.testing.assert_close(loaded.mixers[0].norm1.mean_weight, model.mixers[0].norm1.mean_weight)
    torch.testing.assert_close(loaded.mixers[0].norm1.running_var, model.mixers[0].norm1.running_var)
