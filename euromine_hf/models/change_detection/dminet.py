"""DMINet (Feng, Jiang, Xu & Zheng, "Change Detection on Remote Sensing Images Using Dual-Branch
Multilevel Intertemporal Network", IEEE TGRS 2023).

A Siamese ResNet-18 cut after its third stage (layer1–layer3: 64, 128, 256 channels at strides 4,
8, 16) runs on both dates. At each of the three levels a **joint self-/cross-attention** block
(the paper's intertemporal joint-attention) lets the dates exchange context: each date's 1×1
convolutions give a query (C/8), a key (C/4) and a value (C); the two queries are *concatenated*
(C/4) so that one attention map per date is driven by both dates at once — self-attention and
cross-attention in one product — and each date's value is re-weighted by it and added back through
a learned scale γ (zero at start). Two branches then decode the refined pairs:

* the **sum branch** fuses the pair at each level (3×3 convolution over the concatenation),
* the **difference branch** takes |f1 − f2| of the refined maps,

each decoded coarse-to-fine by two cross-level aggregation steps (:mod:`.aggregation`). Each branch
is classified at stride 4 (final output) and at stride 8 (intermediate output), all four upsampled
to the input. The authors' code (``main_output="sum"``, ``auxiliary_losses=True``): the prediction
is the sum of the two stride-4 outputs' logits; the training loss is CE(sum-branch) +
CE(diff-branch) + 0.5·(CE(sum, stride 8) + CE(diff, stride 8)) — the sum branch's output is the
main term and the other three are :class:`Auxiliary` terms.

Framework quirks kept (EricYu97/UCD 6972640), the defaults and the ``paper`` preset:

* ``main_output="diff8"``: the framework returns the difference branch's stride-8 head
  (``out_2_2 = final2_2(upsample×8(out3_2))``) as ``main_predictions``
  (``models/DMINet/DMINet.py:256``) and predicts from it alone.
* ``auxiliary_losses=False``: it trains that head alone, so the sum branch, the stride-4 heads and
  the difference branch's last aggregation step get no gradient. With ``auxiliary_losses=True``
  and ``main_output="diff8"`` the other three heads are auxiliary terms with the authors' weights
  (sum final 1, diff final and sum stride-8 from ``deep_supervision_weights``).

Choices and facts from the reference code (the paper is silent or ambiguous):

* Query/key widths C/8 and C/4, a γ shared by both dates, heads 64→32→2 and 128→32→2 with a
  3×3 BN-ReLU layer, and the loss weights above come from the authors' code.
* With ``main_output="sum"`` and ``auxiliary_losses=True`` the logits returned in training mode
  are the sum branch's alone (the loss's main term); in evaluation mode the two branches' sum.
* Parameter count: the reference's torchvision ResNet-18 keeps its 1000-class ``fc`` (0.49 × 2^20
  parameters, never run: layer4 is replaced by an identity, so nothing feeds it). A classifier
  head that has no input is not part of the architecture and is not built here; the count is
  therefore 0.49 × 2^20 below the published 6.44 (see the test file for the exact figure).
* Both dates pass the trunk through ``SiameseEncoder``: one after the other in training (per-date
  BatchNorm statistics), as the framework does.
* Learning check (issue 15; ``bench/learning.py --models dminet``, tiny, seed 0): with the square
  in date 2 only DMINet fits in train mode (IoU 0.992) but not in eval mode (0.578 after 200 steps).
  The cause is the per-date BatchNorm above, not the ``diff8`` path: train and eval run the same
  head (``detect``), and with both dates in one batch (``SiameseEncoder`` patched; it does not go
  through ``run_per_date``) it fits both modes at step 20, as does this default on
  ``--balanced-dates`` (0.882 / 0.881 at step 20). Kept; ``tests/test_model_learning.py`` checks
  DMINet on the balanced batch.

Bands: the framework's copy ignores ``input_nc`` (``DMINet(num_classes=...)`` takes no band count:
its ResNet-18 is built for 3 bands), so its 10-band version is not public. Ours builds every first
layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto them through
``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ResNetConfig

from euromine_hf.models.change_detection.aggregation import ChangeHead, TopDownDecoder, upsample_to
from euromine_hf.models.change_detection.fusion import SiameseEncoder
from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineChangeDetectionConfig,
    nested_backbone_config,
)
from euromine_hf.models.encoders import RESNET_VARIANTS, ResNetEncoder, resnet_variant_fields
from euromine_hf.models.encoders._transformers import stage_names
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model

#: ResNet stages the paper uses (layer1–layer3); the fourth is not built (the reference replaces it).
STAGES = 3


class DMINetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`DMINetForChangeDetection`.

    Args:
        backbone: ResNet variant of the trunk (``"resnet18"`` in the paper); its first three stages are built.
        backbone_config: the trunk's transformers ``ResNetConfig``, or a dict of its fields changed
            from the variant's first three stages (ResNet-18: depths [2, 2, 2], hidden_sizes
            [64, 128, 256], basic blocks; the tiny preset narrows them). It has three stages
            (layer1–layer3; the fourth is not built); ``num_channels`` and ``out_features``
            (all three stages) follow the model.
        head_channels: hidden width of the four classifier heads (32).
        deep_supervision_weights: loss weights of the difference branch's final output and of the
            two stride-8 outputs (sum, difference) relative to the sum branch's final output
            (``[1.0, 0.5, 0.5]``, the authors' trainer).
        main_output: the prediction: ``"diff8"`` (the framework's: the difference branch's
            stride-8 head) or ``"sum"`` (the authors': the sum of both branches' stride-4 logits).
        auxiliary_losses: add the other heads' terms to the training loss
            (False: the benchmark's framework trains and scores the main prediction only, ``model.py:209-215``
            of EricYu97/UCD 6972640; True: the authors' loss).
    """

    MAIN_OUTPUTS = ("diff8", "sum")

    model_type = "euromine-dminet"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        backbone: str = "resnet18",
        backbone_config: ResNetConfig | Mapping[str, Any] | None = None,
        head_channels: int = 32,
        deep_supervision_weights: list[float] | None = None,
        main_output: str = "diff8",
        auxiliary_losses: bool = False,
        num_channels: int = 10,
        **kwargs: Any,
    ) -> None:
        if backbone not in RESNET_VARIANTS:
            raise ValueError(f"DMINetConfig.backbone must be one of {sorted(RESNET_VARIANTS)}; got {backbone!r}")
        if int(head_channels) < 1:
            raise ValueError(f"DMINetConfig.head_channels must be >= 1; got {head_channels}")
        weights = [1.0, 0.5, 0.5] if deep_supervision_weights is None else [float(w) for w in deep_supervision_weights]
        if len(weights) != 3:
            raise ValueError(f"DMINetConfig.deep_supervision_weights must hold 3 weights; got {weights}")
        defaults = resnet_variant_fields(backbone)
        for key in ("depths", "hidden_sizes"):
            defaults[key] = defaults[key][:STAGES]
        self.backbone = backbone
        self.backbone_config = nested_backbone_config(
            backbone_config, ResNetConfig, defaults,
            field="DMINetConfig.backbone_config", num_channels=int(num_channels),
            fixed=lambda fields: {"out_features": stage_names(len(fields["depths"]))},
        )
        for key in ("depths", "hidden_sizes"):
            if len(getattr(self.backbone_config, key)) != STAGES:
                raise ValueError(
                    f"DMINetConfig.backbone_config.{key}: expected {STAGES} stages (layer1–layer3), "
                    f"got {getattr(self.backbone_config, key)}"
                )
        self.head_channels = int(head_channels)
        self.deep_supervision_weights = weights
        if main_output not in self.MAIN_OUTPUTS:
            raise ValueError(f"DMINetConfig.main_output must be one of {self.MAIN_OUTPUTS}; got {main_output!r}")
        self.main_output = main_output
        self.auxiliary_losses = bool(auxiliary_losses)
        super().__init__(num_channels=num_channels, **kwargs)


class JointAttention(nn.Module):
    """Intertemporal joint self-/cross-attention at one level; returns (fused, refined_t1, refined_t2).

    Each date's attention map is softmax(Q^T K_date) with Q = [Q_t1; Q_t2] (both dates' queries
    concatenated), so it mixes the date's own context with the other date's; the refined map is
    γ·(V_date · A^T) + input. ``fused`` is a 3×3 BN-ReLU convolution of both refined maps.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        query, key = max(channels // 8, 1), max(channels // 4, 1)
        if 2 * query != key:
            raise ValueError(f"JointAttention needs channels divisible by 8; got {channels}")
        self.query = nn.ModuleList(nn.Conv2d(channels, query, 1) for _ in range(2))
        self.key = nn.ModuleList(nn.Conv2d(channels, key, 1) for _ in range(2))
        self.value = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(2))
        self.gamma = nn.Parameter(torch.zeros(1))
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )

    def forward(
        self, features_t1: torch.Tensor, features_t2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        def tokens(projected: torch.Tensor) -> torch.Tensor:  # (B, c, H, W) → (B, N, c)
            return projected.flatten(2).transpose(1, 2)

        query = tokens(torch.cat([self.query[0](features_t1), self.query[1](features_t2)], dim=1))  # (B, N, C/4)
        refined = []
        for index, features in enumerate((features_t1, features_t2)):
            key, value = tokens(self.key[index](features)), tokens(self.value[index](features))
            # softmax(QᵀK) over the keys, unscaled as in the paper's code; a fused kernel (where the
            # device has one) does not keep the N×N map (N = 4096 at stride 4 of a 256-px patch)
            context = F.scaled_dot_product_attention(query, key, value, scale=1.0)  # (B, N, C)
            refined.append(self.gamma * context.transpose(1, 2).contiguous().view_as(features) + features)
        return self.fuse(torch.cat(refined, dim=1)), refined[0], refined[1]


class DMINetForChangeDetection(EuroMineChangeDetectionModel):
    """DMINet: ResNet-18 (3 stages) Siamese trunk, joint attention per level, sum + difference branches."""

    config_class = DMINetConfig
    config: DMINetConfig

    def __init__(self, config: DMINetConfig) -> None:
        super().__init__(config)
        self.siamese = SiameseEncoder(ResNetEncoder(config.backbone_config))
        channels = list(self.siamese.channels)
        self.attention = nn.ModuleList(JointAttention(c) for c in channels)
        self.sum_decoder = TopDownDecoder(channels)
        self.diff_decoder = TopDownDecoder(channels)
        width = config.head_channels
        self.sum_head = ChangeHead(channels[0], width, config.num_labels)
        self.diff_head = ChangeHead(channels[0], width, config.num_labels)
        self.sum_head_8 = ChangeHead(channels[1], width, config.num_labels)
        self.diff_head_8 = ChangeHead(channels[1], width, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, JointAttention):  # the attention starts as an identity, as in the paper's code
            nn.init.zeros_(module.gamma)

    def _outputs(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor, intermediate: bool
    ) -> list[torch.Tensor]:
        """[sum final, diff final] (+ [sum stride-8, diff stride-8] when ``intermediate``) logits
        at input resolution; the heads run on the upsampled maps, as in the paper."""
        features_t1, features_t2 = self.siamese(pixel_values_t1, pixel_values_t2)
        fused, differences = [], []
        for attention, f1, f2 in zip(self.attention, features_t1, features_t2):
            joint, refined_t1, refined_t2 = attention(f1, f2)
            fused.append(joint)
            differences.append((refined_t1 - refined_t2).abs())
        sum_4, sum_8 = self.sum_decoder(fused)
        diff_4, diff_8 = self.diff_decoder(differences)
        size = pixel_values_t1.shape[-2:]
        outputs = [self.sum_head(upsample_to(sum_4, size)), self.diff_head(upsample_to(diff_4, size))]
        if intermediate:
            outputs += [self.sum_head_8(upsample_to(sum_8, size)), self.diff_head_8(upsample_to(diff_8, size))]
        return outputs

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: main prediction only
            return self.detect(pixel_values_t1, pixel_values_t2), []
        sum_final, diff_final, sum_8, diff_8 = self._outputs(pixel_values_t1, pixel_values_t2, intermediate=True)
        weights = self.config.deep_supervision_weights
        if self.config.main_output == "sum":
            main, others = sum_final, [(weights[0], diff_final), (weights[1], sum_8), (weights[2], diff_8)]
        else:
            main, others = diff_8, [(1.0, sum_final), (weights[0], diff_final), (weights[1], sum_8)]
        return main, [Auxiliary(weight, logits, "labels") for weight, logits in others]

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        if self.config.main_output == "diff8":
            return self._outputs(pixel_values_t1, pixel_values_t2, intermediate=True)[3]
        sum_final, diff_final = self._outputs(pixel_values_t1, pixel_values_t2, intermediate=False)
        return sum_final + diff_final

register_model(
    "dminet",
    "DMINet",
    DMINetConfig,
    DMINetForChangeDetection,
    task="change_detection",
    paper={"backbone": "resnet18", "main_output": "diff8", "auxiliary_losses": False},
    tiny={
        "backbone": "resnet18",
        "backbone_config": {"depths": [1, 1, 1], "hidden_sizes": [8, 8, 16], "embedding_size": 8},
        "head_channels": 8,
    },
    published_params=6.44,
)
