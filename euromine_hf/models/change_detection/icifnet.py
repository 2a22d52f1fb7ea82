"""ICIF-Net (Feng, Xu, Jiang, Liu & Zheng, "ICIF-Net: Intra-Scale Cross-Interaction and
Inter-Scale Feature Fusion Network for Bitemporal Remote Sensing Images Change Detection",
IEEE TGRS 2022).

Each date passes two backbones, shared by both dates: a CNN (ResNet-18, layer1–layer3: 64, 128,
256 channels at strides 4, 8, 16) for local detail and a transformer (PVTv2-B1, stages 1–3: 64,
128, 320 channels at the same strides) for global context. Then, per date:

* **Intra-scale cross-interaction** (one module per level and date): both maps get a fixed 2-D
  sinusoidal position code and a 1×1 BN-ReLU projection to the transformer's width; one shared
  linear layer gives queries, keys and values of each; *factorized attention with convolutional
  relative position encoding* (CoaT's linear-cost attention: softmax(K)ᵀV per head, multiplied by
  Q, plus Q ⊙ depthwise-conv(V) with 3/5/7 windows over 2/3/3 of the 8 heads) is run twice,
  crossed — transformer queries over CNN keys/values ("global" stream) and CNN queries over
  transformer keys/values ("local" stream). A pre-activation bottleneck residual block fuses the
  two streams into the level's **cross feature**.
* **Inter-scale feature fusion**: the three cross features are decoded top-down by two attention-
  gated U-Net up-steps; the global and the local streams are each decoded top-down by two
  cross-level aggregation steps (the aggregation of :mod:`.aggregation`).

The absolute differences of the two dates' three stride-4 maps (global, local, cross), upsampled
×4, are classified by three 3×3 heads. Authors' code (``main_output="sum"``,
``auxiliary_losses=True``): the prediction is the sum of the three logits; the training loss is
CE(global) + CE(local) + 0.5·CE(cross) — the global stream's output is the main term, the other
two are :class:`Auxiliary` terms.

Framework quirks kept (EricYu97/UCD 6972640), the defaults and the ``paper`` preset:

* ``main_output="global"``: the framework returns the global stream's head (``map_x =
  final_2(|out2_g − out2_g_img2|)``) as ``main_predictions`` (``models/ICIFNet/ICIFNet.py:615``)
  and predicts from it alone.
* ``auxiliary_losses=False``: it trains that head alone, so the local and cross heads (and the
  cross features' top-down decoder) get no gradient.

Choices and facts from the reference code (the paper is silent or ambiguous):

* ``keep_unused_last_stage`` (``paper``: True): the reference builds the full PVTv2-B1 and *runs*
  its fourth stage, whose output is never used; that stage (7.46 × 2^20 parameters) is in the
  published count. We keep it built, so the module and the count match and a full PVTv2-B1
  checkpoint loads, but do not run it (same outputs, less compute). False drops it.
* Dead weights the reference builds but never runs are *not* built here: ResNet-18's 1000-class
  ``fc`` (layer4 is removed, so it has no input), three unused ``MultiHeadDense`` projections and
  an unused ``qkv`` layer in each interaction module. Together 1.90 × 2^20 parameters; our count
  is that much below the published 24.64 (see the test file for the exact figure).
* Dropout as in the reference: 2-D dropout (p = 0.1) on each fused cross feature and dropout
  (p = 0.1) after the attention's output projection.
* The two dates do not share the interaction and decoder modules (the reference keeps one set per
  date); only the backbones are Siamese. In training both dates pass each
  backbone one after the other (per-date BatchNorm statistics, ``fusion.run_per_date``).

Bands: the framework's copy ignores ``input_nc`` (``ICIFNet(num_classes=...)`` takes no band count:
ResNet-18 and PVTv2-B1 are built for 3 bands), so its 10-band version is not public. Ours builds
every first layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto them through
``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PvtV2Config, ResNetConfig

from euromine_hf.models.change_detection.aggregation import ChangeHead, TopDownDecoder, upsample_to
from euromine_hf.models.change_detection.fusion import run_per_date
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, nested_backbone_config
from euromine_hf.models.encoders import RESNET_VARIANTS, ResNetEncoder, resnet_variant_fields
from euromine_hf.models.encoders._transformers import stage_names
from euromine_hf.models.encoders.pvtv2 import PVTV2_VARIANTS, PvtV2Encoder
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model

#: Levels used (strides 4, 8, 16) from each backbone.
LEVELS = 3
_PVT_PER_STAGE = ("depths", "hidden_sizes", "num_attention_heads", "sr_ratios", "mlp_ratios", "patch_sizes", "strides")


def _cnn_defaults(variant: str) -> dict[str, Any]:
    """The ResNet variant's ``ResNetConfig`` fields, cut to the three stages ICIF-Net builds."""
    fields = resnet_variant_fields(variant)
    for key in ("depths", "hidden_sizes"):
        fields[key] = fields[key][:LEVELS]
    return fields


def _transformer_defaults(variant: str, stages: int) -> dict[str, Any]:
    """The PVTv2 variant's ``PvtV2Config`` per-stage fields (transformers' defaults where the
    variant does not set one), cut to ``stages`` stages."""
    fields = {key: list(getattr(PvtV2Config(), key)) for key in _PVT_PER_STAGE}
    fields.update(PVTV2_VARIANTS[variant])
    return {key: list(value)[:stages] for key, value in fields.items()}


class ICIFNetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`ICIFNetForChangeDetection`.

    Args:
        cnn_backbone: ResNet variant (``"resnet18"``); its first three stages are built.
        cnn_backbone_config: the CNN's transformers ``ResNetConfig``, or a dict of its fields
            changed from the variant's first three stages (ResNet-18: depths [2, 2, 2],
            hidden_sizes [64, 128, 256], basic blocks). Three stages; ``num_channels`` and
            ``out_features`` (all three) follow the model.
        transformer_backbone: PVTv2 variant (``"pvt-v2-b1"``).
        transformer_backbone_config: the transformer's ``PvtV2Config``, or a dict of its fields
            changed from the variant (PVTv2-B1: hidden_sizes [64, 128, 320, 512], depths
            [2, 2, 2, 2], heads [1, 2, 5, 8], sr_ratios [8, 4, 2, 1], mlp_ratios [8, 8, 4, 4]),
            cut to the stages built: four with ``keep_unused_last_stage``, else three (its
            per-stage lists then hold three entries). ``num_channels``, ``num_encoder_blocks``
            and ``out_features`` (every built stage) follow the model.
        keep_unused_last_stage: also build (not run) PVTv2's fourth stage (see the module docstring).
        num_heads: heads of the factorized cross-attention (8).
        position_windows: ``[window, heads]`` pairs of the convolutional relative position encoding
            (``[[3, 2], [5, 3], [7, 3]]``; the heads must sum to ``num_heads``).
        dropout: dropout of the fused cross features and of the attention output (0.1).
        head_channels: hidden width of the three classifier heads (64).
        deep_supervision_weights: loss weights of the local and the cross outputs relative to the
            global (main) output (``[1.0, 0.5]``, the authors' trainer).
        main_output: the prediction: ``"global"`` (the framework's: the global head) or ``"sum"``
            (the authors': the sum of the three heads' logits).
        auxiliary_losses: add the local and cross terms to the training loss
            (False: the benchmark's framework trains and scores the main prediction only, ``model.py:209-215``
            of EricYu97/UCD 6972640; True: the authors' loss).
    """

    MAIN_OUTPUTS = ("global", "sum")

    model_type = "euromine-icifnet"
    backbone_config_keys = ("cnn_backbone_config", "transformer_backbone_config")
    removed_fields = {
        "cnn_overrides": "give these fields in cnn_backbone_config (the CNN's transformers ResNetConfig)",
        "transformer_overrides": "give these fields in transformer_backbone_config (the transformer's PvtV2Config)",
    }

    def __init__(
        self,
        cnn_backbone: str = "resnet18",
        cnn_backbone_config: ResNetConfig | Mapping[str, Any] | None = None,
        transformer_backbone: str = "pvt-v2-b1",
        transformer_backbone_config: PvtV2Config | Mapping[str, Any] | None = None,
        keep_unused_last_stage: bool = True,
        num_heads: int = 8,
        position_windows: list[list[int]] | None = None,
        dropout: float = 0.1,
        head_channels: int = 64,
        deep_supervision_weights: list[float] | None = None,
        main_output: str = "global",
        auxiliary_losses: bool = False,
        num_channels: int = 10,
        **kwargs: Any,
    ) -> None:
        if cnn_backbone not in RESNET_VARIANTS:
            raise ValueError(f"ICIFNetConfig.cnn_backbone must be one of {sorted(RESNET_VARIANTS)}; got {cnn_backbone!r}")
        if transformer_backbone not in PVTV2_VARIANTS:
            raise ValueError(
                f"ICIFNetConfig.transformer_backbone must be one of {sorted(PVTV2_VARIANTS)}; got {transformer_backbone!r}"
            )
        windows = [[3, 2], [5, 3], [7, 3]] if position_windows is None else [[int(w), int(h)] for w, h in position_windows]
        if sum(h for _, h in windows) != int(num_heads) or any(w < 1 or w % 2 == 0 or h < 1 for w, h in windows):
            raise ValueError(
                f"ICIFNetConfig.position_windows must be [odd window, heads] pairs whose heads sum to num_heads="
                f"{num_heads}; got {windows}"
            )
        weights = [1.0, 0.5] if deep_supervision_weights is None else [float(w) for w in deep_supervision_weights]
        if len(weights) != 2:
            raise ValueError(f"ICIFNetConfig.deep_supervision_weights must hold 2 weights; got {weights}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"ICIFNetConfig.dropout must be in [0, 1); got {dropout}")
        if int(head_channels) < 1:
            raise ValueError(f"ICIFNetConfig.head_channels must be >= 1; got {head_channels}")
        self.cnn_backbone = cnn_backbone
        self.transformer_backbone = transformer_backbone
        self.keep_unused_last_stage = bool(keep_unused_last_stage)
        self.cnn_backbone_config = nested_backbone_config(
            cnn_backbone_config, ResNetConfig, _cnn_defaults(cnn_backbone),
            field="ICIFNetConfig.cnn_backbone_config", num_channels=int(num_channels),
            fixed=lambda fields: {"out_features": stage_names(len(fields["depths"]))},
        )
        for key in ("depths", "hidden_sizes"):
            if len(getattr(self.cnn_backbone_config, key)) != LEVELS:
                raise ValueError(
                    f"ICIFNetConfig.cnn_backbone_config.{key}: expected {LEVELS} stages (layer1–layer3), "
                    f"got {getattr(self.cnn_backbone_config, key)}"
                )
        stages = LEVELS + 1 if self.keep_unused_last_stage else LEVELS
        self.transformer_backbone_config = nested_backbone_config(
            transformer_backbone_config, PvtV2Config, _transformer_defaults(transformer_backbone, stages),
            field="ICIFNetConfig.transformer_backbone_config", num_channels=int(num_channels),
            fixed={"num_encoder_blocks": stages, "out_features": stage_names(stages)},
        )
        for key in _PVT_PER_STAGE:
            if len(getattr(self.transformer_backbone_config, key)) != stages:
                raise ValueError(
                    f"ICIFNetConfig.transformer_backbone_config.{key}: expected {stages} stages "
                    f"(keep_unused_last_stage={self.keep_unused_last_stage}), "
                    f"got {getattr(self.transformer_backbone_config, key)}"
                )
        self.num_heads = int(num_heads)
        self.position_windows = windows
        self.dropout = float(dropout)
        self.head_channels = int(head_channels)
        self.deep_supervision_weights = weights
        if main_output not in self.MAIN_OUTPUTS:
            raise ValueError(f"ICIFNetConfig.main_output must be one of {self.MAIN_OUTPUTS}; got {main_output!r}")
        self.main_output = main_output
        self.auxiliary_losses = bool(auxiliary_losses)
        super().__init__(num_channels=num_channels, **kwargs)


def sinusoidal_position_2d(channels: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Fixed 2-D sine/cosine code (1, channels, H, W): the first half of the channels encodes the
    row, the second half the column (sin and cos of each frequency, frequencies 10000^(−2i/d))."""
    half = math.ceil(channels / 2)
    frequencies = 1.0 / (10000 ** (torch.arange(0, half, 2, device=like.device, dtype=torch.float32) / half))

    def encode(length: int) -> torch.Tensor:  # (length, 2·len(frequencies))
        angles = torch.arange(length, device=like.device, dtype=torch.float32)[:, None] * frequencies[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    rows, columns = encode(height), encode(width)
    code = torch.zeros(height, width, 2 * half, device=like.device, dtype=torch.float32)
    code[:, :, :half] = rows[:, None, :half]
    code[:, :, half:] = columns[None, :, :half]
    return code[:, :, :channels].permute(2, 0, 1).unsqueeze(0).to(like.dtype)


class ConvPositionEncoding(nn.Module):
    """CoaT's convolutional relative position encoding: Q ⊙ depthwise-conv(V), windows per head group."""

    def __init__(self, head_dim: int, windows: list[list[int]]) -> None:
        super().__init__()
        self.splits = [heads * head_dim for _, heads in windows]
        self.convs = nn.ModuleList(
            nn.Conv2d(split, split, window, padding=window // 2, groups=split)
            for (window, _), split in zip(windows, self.splits)
        )

    def forward(self, query: torch.Tensor, value: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        batch, heads, tokens, head_dim = value.shape
        image = value.transpose(2, 3).reshape(batch, heads * head_dim, *size)
        convolved = torch.cat([conv(part) for conv, part in zip(self.convs, image.split(self.splits, dim=1))], dim=1)
        return query * convolved.reshape(batch, heads, head_dim, tokens).transpose(2, 3)


class FactorizedCrossAttention(nn.Module):
    """Factorized attention (linear in the number of tokens) + conv position encoding + output projection."""

    def __init__(self, dim: int, num_heads: int, windows: list[list[int]], dropout: float) -> None:
        super().__init__()
        self.scale = (dim // num_heads) ** -0.5
        self.position = ConvPositionEncoding(dim // num_heads, windows)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """q, k, v: (B, heads, N, head_dim) → (B, N, dim)."""
        context = key.softmax(dim=2).transpose(2, 3) @ value  # (B, h, d, d): softmax over the tokens
        out = self.scale * (query @ context) + self.position(query, value, size)
        return self.dropout(self.proj(out.transpose(1, 2).flatten(2)))


class PreActBottleneck(nn.Module):
    """BN-ReLU-1×1 → BN-ReLU-3×3 → BN-ReLU-1×1 (widths out/2, out/2, out) plus a 1×1 skip projection."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = max(out_channels // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, out_channels, 1),
        )  # fmt: skip
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class CrossInteraction(nn.Module):
    """Intra-scale cross-interaction of one date's CNN map and transformer map at one level.

    Returns (cross feature with ``out_channels``, global stream, local stream), the streams with
    the transformer's width.
    """

    def __init__(self, cnn_channels: int, transformer_channels: int, out_channels: int, config: ICIFNetConfig) -> None:
        super().__init__()
        dim = transformer_channels
        if dim % config.num_heads:
            raise ValueError(f"ICIF-Net: transformer width {dim} is not divisible by num_heads={config.num_heads}")
        self.num_heads = config.num_heads
        self.project_transformer = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.project_cnn = nn.Sequential(nn.Conv2d(cnn_channels, dim, 1), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention = FactorizedCrossAttention(dim, config.num_heads, config.position_windows, config.dropout)
        self.fuse = PreActBottleneck(2 * dim, out_channels)
        self.dropout = nn.Dropout2d(config.dropout)

    def _qkv(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, dim = tokens.shape
        return self.qkv(tokens).view(batch, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)

    def forward(
        self, cnn: torch.Tensor, transformer: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, _, height, width = transformer.shape
        cnn = cnn + sinusoidal_position_2d(cnn.shape[1], height, width, cnn)
        transformer = transformer + sinusoidal_position_2d(transformer.shape[1], height, width, transformer)
        q_local, k_local, v_local = self._qkv(self.project_cnn(cnn).flatten(2).transpose(1, 2))
        q_global, k_global, v_global = self._qkv(self.project_transformer(transformer).flatten(2).transpose(1, 2))
        size = (height, width)
        streams = [
            self.attention(q_global, k_local, v_local, size).transpose(1, 2).reshape(batch, -1, height, width),
            self.attention(q_local, k_global, v_global, size).transpose(1, 2).reshape(batch, -1, height, width),
        ]
        fused = self.dropout(self.fuse(torch.cat(streams, dim=1)))
        return fused, streams[0], streams[1]


class AttentionGate(nn.Module):
    """Attention U-Net gate: the skip map ``x`` re-weighted by σ(ψ(ReLU(W_g g + W_x x)))."""

    def __init__(self, gate_channels: int, skip_channels: int, inner_channels: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(gate_channels, inner_channels, 1), nn.BatchNorm2d(inner_channels))
        self.skip = nn.Sequential(nn.Conv2d(skip_channels, inner_channels, 1), nn.BatchNorm2d(inner_channels))
        self.psi = nn.Sequential(nn.Conv2d(inner_channels, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip * self.psi(F.relu(self.gate(gate) + self.skip(skip)))


class GatedUp(nn.Module):
    """×2 bilinear upsampling, attention-gated skip, concatenation, residual double 3×3 convolution."""

    def __init__(self, deep_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.gate = AttentionGate(deep_channels, skip_channels, out_channels)
        in_channels = deep_channels + skip_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
        )  # fmt: skip
        self.identity = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        x = torch.cat([self.gate(deep, skip), deep], dim=1)
        return F.relu(self.body(x) + self.identity(x))


class DateBranch(nn.Module):
    """One date's interaction and fusion: three cross-interactions, the cross decoder, two stream decoders."""

    def __init__(self, cnn_channels: list[int], transformer_channels: list[int], config: ICIFNetConfig) -> None:
        super().__init__()
        self.interaction = nn.ModuleList(
            CrossInteraction(c, t, c, config) for c, t in zip(cnn_channels, transformer_channels)
        )
        self.up_8 = GatedUp(cnn_channels[2], cnn_channels[1], cnn_channels[1])
        self.up_4 = GatedUp(cnn_channels[1], cnn_channels[0], cnn_channels[0])
        self.global_decoder = TopDownDecoder(transformer_channels)
        self.local_decoder = TopDownDecoder(transformer_channels)

    def forward(self, cnn: list[torch.Tensor], transformer: list[torch.Tensor]) -> list[torch.Tensor]:
        """→ [global, local, cross] maps at stride 4."""
        cross, global_stream, local_stream = zip(*(m(c, t) for m, c, t in zip(self.interaction, cnn, transformer)))
        fused = self.up_4(self.up_8(cross[2], cross[1]), cross[0])
        return [self.global_decoder(list(global_stream))[0], self.local_decoder(list(local_stream))[0], fused]


class ICIFNetForChangeDetection(EuroMineChangeDetectionModel):
    """ICIF-Net: ResNet-18 + PVTv2-B1, cross-interaction per scale and date, inter-scale fusion, three heads."""

    config_class = ICIFNetConfig
    config: ICIFNetConfig

    def __init__(self, config: ICIFNetConfig) -> None:
        super().__init__(config)
        self.cnn = ResNetEncoder(config.cnn_backbone_config)
        self.transformer = PvtV2Encoder(config.transformer_backbone_config)
        cnn_channels, transformer_channels = list(self.cnn.channels), list(self.transformer.channels[:LEVELS])
        if self.cnn.reductions[:LEVELS] != self.transformer.reductions[:LEVELS]:
            raise ValueError(
                f"ICIF-Net pairs the backbones level by level; strides differ: {self.cnn.reductions} vs "
                f"{self.transformer.reductions}"
            )
        self.branches = nn.ModuleList(DateBranch(cnn_channels, transformer_channels, config) for _ in range(2))
        width = config.head_channels
        self.global_head = ChangeHead(transformer_channels[0], width, config.num_labels)
        self.local_head = ChangeHead(transformer_channels[0], width, config.num_labels)
        self.cross_head = ChangeHead(cnn_channels[0], width, config.num_labels)
        self.post_init()

    def _outputs(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> list[torch.Tensor]:
        """[global, local, cross] change logits at input resolution."""
        batch = pixel_values_t1.shape[0]
        # per-date BatchNorm statistics in training (fusion.run_per_date); the idle fourth PVT stage is skipped
        cnn = run_per_date(self.cnn, pixel_values_t1, pixel_values_t2, self.training)
        transformer = run_per_date(
            lambda pixels: self.transformer.run_stages(pixels, LEVELS), pixel_values_t1, pixel_values_t2, self.training
        )
        maps = [
            branch([c[index * batch : (index + 1) * batch] for c in cnn],
                   [t[index * batch : (index + 1) * batch] for t in transformer])
            for index, branch in enumerate(self.branches)
        ]  # fmt: skip
        size = pixel_values_t1.shape[-2:]
        heads = (self.global_head, self.local_head, self.cross_head)
        return [head(upsample_to((a - b).abs(), size)) for head, a, b in zip(heads, maps[0], maps[1])]

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: main prediction only
            return self.detect(pixel_values_t1, pixel_values_t2), []
        main, *others = self._outputs(pixel_values_t1, pixel_values_t2)
        weights = self.config.deep_supervision_weights
        return main, [Auxiliary(weight, logits, "labels") for weight, logits in zip(weights, others)]

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        global_logits, local_logits, cross_logits = self._outputs(pixel_values_t1, pixel_values_t2)
        if self.config.main_output == "global":
            return global_logits
        return global_logits + local_logits + cross_logits


register_model(
    "icifnet",
    "ICIFNet",
    ICIFNetConfig,
    ICIFNetForChangeDetection,
    task="change_detection",
    paper={
        "cnn_backbone": "resnet18", "transformer_backbone": "pvt-v2-b1", "keep_unused_last_stage": True,
        "main_output": "global", "auxiliary_losses": False,
    },
    tiny={
        "cnn_backbone": "resnet18",
        "cnn_backbone_config": {"depths": [1, 1, 1], "hidden_sizes": [8, 8, 8], "embedding_size": 4},
        "transformer_backbone": "pvt-v2-b0",
        "transformer_backbone_config": {
            "depths": [1, 1, 1], "hidden_sizes": [8, 8, 8], "num_attention_heads": [1, 1, 1], "mlp_ratios": [1, 1, 1],
        },  # three stages: keep_unused_last_stage is False
        "keep_unused_last_stage": False,
        "head_channels": 8,
    },
    published_params=24.64,
)
