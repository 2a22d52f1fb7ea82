"""DeepLabV3 (Chen et al., 2017) on a MobileViTV2 backbone (Mehta & Rastegari, 2022).

Composed from transformers' own ``MobileViTV2ForSemanticSegmentation`` (the MobileViTV2 encoder with
separable self-attention, and its DeepLabV3 head: ASPP with atrous rates 6/12/18 plus image
pooling, dropout, 1×1 classifier) built with ``num_channels`` from our config.  The head predicts
at 1/``output_stride`` of the input; :class:`EuroMineSegmentationModel` upsamples the logits
bilinearly to the input size and adds the cross-entropy loss, as the reference model does.

The published recipe (Apple's ml-cvnets ``segmentation/pascal_voc/deeplabv3_mobilevitv2.yaml``,
from which ``apple/mobilevitv2-1.0-voc-deeplabv3`` — the benchmark's starting checkpoint — was
converted) fixes: output stride 16, ASPP rates 6/12/18 with 512 channels and dropout 0.1, and an
auxiliary head on the fourth MobileViTV2 stage (3×3 conv to max(C/4, 128) channels, BN, ReLU,
dropout 0.1, 1×1 classifier) whose cross-entropy is added with weight 0.4 during training.
transformers drops that auxiliary head when converting the checkpoint (keys
``seg_head.aux_head.*``), so it starts untrained either way; it never runs at inference.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from transformers import MobileViTV2Config, MobileViTV2ForSemanticSegmentation
from transformers.models.mobilevitv2.modeling_mobilevitv2 import make_divisible

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import Auxiliary, EuroMineSegmentationModel
from euromine_hf.models.registry import register_model


class EuroMineDeepLabV3MobileViTConfig(EuroMineConfig):
    """Configuration of :class:`EuroMineDeepLabV3MobileViTForSegmentation`.

    Args:
        width_multiplier: MobileViTV2 width α (1.0 = MobileViTV2-1.0: stage widths 64/128/256/384/512).
        n_attn_blocks: separable-attention blocks in the three MobileViT stages ([2, 4, 3]).
        base_attn_unit_dims: attention widths of those stages before α ([128, 192, 256]).
        ffn_multiplier: feed-forward expansion inside the attention blocks (2).
        expand_ratio: inverted-residual expansion of the MobileNetV2 blocks (2).
        output_stride: 8, 16 or 32; 16 (the published recipe) dilates the last stage instead of
            striding; 8 also dilates the fourth (denser features, more compute).
        aspp_out_channels: ASPP width (512). atrous_rates: ASPP dilations ([6, 12, 18]).
        aspp_dropout_prob, classifier_dropout_prob: dropouts of the DeepLabV3 head (0.1).
        use_auxiliary_head, auxiliary_loss_weight, auxiliary_dropout_prob: the recipe's
            fourth-stage auxiliary head (on; weight 0.4; dropout 0.1).
        num_channels, band_names, ignore_index: input bands and the label value the loss ignores.
    """

    model_type = "euromine-deeplabv3-mobilevitv2"

    def __init__(
        self,
        width_multiplier: float = 1.0,
        n_attn_blocks: Sequence[int] = (2, 4, 3),
        base_attn_unit_dims: Sequence[int] = (128, 192, 256),
        ffn_multiplier: int = 2,
        expand_ratio: float = 2.0,
        output_stride: int = 16,
        aspp_out_channels: int = 512,
        atrous_rates: Sequence[int] = (6, 12, 18),
        aspp_dropout_prob: float = 0.1,
        classifier_dropout_prob: float = 0.1,
        use_auxiliary_head: bool = True,
        auxiliary_loss_weight: float = 0.4,
        auxiliary_dropout_prob: float = 0.1,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        if int(output_stride) not in (8, 16, 32):
            raise ValueError(f"EuroMineDeepLabV3MobileViTConfig.output_stride={output_stride}: expected 8, 16 or 32")
        if len(n_attn_blocks) != 3 or len(base_attn_unit_dims) != 3:
            raise ValueError(
                "EuroMineDeepLabV3MobileViTConfig: n_attn_blocks and base_attn_unit_dims need one value per "
                f"MobileViT stage (3); got {list(n_attn_blocks)} and {list(base_attn_unit_dims)}"
            )
        self.width_multiplier = float(width_multiplier)
        self.n_attn_blocks = [int(n) for n in n_attn_blocks]
        self.base_attn_unit_dims = [int(d) for d in base_attn_unit_dims]
        self.ffn_multiplier = int(ffn_multiplier)
        self.expand_ratio = float(expand_ratio)
        self.output_stride = int(output_stride)
        self.aspp_out_channels = int(aspp_out_channels)
        self.atrous_rates = [int(r) for r in atrous_rates]
        self.aspp_dropout_prob = float(aspp_dropout_prob)
        self.classifier_dropout_prob = float(classifier_dropout_prob)
        self.use_auxiliary_head = bool(use_auxiliary_head)
        self.auxiliary_loss_weight = float(auxiliary_loss_weight)
        self.auxiliary_dropout_prob = float(auxiliary_dropout_prob)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)

    def to_mobilevitv2_config(self) -> MobileViTV2Config:
        return MobileViTV2Config(
            num_channels=self.num_channels,
            width_multiplier=self.width_multiplier,
            n_attn_blocks=list(self.n_attn_blocks),
            base_attn_unit_dims=list(self.base_attn_unit_dims),
            ffn_multiplier=self.ffn_multiplier,
            expand_ratio=self.expand_ratio,
            output_stride=self.output_stride,
            aspp_out_channels=self.aspp_out_channels,
            atrous_rates=list(self.atrous_rates),
            aspp_dropout_prob=self.aspp_dropout_prob,
            classifier_dropout_prob=self.classifier_dropout_prob,
            semantic_loss_ignore_index=self.ignore_index,
            num_labels=self.num_labels,
            id2label=dict(self.id2label),
            label2id=dict(self.label2id),
        )


class EuroMineDeepLabV3MobileViTForSegmentation(EuroMineSegmentationModel):
    """DeepLabV3-MobileViTV2 on ``num_channels`` bands: ``pixel_values`` (B,C,H,W) → logits (B,2,H,W)."""

    _no_split_modules = ("MobileViTV2Layer",)

    config_class = EuroMineDeepLabV3MobileViTConfig
    config: EuroMineDeepLabV3MobileViTConfig

    def __init__(self, config: EuroMineDeepLabV3MobileViTConfig) -> None:
        super().__init__(config)
        inner = config.to_mobilevitv2_config()
        self.deeplabv3 = MobileViTV2ForSemanticSegmentation(inner)
        self.auxiliary_head = None
        if config.use_auxiliary_head:
            stage4 = make_divisible(384 * config.width_multiplier, divisor=8)
            hidden = max(stage4 // 4, 128)
            self.auxiliary_head = nn.Sequential(
                nn.Conv2d(stage4, hidden, 3, padding=1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
                nn.Dropout2d(config.auxiliary_dropout_prob),
                nn.Conv2d(hidden, config.num_labels, 1),
            )
        self._reset_batchnorm_scales()
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        head = getattr(self, "auxiliary_head", None)
        if head is not None and module is head[-1]:
            init_classifier(module)

    @torch.no_grad()
    def _reset_batchnorm_scales(self) -> None:
        """Start every BatchNorm at γ=1, β=0, as the original MobileViTV2 (cvnets) does.

        transformers draws MobileViTV2's BatchNorm scales from N(0, 0.02), harmless when a checkpoint
        is loaded over them but, from scratch, it shrinks activations ~50× per block (logits ~1e-6
        on the tiny preset) and with them every gradient.  Checkpoint weights overwrite this.
        """
        for module in self.deeplabv3.modules():
            if isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # Without labels the reference model returns the head's 1/output_stride logits.
        return self.deeplabv3(pixel_values=pixel_values).logits

    def segment_with_auxiliary(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[Auxiliary]]:
        if self.auxiliary_head is None or self.config.auxiliary_loss_weight <= 0:
            return self.segment(pixel_values), []
        stages = self.deeplabv3.mobilevitv2(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
        logits = self.deeplabv3.segmentation_head(stages)
        return logits, [Auxiliary(self.config.auxiliary_loss_weight, self.auxiliary_head(stages[3]))]


register_model(
    "deeplabv3-mobilevitv2",
    "DeeplabV3 (MobileViTV2)",
    EuroMineDeepLabV3MobileViTConfig,
    EuroMineDeepLabV3MobileViTForSegmentation,
    task="segmentation",
    paper={},
    tiny={
        "width_multiplier": 0.125,
        "n_attn_blocks": [1, 1, 1],
        "aspp_out_channels": 16,
        "classifier_dropout_prob": 0.0,
        "aspp_dropout_prob": 0.0,
    },
)
