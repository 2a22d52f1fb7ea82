"""DTCDSCN, the Dual-Task Constrained Deep Siamese Convolutional Network (Liu et al., "Building
Change Detection for Remote Sensing Images Using a Dual-Task Constrained Deep Siamese
Convolutional Network Model", IEEE GRSL 2020).

A Siamese **SE-ResNet-34** (ResNet-34 whose every residual block ends in a squeeze-and-excitation
gate, reduction 16) encodes both dates into four maps (strides 4-32; 64-512 channels). Three
decoders of the same LinkNet-like shape follow:

* the **change-detection branch** starts from the difference of the deepest maps, enlarges its
  receptive field with a *centre block* (3×3 convolutions dilated 1, 2, 4, 8 in cascade, their
  outputs summed with the input), and climbs back through four decoder blocks, adding the
  difference of the two dates' encoder maps at each scale;
* two **semantic segmentation branches** (one set of weights, applied to each date) do the same
  from one date's own maps and predict that date's mask.

Each decoder block is a 1×1 reduction to C/4 channels, the paper's **dual attention module** as
the authors' code implements it (concurrent channel attention — a squeeze-and-excitation gate — and
spatial attention — a 1×1 convolution to a sigmoid map —, both rescaling the features, summed and
added back as a residual), a stride-2 3×3 transposed convolution and a 1×1 expansion, each with
BatchNorm and ReLU. A head (4×4 stride-2 transposed convolution to 32 channels, two 3×3
convolutions) returns to full resolution.

Dual task (``auxiliary_losses=True``, the paper's): the change logits are the output; during
training the semantic logits of each date are :class:`~euromine_hf.models.modeling.Auxiliary` terms
supervised by that date's mine mask (``labels_t1`` / ``labels_t2``, which every EuroMineNet pair
carries) and skipped when a batch lacks them. The authors' training code weighs change : date 1 :
date 2 as 0.5 : 0.25 : 0.25; with the change term at weight 1 (the common contract) that is
``semantic_weight`` = 0.5 per date (the same objective up to a factor 2, i.e. the learning rate).
Models that use the date masks say so with ``uses_date_labels`` (here: ``auxiliary_losses``): the
collator must then be built with ``with_masks=True``.

Choices, and why:

* Losses: the benchmark's framework trains the change output with cross-entropy (its copy of
  this model builds the semantic branches but never runs them; the published 39.17 × 2^20
  parameters count them). The authors' code trained sigmoid outputs with a focal-like BCE (change)
  and BCE (semantic). Here all three are two-class outputs under cross-entropy, as the framework's
  heads are built (``num_labels`` channels each), so the dual task of the paper runs on the
  framework's module.
* The semantic branches run only in training with labels (``detect`` returns the change logits
  alone), so inference costs what the framework's forward costs.
* Framework quirk kept (EricYu97/UCD 6972640), the default and the ``paper`` preset:
  ``auxiliary_losses=False`` — the framework trains and scores ``main_predictions`` only (its
  auxiliary losses are commented out, ``model.py:209-215``), so the semantic branches get no gradient;
  ``auxiliary_losses=True`` restores the paper's dual task.
* The SE-ResNet-34 is transformers' ``ResNetBackbone`` with SE gates added
  (:class:`~euromine_hf.models.encoders.resnet.ResNetEncoder` ``se_reduction``); ImageNet ResNet-34
  weights load into it (the gates stay at their initialisation). In training both dates pass the
  encoder and the semantic decoder one after the other (per-date BatchNorm statistics), as the
  framework does (``fusion.run_per_date``).
* Learning check (issue 15; ``bench/learning.py --models dtcdscn``, tiny, seed 0): with the square
  in date 2 only DTCDSCN fits in train mode (IoU 0.934) but not in eval mode (0.042 after 200
  steps), the per-date BatchNorm above; with both dates in one batch it fits both modes at step
  120, as does this default on ``--balanced-dates`` (0.845 / 0.822). Kept; the (slow) zoo learning
  test checks it on the balanced batch.
* Feature differences are signed (date 1 − date 2), as in the authors' and the framework's code.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import ResNetConfig

from euromine_hf.models.change_detection.fusion import run_per_date
from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineChangeDetectionConfig,
    nested_backbone_config,
)
from euromine_hf.models.encoders._transformers import stage_names
from euromine_hf.models.encoders.resnet import RESNET_VARIANTS, ResNetEncoder, resnet_variant_fields
from euromine_hf.models.layers import as_int_list, init_classifier
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model


class DTCDSCNConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`DTCDSCNForChangeDetection`.

    Args:
        backbone: ResNet variant of the Siamese encoder (``"resnet34"`` in the paper).
        backbone_config: the encoder's transformers ``ResNetConfig``, or a dict of its fields
            changed from the variant (ResNet-34: depths [3, 4, 6, 3], hidden_sizes
            [64, 128, 256, 512], basic blocks; the tiny preset narrows them). ``num_channels`` and
            ``out_features`` (every stage) follow the model. The SE gates are not a ``ResNetConfig``
            field (transformers has no SE-ResNet): ``se_reduction`` stays on this config.
        se_reduction: reduction ratio of the encoder's squeeze-and-excitation gates (16).
        attention_reduction: reduction ratio of the decoder's channel attention (16).
        center_dilations: dilations of the centre block's cascaded 3×3 convolutions (1, 2, 4, 8).
        head_channels: width of the full-resolution head (32).
        semantic_weight: loss weight of each date's semantic term, relative to the change term (0.5).
        auxiliary_losses: add the two dates' semantic segmentation terms to the training loss (False: the
            benchmark's framework trains and scores the main prediction only, ``model.py:209-215`` of
            EricYu97/UCD 6972640; True: the original paper's / authors' loss).
    """

    model_type = "euromine-dtcdscn"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        backbone: str = "resnet34",
        backbone_config: ResNetConfig | Mapping[str, Any] | None = None,
        se_reduction: int = 16,
        attention_reduction: int = 16,
        center_dilations: Sequence[int] = (1, 2, 4, 8),
        head_channels: int = 32,
        semantic_weight: float = 0.5,
        auxiliary_losses: bool = False,
        num_channels: int = 10,
        **kwargs: Any,
    ) -> None:
        if backbone not in RESNET_VARIANTS or RESNET_VARIANTS[backbone][2] != "basic":
            basic = sorted(k for k, v in RESNET_VARIANTS.items() if v[2] == "basic")
            raise ValueError(f"DTCDSCNConfig.backbone must be one of {basic}; got {backbone!r}")
        for name, value in (("se_reduction", se_reduction), ("attention_reduction", attention_reduction),
                            ("head_channels", head_channels)):
            if int(value) < 1:
                raise ValueError(f"DTCDSCNConfig.{name} must be >= 1; got {value}")
        if float(semantic_weight) < 0:
            raise ValueError(f"DTCDSCNConfig.semantic_weight must be >= 0; got {semantic_weight}")
        self.backbone = backbone
        self.backbone_config = nested_backbone_config(
            backbone_config, ResNetConfig, resnet_variant_fields(backbone),
            field="DTCDSCNConfig.backbone_config", num_channels=int(num_channels),
            fixed=lambda fields: {"out_features": stage_names(len(fields["depths"]))},
        )
        self.se_reduction = int(se_reduction)
        self.attention_reduction = int(attention_reduction)
        self.center_dilations = as_int_list(center_dilations, "center_dilations")
        self.head_channels = int(head_channels)
        self.semantic_weight = float(semantic_weight)
        self.auxiliary_losses = bool(auxiliary_losses)
        super().__init__(num_channels=num_channels, **kwargs)


class CenterBlock(nn.Module):
    """Cascaded dilated 3×3 convolutions (with bias, ReLU); the input plus every output is returned.

    The cascade sees up to 1 + 2·Σ dilations pixels (31 at stride 32 for 1, 2, 4, 8) while keeping
    the resolution, which is how the paper widens the receptive field at the bottleneck.
    """

    def __init__(self, channels: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        total, hidden = features, features
        for conv in self.convs:
            hidden = torch.relu(conv(hidden))
            total = total + hidden
        return total


class DualAttention(nn.Module):
    """Channel attention (SE gate from the pooled map) plus spatial attention (1×1 conv → sigmoid
    map), each rescaling the input; their sum is returned."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channel = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.spatial = nn.Sequential(nn.Conv2d(channels, 1, 1, bias=False), nn.Sigmoid())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.channel(features) + features * self.spatial(features)


def _conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """1×1 to C/4 → dual attention (residual) → ×2 transposed 3×3 → 1×1 to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, attention_reduction: int) -> None:
        super().__init__()
        mid = max(1, in_channels // 4)
        self.reduce = _conv_bn_relu(nn.Conv2d(in_channels, mid, 1), mid)
        self.attention = DualAttention(mid, attention_reduction)
        self.upsample = _conv_bn_relu(nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1), mid)
        self.expand = _conv_bn_relu(nn.Conv2d(mid, out_channels, 1), out_channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = self.reduce(features)
        hidden = hidden + self.attention(hidden)
        return self.expand(self.upsample(hidden))


class DTCDSCNDecoder(nn.Module):
    """Centre block, four decoder blocks with additive skips, and the full-resolution head.

    One instance decodes the change (from date differences), another each date's semantics.
    """

    def __init__(self, channels: Sequence[int], config: DTCDSCNConfig) -> None:
        super().__init__()
        self.center = CenterBlock(channels[-1], config.center_dilations)
        outs = [channels[0], *channels[:-1]]  # block i maps channels[i] → the skip width one scale up
        self.blocks = nn.ModuleList(
            DecoderBlock(channels[i], outs[i], config.attention_reduction) for i in reversed(range(len(channels)))
        )
        head = config.head_channels
        self.head = nn.Sequential(
            nn.ConvTranspose2d(channels[0], head, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(head, head, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(head, config.num_labels, 3, padding=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        hidden = self.center(features[-1])
        skips = list(features[:-1])[::-1] + [None]
        for block, skip in zip(self.blocks, skips):
            hidden = block(hidden)
            if skip is not None:
                # sizes not divisible by 32: the encoder rounded odd sizes up, ×2 overshoots by one
                hidden = hidden[..., : skip.shape[-2], : skip.shape[-1]] + skip
        return self.classifier(self.head(hidden))


class DTCDSCNForChangeDetection(EuroMineChangeDetectionModel):
    """DTCDSCN: Siamese SE-ResNet-34, change branch on feature differences, two semantic branches."""

    conv_init = "he_fan_out"  # the framework's DTCDSCN.py:212 sets He fan-out on its convolutions

    config_class = DTCDSCNConfig
    config: DTCDSCNConfig
    @property
    def uses_date_labels(self) -> bool:
        """With ``auxiliary_losses`` the semantic branches learn from each date's mine mask."""
        return self.config.auxiliary_losses

    def __init__(self, config: DTCDSCNConfig) -> None:
        super().__init__(config)
        self.encoder = ResNetEncoder(config.backbone_config, se_reduction=config.se_reduction)
        channels = self.encoder.channels
        self.change_decoder = DTCDSCNDecoder(channels, config)
        self.semantic_decoder = DTCDSCNDecoder(channels, config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        for name in ("change_decoder", "semantic_decoder"):
            decoder = getattr(self, name, None)
            if decoder is not None and module is decoder.classifier:
                init_classifier(module)

    def encode(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> list[torch.Tensor]:
        """Both dates through the shared encoder, stacked: four maps of (2B, C_i, H/s_i, W/s_i) (per-date
        BatchNorm statistics in training, see ``fusion.run_per_date``)."""
        return run_per_date(self.encoder, pixel_values_t1, pixel_values_t2, self.training)

    def _change(self, features: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
        return self.change_decoder([f[:batch] - f[batch:] for f in features])

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        return self._change(self.encode(pixel_values_t1, pixel_values_t2), pixel_values_t1.shape[0])

    def segment_dates(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each date's semantic (non-mine / mine) logits at input resolution, from the semantic branch."""
        batch = pixel_values_t1.shape[0]
        semantic = self._semantic(self.encode(pixel_values_t1, pixel_values_t2), batch)
        return semantic[:batch], semantic[batch:]

    def _semantic(self, features: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
        """The semantic decoder on each date's maps (per-date BatchNorm statistics in training), stacked."""
        return run_per_date(
            self.semantic_decoder, [f[:batch] for f in features], [f[batch:] for f in features], self.training
        )

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: the change map only, no semantic branch
            return self.detect(pixel_values_t1, pixel_values_t2), []
        batch = pixel_values_t1.shape[0]
        features = self.encode(pixel_values_t1, pixel_values_t2)
        semantic = self._semantic(features, batch)  # shared weights
        weight = self.config.semantic_weight
        auxiliary = [Auxiliary(weight, semantic[:batch], "labels_t1"), Auxiliary(weight, semantic[batch:], "labels_t2")]
        return self._change(features, batch), auxiliary


register_model(
    "dtcdscn",
    "DTCDSCN",
    DTCDSCNConfig,
    DTCDSCNForChangeDetection,
    task="change_detection",
    paper={"backbone": "resnet34", "auxiliary_losses": False},
    tiny={
        "backbone": "resnet34",
        "backbone_config": {"depths": [1, 1, 1, 1], "hidden_sizes": [8, 8, 16, 16], "embedding_size": 8},
        "se_reduction": 4,
        "attention_reduction": 2,
        "head_channels": 8,
    },
    published_params=39.17,
)
