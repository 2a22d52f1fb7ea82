"""DeepLabV3 (Chen et al., 2017) on a MobileViTV2 backbone (Mehta & Rastegari, 2022).

Composed from transformers' own ``MobileViTV2ForSemanticSegmentation`` (the MobileViTV2 encoder with
separable self-attention, and its DeepLabV3 head: ASPP with atrous rates 6/12/18 plus image
pooling, dropout, 1×1 classifier) built with ``num_channels`` from our config.  The head predicts
at 1/``output_stride`` of the input; :class:`EuroMineSegmentationModel` upsamples the logits
bilinearly to the input size and adds the cross-entropy loss, as the reference model does.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from transformers import MobileViTV2Config, MobileViTV2ForSemanticSegmentation

from euromine_hf.models.base import IGNORE_INDEX, EuroMineConfigMixin, EuroMineSegmentationModel, PretrainedConfig
from euromine_hf.models.registry import register_segmenter


class EuroMineDeepLabV3MobileViTConfig(EuroMineConfigMixin, PretrainedConfig):
    """Configuration of :class:`EuroMineDeepLabV3MobileViTForSegmentation`.

    Args:
        width_multiplier: MobileViTV2 width α (1.0 = MobileViTV2-1.0: stage widths 64/128/256/384/512).
        n_attn_blocks: separable-attention blocks in the three MobileViT stages ([2, 4, 3]).
        base_attn_unit_dims: attention widths of those stages before α ([128, 192, 256]).
        ffn_multiplier: feed-forward expansion inside the attention blocks (2).
        expand_ratio: inverted-residual expansion of the MobileNetV2 blocks (2).
        output_stride: 8, 16 or 32; 8 (default) dilates the last two stages instead of striding,
            DeepLabV3's dense-prediction setting, which keeps 20×20 features on a 160×160 patch.
        aspp_out_channels: ASPP width (512). atrous_rates: ASPP dilations ([6, 12, 18]).
        aspp_dropout_prob, classifier_dropout_prob: dropouts of the DeepLabV3 head (0.1).
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
        output_stride: int = 8,
        aspp_out_channels: int = 512,
        atrous_rates: Sequence[int] = (6, 12, 18),
        aspp_dropout_prob: float = 0.1,
        classifier_dropout_prob: float = 0.1,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        kwargs = self._init_euromine(num_channels, band_names, ignore_index, kwargs)
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
        super().__init__(**kwargs)

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

    config_class = EuroMineDeepLabV3MobileViTConfig
    config: EuroMineDeepLabV3MobileViTConfig

    def __init__(self, config: EuroMineDeepLabV3MobileViTConfig) -> None:
        super().__init__(config)
        self.deeplabv3 = MobileViTV2ForSemanticSegmentation(config.to_mobilevitv2_config())
        self._reset_batchnorm_scales()
        self.post_init()

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


register_segmenter(
    "deeplabv3-mobilevitv2",
    "DeeplabV3 (MobileViTV2)",
    EuroMineDeepLabV3MobileViTConfig,
    EuroMineDeepLabV3MobileViTForSegmentation,
    paper={},
    tiny={
        "width_multiplier": 0.125,
        "n_attn_blocks": [1, 1, 1],
        "aspp_out_channels": 16,
        "classifier_dropout_prob": 0.0,
        "aspp_dropout_prob": 0.0,
    },
)
