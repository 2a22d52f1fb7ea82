"""ChangeFormer (Bandara & Patel, "A Transformer-Based Siamese Network for Change Detection",
IGARSS 2022), in its published V6 configuration.

**Encoder** (shared by both dates): a hierarchical transformer of four stages at strides 4, 8, 16,
32 (widths 64/128/320/512, depths 3/3/4/3, heads 1/2/4/8). Each stage starts with an overlapping
patch embedding (a strided convolution, then LayerNorm), followed by blocks of efficient
self-attention — keys and values come from a map shrunk by a strided convolution of ratio 8/4/2/1
(sequence reduction) — and a Mix-FFN (linear, 3×3 depthwise convolution, GELU, linear), with
pre-norm residuals, stochastic depth and a LayerNorm at the stage end. V6 uses 7×7 kernels for
all four patch embeddings (SegFormer's MiT uses 3×3 after the first), which is where most of its
41 M parameters sit.

**Decoder**: per scale, both dates' features are projected to 256 channels by a shared linear
layer ("MLP"), concatenated and passed through a difference module (3×3 conv, ReLU, BN, 3×3 conv,
ReLU); going from deep to shallow, each scale's difference map adds the ×2-upsampled map of the
scale below. A small prediction head (3×3 conv, ReLU, BN, 3×3 conv) reads each scale's map (the
deep-supervision outputs). The four maps, upsampled to stride 4, are concatenated and fused by a
1×1 convolution + BN; two ×2 transposed convolutions, each followed by a residual block, bring the
result to full resolution, where a 3×3 convolution gives the change logits. Training loss, as the
reference trains V6 (``multi_scale_train``): cross-entropy of the final logits plus
0.5/0.5/0.5/0.8 × cross-entropy of the stride-32/16/8/4 predictions.

Differences from the reference code, and why:

* The encoder is transformers' ``SegformerModel`` configured with V6's widths, depths, heads,
  reduction ratios, 7×7 patch embeddings and its dropouts (0.1 hidden, 0.1 attention, 0.1 drop
  path): the same layers and parameter count; its LayerNorms use eps 1e-5 where the reference's
  blocks use 1e-6.
* Deep-supervision predictions are upsampled to the labels (the model base's one rule for
  auxiliary terms), where the reference instead downsamples the labels (nearest) to each
  prediction.
* Upsampling between scales targets the next map's size rather than a fixed ×2, so it also holds
  for input sizes that are not multiples of 32.

Framework quirk kept (EricYu97/UCD 6972640), the default and the ``paper`` preset:
``auxiliary_losses=False`` — the framework trains and scores ``main_predictions`` only (its
auxiliary losses are commented out, ``model.py:209-215``), so the per-scale prediction heads get no
gradient; ``auxiliary_losses=True`` restores the authors' deep supervision
(``deep_supervision_weights``).

Bands: the framework's copy ignores ``input_nc`` (``ChangeFormerV6(input_nc=...)`` does not pass it
to its encoder (``in_chans=3``)), so its 10-band version is not public. Ours builds every first
layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto them through
``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import SegformerConfig, SegformerModel

from euromine_hf.models.change_detection.fusion import SiameseEncoder
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, nested_backbone_config
from euromine_hf.models.encoders.base import Encoder
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model

#: ``SegformerConfig`` fields of ChangeFormer V6's encoder (the reference's ``EncoderTransformer_v3``):
#: MiT-like stages with 7×7 patch embeddings throughout and 0.1 dropouts.
CHANGEFORMER_V6_ENCODER: dict[str, Any] = {
    "hidden_sizes": [64, 128, 320, 512],
    "depths": [3, 3, 4, 3],
    "num_attention_heads": [1, 2, 4, 8],
    "mlp_ratios": [4, 4, 4, 4],
    "sr_ratios": [8, 4, 2, 1],
    "patch_sizes": [7, 7, 7, 7],
    "strides": [4, 2, 2, 2],
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "drop_path_rate": 0.1,
}

_PER_STAGE = ("hidden_sizes", "depths", "num_attention_heads", "mlp_ratios", "sr_ratios", "patch_sizes", "strides")
_ENCODER_FIELDS = ("embed_dims", "depths", "num_heads", "mlp_ratios", "sr_ratios", "patch_sizes", "strides",
                   "hidden_dropout", "attention_dropout", "drop_path_rate")


class ChangeFormerConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`ChangeFormerForChangeDetection` (defaults: ChangeFormer V6).

    Args:
        backbone_config: the encoder's transformers ``SegformerConfig``, or a dict of its fields
            changed from V6's (``hidden_sizes`` [64,128,320,512], ``depths`` [3,3,4,3],
            ``num_attention_heads`` [1,2,4,8], ``mlp_ratios`` [4]*4, ``sr_ratios`` [8,4,2,1],
            ``patch_sizes`` [7]*4, ``strides`` [4,2,2,2], hidden/attention dropout and drop path
            0.1). ``num_channels``, ``num_encoder_blocks`` (= ``len(depths)``) and
            ``reshape_last_stage`` (True) follow the model.
        decoder_dim: width of the decoder's projections and difference maps (256).
        deep_supervision_weights: loss weights of the per-scale predictions, deepest first
            (0.5, 0.5, 0.5, 0.8); the final logits weigh 1. Empty: no deep supervision.
        auxiliary_losses: add the per-scale deep-supervision terms to the training loss (False: the
            benchmark's framework trains and scores the main prediction only, ``model.py:209-215`` of
            EricYu97/UCD 6972640; True: the original paper's / authors' loss).
    """

    model_type = "euromine-changeformer"
    backbone_config_keys = ("backbone_config",)
    removed_fields = {
        name: "give it inside backbone_config (the encoder's transformers SegformerConfig)" for name in _ENCODER_FIELDS
    }

    def __init__(
        self,
        backbone_config: SegformerConfig | Mapping[str, Any] | None = None,
        decoder_dim: int = 256,
        deep_supervision_weights: Sequence[float] = (0.5, 0.5, 0.5, 0.8),
        auxiliary_losses: bool = False,
        num_channels: int = 10,
        **kwargs: Any,
    ) -> None:
        field = "ChangeFormerConfig.backbone_config"
        self.backbone_config = nested_backbone_config(
            backbone_config, SegformerConfig, CHANGEFORMER_V6_ENCODER, field=field, num_channels=int(num_channels),
            fixed=lambda fields: {"num_encoder_blocks": len(fields["depths"]), "reshape_last_stage": True},
        )
        encoder = self.backbone_config
        lengths = {name: len(getattr(encoder, name)) for name in _PER_STAGE}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"{field}: per-stage fields must have one entry per stage; got lengths "
                + ", ".join(f"{name}={length}" for name, length in lengths.items())
            )
        for dim, heads in zip(encoder.hidden_sizes, encoder.num_attention_heads):
            if heads < 1 or dim % heads:
                raise ValueError(f"{field}: hidden size {dim} is not divisible by its {heads} attention heads")
        self.decoder_dim = int(decoder_dim)
        self.auxiliary_losses = bool(auxiliary_losses)
        self.deep_supervision_weights = [float(w) for w in deep_supervision_weights]
        stages = len(encoder.depths)
        if self.deep_supervision_weights and len(self.deep_supervision_weights) != stages:
            raise ValueError(
                f"ChangeFormerConfig.deep_supervision_weights needs one weight per stage ({stages}) "
                f"or none; got {self.deep_supervision_weights}"
            )
        super().__init__(num_channels=num_channels, **kwargs)


class HierarchicalTransformerEncoder(Encoder):
    """transformers' ``SegformerModel`` under the encoder contract: one (B, C, H, W) map per stage."""

    _no_split_modules = ("SegformerLayer",)

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        self.transformer = SegformerModel(config)
        self.channels = list(config.hidden_sizes)
        self.reductions, reduction = [], 1
        for stride in config.strides:
            reduction *= stride
            self.reductions.append(reduction)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        return list(self.transformer(pixel_values, output_hidden_states=True).hidden_states)


def difference_module(in_channels: int, out_channels: int) -> nn.Sequential:
    """ChangeFormer's convolutional difference module on [date 1, date 2]."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_channels),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
    )


def prediction_head(in_channels: int, num_labels: int) -> nn.Sequential:
    """Per-scale prediction of the deep-supervision outputs."""
    return nn.Sequential(
        nn.Conv2d(in_channels, num_labels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(num_labels),
        nn.Conv2d(num_labels, num_labels, 3, padding=1),
    )


class ResidualBlock(nn.Module):
    """x + 0.1 · conv(ReLU(conv(x))): the decoder's refinement after each ×2 upsampling."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.conv2(F.relu(self.conv1(x)))


class ChangeFormerDecoder(nn.Module):
    """MLP projections, difference modules per scale, multi-scale fusion, ×4 upsampling head."""

    def __init__(self, in_channels: Sequence[int], dim: int, num_labels: int) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(c, dim) for c in in_channels)
        self.differences = nn.ModuleList(difference_module(2 * dim, dim) for _ in in_channels)
        self.predictions = nn.ModuleList(prediction_head(dim, num_labels) for _ in in_channels)
        self.fuse = nn.Sequential(nn.Conv2d(dim * len(in_channels), dim, 1), nn.BatchNorm2d(dim))
        self.up_2x = nn.ConvTranspose2d(dim, dim, kernel_size=4, stride=2, padding=1)
        self.refine_2x = ResidualBlock(dim)
        self.up_1x = nn.ConvTranspose2d(dim, dim, kernel_size=4, stride=2, padding=1)
        self.refine_1x = ResidualBlock(dim)
        self.classifier = nn.Conv2d(dim, num_labels, 3, padding=1)

    @staticmethod
    def _project(linear: nn.Linear, features: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = features.shape
        tokens = linear(features.flatten(2).transpose(1, 2))
        return tokens.transpose(1, 2).reshape(batch, -1, height, width)

    def forward(
        self, features_t1: Sequence[torch.Tensor], features_t2: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final logits (full resolution of the stride-4 map × 4) and the per-scale predictions, deepest first."""
        differences: list[torch.Tensor] = []
        predictions: list[torch.Tensor] = []
        deeper: torch.Tensor | None = None
        for index in reversed(range(len(self.projections))):
            linear = self.projections[index]
            pair = torch.cat([self._project(linear, features_t1[index]), self._project(linear, features_t2[index])], 1)
            difference = self.differences[index](pair)
            if deeper is not None:
                difference = difference + F.interpolate(
                    deeper, size=difference.shape[-2:], mode="bilinear", align_corners=False
                )
            predictions.append(self.predictions[index](difference))
            differences.append(difference)
            deeper = difference
        size = differences[-1].shape[-2:]
        fused = self.fuse(torch.cat(
            [F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in differences[:-1]]
            + [differences[-1]],
            dim=1,
        ))
        hidden = self.refine_2x(self.up_2x(fused))
        hidden = self.refine_1x(self.up_1x(hidden))
        return self.classifier(hidden), predictions


class ChangeFormerForChangeDetection(EuroMineChangeDetectionModel):
    """ChangeFormer V6: Siamese hierarchical transformer encoder, difference modules per scale, MLP decoder."""

    conv_init = "he_fan_out"  # the framework's ChangeFormer/ChangeFormer.py:110 sets He fan-out on its convolutions

    config_class = ChangeFormerConfig
    config: ChangeFormerConfig

    def __init__(self, config: ChangeFormerConfig) -> None:
        super().__init__(config)
        self.siamese = SiameseEncoder(HierarchicalTransformerEncoder(config.backbone_config))
        self.decoder = ChangeFormerDecoder(config.backbone_config.hidden_sizes, config.decoder_dim, config.num_labels)
        self.post_init()

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: main prediction only
            return self.detect(pixel_values_t1, pixel_values_t2), []
        logits, predictions = self.decoder(*self.siamese(pixel_values_t1, pixel_values_t2))
        auxiliary = [Auxiliary(weight, prediction, "labels")
                     for weight, prediction in zip(self.config.deep_supervision_weights, predictions)]
        return logits, auxiliary

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        return self.decoder(*self.siamese(pixel_values_t1, pixel_values_t2))[0]


register_model(
    "changeformer",
    "ChangeFormer",
    ChangeFormerConfig,
    ChangeFormerForChangeDetection,
    task="change_detection",
    paper={"auxiliary_losses": False},
    tiny={
        "backbone_config": {
            "hidden_sizes": [8, 8, 16, 16],
            "depths": [1, 1, 1, 1],
            "num_attention_heads": [1, 1, 1, 2],
            "mlp_ratios": [2, 2, 2, 2],
            "patch_sizes": [7, 3, 3, 3],
            "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
            "drop_path_rate": 0.0,
        },
        "decoder_dim": 8,
    },
    published_params=39.13,
)
