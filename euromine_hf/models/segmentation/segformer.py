"""SegFormer (Xie et al., NeurIPS 2021): a Mix Transformer (MiT) encoder and an all-MLP decoder.

Assembled from the shared :class:`~euromine_hf.models.encoders.mit.MiTEncoder` (transformers'
``SegformerModel`` with ``num_channels`` from our config) and transformers' own
``SegformerDecodeHead``, so an RGB MiT / SegFormer checkpoint (e.g.
``nvidia/segformer-b5-finetuned-ade-640-640``) loads key for key by suffix, see
:mod:`band_adaptation`. The decode head predicts at 1/4 of the input size; :class:`EuroMineSegmentationModel` upsamples the
logits bilinearly to the input size and adds the cross-entropy loss, as the reference model does.

The EuroMineNet paper benchmarks MiT-B5 (its training code starts from the B5 ADE20K checkpoint),
the default here; ``variant`` selects B0-B5 with the
sizes of the SegFormer paper (Table 6 / appendix), or ``"custom"`` to give every size explicitly.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from transformers import SegformerConfig
from transformers.models.segformer.modeling_segformer import SegformerDecodeHead

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.encoders.mit import MIT_VARIANTS, MiTEncoder
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.registry import register_model

#: MiT-B0..B5 sizes (SegFormer paper); kept under this name for existing imports.
SEGFORMER_VARIANTS = MIT_VARIANTS
_SIZE_FIELDS = ("hidden_sizes", "depths", "num_attention_heads", "decoder_hidden_size")


class EuroMineSegformerConfig(EuroMineConfig):
    """Configuration of :class:`EuroMineSegformerForSegmentation`.

    Args:
        variant: ``"b0"`` … ``"b5"`` (MiT size, default ``"b5"`` as in the EuroMineNet paper) or
            ``"custom"``. A named variant fills every size field left as ``None``; explicit values
            always win, so ``variant="b5", depths=[1, 1, 1, 1]`` is a shallow B5.
        hidden_sizes: channels of the four MiT stages.
        depths: transformer blocks per stage.
        num_attention_heads: heads per stage.
        decoder_hidden_size: width of the all-MLP decoder.
        sr_ratios: spatial-reduction ratio of efficient self-attention per stage.
        mlp_ratios: Mix-FFN expansion per stage.
        patch_sizes, strides: overlapping patch embedding of each stage (7/4 then 3/2).
        drop_path_rate: stochastic depth (0.1 in the SegFormer recipe).
        classifier_dropout_prob: dropout before the decoder's classifier.
        num_channels: input bands (10 Sentinel-2 bands by default; 3 works too).
        band_names: one name per input channel (used by RGB-checkpoint band adaptation).
        ignore_index: label value left out of the loss.
    """

    model_type = "euromine-segformer"

    def __init__(
        self,
        variant: str = "b5",
        hidden_sizes: Sequence[int] | None = None,
        depths: Sequence[int] | None = None,
        num_attention_heads: Sequence[int] | None = None,
        decoder_hidden_size: int | None = None,
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        mlp_ratios: Sequence[int] = (4, 4, 4, 4),
        patch_sizes: Sequence[int] = (7, 3, 3, 3),
        strides: Sequence[int] = (4, 2, 2, 2),
        drop_path_rate: float = 0.1,
        classifier_dropout_prob: float = 0.1,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        variant = str(variant).lower()
        if variant != "custom" and variant not in SEGFORMER_VARIANTS:
            raise ValueError(
                f"EuroMineSegformerConfig.variant={variant!r}: expected one of "
                f"{', '.join(sorted(SEGFORMER_VARIANTS))} or 'custom'"
            )
        given = {
            "hidden_sizes": hidden_sizes,
            "depths": depths,
            "num_attention_heads": num_attention_heads,
            "decoder_hidden_size": decoder_hidden_size,
        }
        for name in _SIZE_FIELDS:
            if given[name] is None:
                if variant == "custom":
                    raise ValueError(f"EuroMineSegformerConfig: variant='custom' needs an explicit {name}")
                given[name] = SEGFORMER_VARIANTS[variant][name]
        self.variant = variant
        self.hidden_sizes = [int(v) for v in given["hidden_sizes"]]
        self.depths = [int(v) for v in given["depths"]]
        self.num_attention_heads = [int(v) for v in given["num_attention_heads"]]
        self.decoder_hidden_size = int(given["decoder_hidden_size"])
        self.sr_ratios = [int(v) for v in sr_ratios]
        self.mlp_ratios = [int(v) for v in mlp_ratios]
        self.patch_sizes = [int(v) for v in patch_sizes]
        self.strides = [int(v) for v in strides]
        per_stage = {
            "hidden_sizes": self.hidden_sizes,
            "depths": self.depths,
            "num_attention_heads": self.num_attention_heads,
            "sr_ratios": self.sr_ratios,
            "mlp_ratios": self.mlp_ratios,
            "patch_sizes": self.patch_sizes,
            "strides": self.strides,
        }
        stages = {len(v) for v in per_stage.values()}
        if len(stages) != 1:
            raise ValueError(
                "EuroMineSegformerConfig: per-stage fields must have the same length; got "
                + ", ".join(f"{k}={len(v)}" for k, v in per_stage.items())
            )
        for size, heads in zip(self.hidden_sizes, self.num_attention_heads):
            if size % heads:
                raise ValueError(
                    f"EuroMineSegformerConfig: hidden size {size} is not divisible by its {heads} attention heads"
                )
        self.drop_path_rate = float(drop_path_rate)
        self.classifier_dropout_prob = float(classifier_dropout_prob)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)

    def to_segformer_config(self) -> SegformerConfig:
        """The transformers ``SegformerConfig`` this model is built from."""
        return SegformerConfig(
            num_channels=self.num_channels,
            num_encoder_blocks=len(self.depths),
            depths=list(self.depths),
            sr_ratios=list(self.sr_ratios),
            hidden_sizes=list(self.hidden_sizes),
            patch_sizes=list(self.patch_sizes),
            strides=list(self.strides),
            num_attention_heads=list(self.num_attention_heads),
            mlp_ratios=list(self.mlp_ratios),
            decoder_hidden_size=self.decoder_hidden_size,
            drop_path_rate=self.drop_path_rate,
            classifier_dropout_prob=self.classifier_dropout_prob,
            semantic_loss_ignore_index=self.ignore_index,
            num_labels=self.num_labels,
            id2label=dict(self.id2label),
            label2id=dict(self.label2id),
        )


class EuroMineSegformerForSegmentation(EuroMineSegmentationModel):
    """SegFormer on ``num_channels`` bands: ``pixel_values`` (B,C,H,W) → logits (B,2,H,W)."""

    config_class = EuroMineSegformerConfig
    config: EuroMineSegformerConfig

    def __init__(self, config: EuroMineSegformerConfig) -> None:
        super().__init__(config)
        inner = config.to_segformer_config()
        # Keys read "encoder.segformer.encoder…" / "decode_head…": an RGB SegformerModel or
        # SegformerForSemanticSegmentation checkpoint matches them by suffix.
        self.encoder = MiTEncoder(inner)
        self.decode_head = SegformerDecodeHead(inner)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(getattr(self, "decode_head", None), "classifier", None):
            init_classifier(module)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # The all-MLP decoder's logits at 1/4 resolution; the base upsamples them.
        return self.decode_head(self.encoder(pixel_values))


register_model(
    "segformer",
    "Segformer",
    EuroMineSegformerConfig,
    EuroMineSegformerForSegmentation,
    task="segmentation",
    paper={"variant": "b5"},
    tiny={
        "variant": "custom",
        "hidden_sizes": [8, 16, 24, 32],
        "depths": [1, 1, 1, 1],
        "num_attention_heads": [1, 1, 1, 2],
        "decoder_hidden_size": 16,
        "drop_path_rate": 0.0,
    },
)
