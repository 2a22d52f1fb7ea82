"""RDP-Net (Chen, Pu, Yang, Tang & Xu, "RDP-Net: Region Detail Preserving Network for Change
Detection", IEEE TGRS 2022).

A light, early-fusion network that never loses resolution inside its trunk: the two dates are
stacked (2C channels) and cut into 8×8 patches by a stride-8 convolution to 384 channels; six
*mixer* blocks then alternate a depthwise 9×9 convolution (spatial mixing, with a residual) and a
pointwise 1×1 convolution (channel mixing), each followed by switchable normalisation and GELU.
Every mixer's output is also sent to its own *detail head* — a 1×1 convolution to 32 channels and a
stride-8 8×8 transposed convolution back to full resolution — so shallow, detail-rich and deep,
context-rich predictions both reach the output: the six 32-channel maps are concatenated, scaled
by a learned per-channel weight and classified by a 1×1 convolution. ≈ 1.62 × 2^20 parameters
with RGB pairs (the benchmark's figure; the paper says 1.70 M).

**Switchable normalisation** (Luo et al. 2019), used throughout as in the authors' code, normalises
with a softmax-weighted mix of instance, layer and batch statistics (three learned weights each
for means and variances). Here variances are population variances throughout (so the layer and
batch moments derived from instance moments are exact), and the running variance starts at 1
like BatchNorm's (the reference starts it at 0).

**Edge loss** (the paper's detail loss): cross-entropy of each pixel weighted by how far its label
is from the mean label over a disk of diameter 7 around it, ``|y − disk_mean₇(y)|`` — zero inside
uniform regions, large on boundaries and on small objects — so errors on details cost more.
``edge_loss_weight`` adds ``weight × edge loss`` to the training loss (training only, so
evaluation losses stay comparable across models). The benchmark's framework trains RDP-Net with
cross-entropy alone, so the ``paper`` preset has weight 0; the ``original`` preset adds the edge
loss with weight 1 to cross-entropy + Dice. Choice: the authors' released loss function names a
focal and a Dice term beside the edge loss (both left commented out there); we keep Dice and use
cross-entropy, the loss all our models share, in place of the focal term.

Not implemented here: the paper's *efficient training strategy*, which scores each training
sample's importance during the warm-up epochs and then samples non-uniformly by that score (easy
to hard). It is a sampling schedule of the training loop, not a part of the model; our Trainer
samples uniformly.

Inputs whose sides are not multiples of 8 are padded (replicate) to the next multiple and the
logits cropped back, so any size works.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import SemanticSegmenterOutput

from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model


class RDPNetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`RDPNetForChangeDetection`.

    Args:
        hidden_size: channels of the patch embedding and mixers (384).
        patch_size: side of the embedding patches and of the heads' upsampling (8).
        num_mixers: mixer blocks, each with its own detail head (6).
        mixer_kernel: kernel of the depthwise convolution (9).
        head_channels: channels of each detail head (32).
        edge_loss_weight: weight of the edge (detail) loss added to the training loss (0 = off).
        edge_kernel: diameter of the disk the edge loss averages labels over (7).
        loss: ``"ce"`` (benchmark) or ``"ce+dice"`` / ``"dice"``.
    """

    model_type = "euromine-rdpnet"

    def __init__(
        self,
        hidden_size: int = 384,
        patch_size: int = 8,
        num_mixers: int = 6,
        mixer_kernel: int = 9,
        head_channels: int = 32,
        edge_loss_weight: float = 0.0,
        edge_kernel: int = 7,
        **kwargs: Any,
    ) -> None:
        for name, value in (("hidden_size", hidden_size), ("patch_size", patch_size), ("num_mixers", num_mixers),
                            ("head_channels", head_channels)):
            if int(value) < 1:
                raise ValueError(f"RDPNetConfig.{name} must be >= 1; got {value}")
        for name, value in (("mixer_kernel", mixer_kernel), ("edge_kernel", edge_kernel)):
            if int(value) < 1 or int(value) % 2 == 0:
                raise ValueError(f"RDPNetConfig.{name} must be an odd number >= 1; got {value}")
        if not float(edge_loss_weight) >= 0.0:
            raise ValueError(f"RDPNetConfig.edge_loss_weight must be >= 0; got {edge_loss_weight}")
        self.hidden_size = int(hidden_size)
        self.patch_size = int(patch_size)
        self.num_mixers = int(num_mixers)
        self.mixer_kernel = int(mixer_kernel)
        self.head_channels = int(head_channels)
        self.edge_loss_weight = float(edge_loss_weight)
        self.edge_kernel = int(edge_kernel)
        super().__init__(**kwargs)


class SwitchableNorm2d(nn.Module):
    """Switchable normalisation: softmax-weighted instance, layer and batch statistics.

    Training uses the batch's statistics and updates running ones (``running = m·running +
    (1 − m)·batch``, m = 0.9 as in the authors' code); evaluation uses the running ones for the
    batch part. Instance and layer parts always come from the input itself.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.9) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.mean_weight = nn.Parameter(torch.ones(3))
        self.var_weight = nn.Parameter(torch.ones(3))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        nn.init.ones_(self.mean_weight)
        nn.init.ones_(self.var_weight)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, channels = hidden.shape[:2]
        flat = hidden.reshape(batch, channels, -1)
        var_in, mean_in = torch.var_mean(flat, dim=-1, correction=0, keepdim=True)  # (B, C, 1)
        square_in = var_in + mean_in**2  # E[x²] per instance and channel
        mean_ln = mean_in.mean(dim=1, keepdim=True)
        var_ln = square_in.mean(dim=1, keepdim=True) - mean_ln**2
        if self.training:
            mean_bn = mean_in.mean(dim=0, keepdim=True)
            var_bn = square_in.mean(dim=0, keepdim=True) - mean_bn**2
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean_bn.flatten())
                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * var_bn.flatten())
        else:
            mean_bn = self.running_mean.view(1, channels, 1)
            var_bn = self.running_var.view(1, channels, 1)
        mw, vw = self.mean_weight.softmax(dim=0), self.var_weight.softmax(dim=0)
        mean = mw[0] * mean_in + mw[1] * mean_ln + mw[2] * mean_bn
        var = vw[0] * var_in + vw[1] * var_ln + vw[2] * var_bn
        normed = (flat - mean) / (var.clamp_min(0) + self.eps).sqrt()
        return normed.reshape_as(hidden) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class Mixer(nn.Module):
    """Depthwise k×k conv → SN → GELU, + input, then pointwise 1×1 conv → SN → GELU."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.norm1 = SwitchableNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1)
        self.norm2 = SwitchableNorm2d(channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(self.norm1(self.depthwise(hidden))) + hidden
        return F.gelu(self.norm2(self.pointwise(hidden)))


class DetailHead(nn.Module):
    """1×1 conv to the head width → SN → GELU → stride-p p×p transposed conv → SN → GELU."""

    def __init__(self, in_channels: int, channels: int, patch_size: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, channels, 1)
        self.norm1 = SwitchableNorm2d(channels)
        self.up = nn.ConvTranspose2d(channels, channels, patch_size, stride=patch_size)
        self.norm2 = SwitchableNorm2d(channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.norm2(self.up(F.gelu(self.norm1(self.reduce(hidden))))))


def disk_kernel(size: int) -> torch.Tensor:
    """A normalised disk of diameter ``size`` (pixel centres within radius (size−1)/2), (1,1,k,k)."""
    centre = (size - 1) / 2
    coords = torch.arange(size, dtype=torch.float32) - centre
    disk = (coords.view(-1, 1) ** 2 + coords.view(1, -1) ** 2 <= centre**2).float()
    return (disk / disk.sum()).view(1, 1, size, size)


def edge_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, kernel: int = 7) -> torch.Tensor:
    """RDP-Net's edge loss: mean over valid pixels of ``|y − disk_mean(y)| × CE(logits, y)``.

    The disk mean pads with zeros (as the authors' code does), so change touching the image
    border also counts as boundary. Ignored pixels count as no-change in the disk mean and carry
    no loss.
    """
    valid = labels != ignore_index
    target = (labels == 1).float().unsqueeze(1)
    local_mean = F.conv2d(target, disk_kernel(kernel).to(target), padding=kernel // 2)
    weight = (target - local_mean).abs().squeeze(1) * valid
    pixel_ce = F.cross_entropy(logits.float(), labels.long().masked_fill(~valid, 0), reduction="none")
    return (weight * pixel_ce).sum() / valid.sum().clamp_min(1)


class RDPNetForChangeDetection(EuroMineChangeDetectionModel):
    """RDP-Net: early-fusion patch embedding, mixer trunk at stride 8, one detail head per mixer."""

    _no_split_modules = ("Mixer",)

    config_class = RDPNetConfig
    config: RDPNetConfig

    def __init__(self, config: RDPNetConfig) -> None:
        super().__init__(config)
        hidden, patch = config.hidden_size, config.patch_size
        self.embedding = nn.Conv2d(2 * config.num_channels, hidden, patch, stride=patch)
        self.embedding_norm = SwitchableNorm2d(hidden)
        self.mixers = nn.ModuleList(Mixer(hidden, config.mixer_kernel) for _ in range(config.num_mixers))
        self.heads = nn.ModuleList(
            DetailHead(hidden, config.head_channels, patch) for _ in range(config.num_mixers)
        )
        self.head_scale = nn.Parameter(torch.ones(config.num_mixers * config.head_channels))
        self.classifier = nn.Conv2d(config.num_mixers * config.head_channels, config.num_labels, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, SwitchableNorm2d):
            module.reset_parameters()
        elif module is getattr(self, "classifier", None):
            init_classifier(module)
        elif module is self:
            # A learned per-channel scale in front of a linear classifier: start at 1 (identity);
            # the authors' random normal start only adds noise a 1×1 convolution could absorb.
            nn.init.ones_(self.head_scale)

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        height, width = pixel_values_t1.shape[-2:]
        patch = self.config.patch_size
        pad_h, pad_w = -height % patch, -width % patch
        pair = torch.cat([pixel_values_t1, pixel_values_t2], dim=1)
        if pad_h or pad_w:
            pair = F.pad(pair, [0, pad_w, 0, pad_h], mode="replicate")
        hidden = F.gelu(self.embedding_norm(self.embedding(pair)))
        details = []
        for mixer, head in zip(self.mixers, self.heads):
            hidden = mixer(hidden)
            details.append(head(hidden))
        details = torch.cat(details, dim=1) * self.head_scale.view(1, -1, 1, 1)
        return self.classifier(details)[..., :height, :width]

    def _output(
        self,
        logits: torch.Tensor,
        auxiliary: Sequence[Auxiliary],
        size: Sequence[int],
        targets: dict[str, torch.Tensor | None],
    ) -> SemanticSegmenterOutput:
        """The common output path, plus ``edge_loss_weight ×`` the edge loss while training.

        Hooked here rather than in ``forward`` so the forward signature (which Trainer inspects)
        stays the base class's.
        """
        output = super()._output(logits, auxiliary, size, targets)
        labels, weight = targets.get("labels"), self.config.edge_loss_weight
        if labels is not None and self.training and weight > 0:
            extra = edge_loss(output.logits, labels, self.config.ignore_index, self.config.edge_kernel)
            output.loss = output.loss + weight * extra
        return output

register_model(
    "rdpnet",
    "RDPNet",
    RDPNetConfig,
    RDPNetForChangeDetection,
    task="change_detection",
    paper={"hidden_size": 384, "head_channels": 32, "num_mixers": 6, "edge_loss_weight": 0.0},
    tiny={"hidden_size": 16, "head_channels": 4, "num_mixers": 6, "edge_loss_weight": 0.0},
    presets={
        "original": {
            "hidden_size": 384, "head_channels": 32, "num_mixers": 6, "edge_loss_weight": 1.0, "loss": "ce+dice",
        }
    },
    published_params=1.62,
)

__all__ = ["RDPNetConfig", "RDPNetForChangeDetection", "SwitchableNorm2d", "disk_kernel", "edge_loss"]
