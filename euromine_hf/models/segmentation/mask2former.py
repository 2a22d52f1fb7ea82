"""Mask2Former (Cheng et al., CVPR 2022) with a Swin-B backbone, in the semantic setting.

Composed from transformers' ``Mask2FormerForUniversalSegmentation`` (a Swin-B backbone — the same
transformers ``SwinBackbone`` the shared ``SwinEncoder`` wraps, built here by Mask2Former's own
``load_backbone`` so its keys stay those of the Hub checkpoints — built with
``num_channels`` from our config: pixel decoder with multi-scale deformable attention, masked-
attention transformer decoder, class and mask predictors) and trained with its own
mask-classification loss: Hungarian matching of queries to the classes present in each image,
then class cross-entropy (no-object weight 0.1) + point-sampled mask BCE + dice, on the last and
every intermediate decoder layer, weighted 2 / 5 / 5.

Targets: each image's binary ``labels`` (B,H,W) become one target mask per class present
(background and/or mine), as the original semantic dataset mapper does.

Ignore-index pixels: they belong to no target mask, and the mask BCE/dice terms are evaluated only
at sampled points that fall on valid pixels (a validity map is sampled at the same points and
weights them).  The matcher's cost, which only ranks queries, still sees them as "in no mask".

Output: ``logits`` (B,2,H,W) at input resolution are the semantic-inference scores of the paper,
``Σ_q softmax(class_q)[c] · sigmoid(mask_q)`` with the mask logits first upsampled to the input
size.  They are non-negative class *scores*, not log-odds: ``argmax`` over dim 1 gives the
prediction, exactly as for the other segmenters.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig
from transformers.modeling_outputs import SemanticSegmenterOutput
from transformers.models.mask2former.modeling_mask2former import Mask2FormerLoss, sample_point

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig, nested_backbone_config
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.registry import register_model


#: Swin-B as the ADE20K Mask2Former uses it (window 12, stochastic depth 0.3).
SWIN_B: dict[str, Any] = {
    "embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32], "window_size": 12, "drop_path_rate": 0.3,
}


class EuroMineMask2FormerConfig(EuroMineConfig):
    """Configuration of :class:`EuroMineMask2FormerForSegmentation`.

    Backbone:
        backbone_config: the Swin backbone's transformers ``SwinConfig``, or a dict of its fields
            to change from Swin-B (embed_dim 128, depths [2,2,18,2], heads [4,8,16,32], window 12 —
            the official ADE20K Mask2Former Swin-B, trained from the ImageNet-22k 384-px Swin-B, as
            ``facebook/mask2former-swin-base-ade-semantic`` that the benchmark's code starts from;
            its relative-position tables only load at 12 — and stochastic depth 0.3, the
            Mask2Former Swin-B recipe). ``num_channels`` and ``out_features`` (all four stages)
            follow the model.

    Mask2Former (defaults of the paper's semantic-segmentation models):
        feature_size, mask_feature_size, hidden_dim: pixel-decoder, mask-embedding and query widths (256).
        encoder_layers: deformable-attention layers of the pixel decoder (6).
        encoder_feedforward_dim: their feed-forward width (1024).
        decoder_layers: masked-attention decoder layers (transformers counts 10 for the paper's 9+1).
        num_attention_heads: heads of both attentions (8).
        dim_feedforward: decoder feed-forward width (2048).
        num_queries: object queries (100).
        no_object_weight, class_weight, mask_weight, dice_weight: loss weights (0.1, 2, 5, 5).
        train_num_points, oversample_ratio, importance_sample_ratio: point-sampled mask loss
            (12544 points, ×3 oversampling, 75 % by uncertainty).
        num_channels, band_names, ignore_index: input bands and the label value the loss ignores.
    """

    model_type = "euromine-mask2former"
    backbone_config_keys = ("backbone_config",)
    removed_fields = {
        name: "give it inside backbone_config (the Swin backbone's transformers config)"
        for name in ("embed_dim", "depths", "num_heads", "window_size", "drop_path_rate")
    }

    def __init__(
        self,
        backbone_config: SwinConfig | Mapping[str, Any] | None = None,
        feature_size: int = 256,
        mask_feature_size: int = 256,
        hidden_dim: int = 256,
        encoder_layers: int = 6,
        encoder_feedforward_dim: int = 1024,
        decoder_layers: int = 10,
        num_attention_heads: int = 8,
        dim_feedforward: int = 2048,
        num_queries: int = 100,
        no_object_weight: float = 0.1,
        class_weight: float = 2.0,
        mask_weight: float = 5.0,
        dice_weight: float = 5.0,
        train_num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        self.backbone_config = nested_backbone_config(
            backbone_config, SwinConfig, SWIN_B,
            field="EuroMineMask2FormerConfig.backbone_config", num_channels=int(num_channels),
            fixed={"out_features": ["stage1", "stage2", "stage3", "stage4"]},
        )
        swin = self.backbone_config
        if len(swin.depths) != 4 or len(swin.num_heads) != 4:
            raise ValueError(
                "EuroMineMask2FormerConfig.backbone_config: depths and num_heads need 4 stages, "
                f"got {swin.depths} and {swin.num_heads}"
            )
        self.feature_size = int(feature_size)
        self.mask_feature_size = int(mask_feature_size)
        self.hidden_dim = int(hidden_dim)
        self.encoder_layers = int(encoder_layers)
        self.encoder_feedforward_dim = int(encoder_feedforward_dim)
        if int(decoder_layers) < 2:
            raise ValueError(f"EuroMineMask2FormerConfig.decoder_layers={decoder_layers}: expected at least 2")
        self.decoder_layers = int(decoder_layers)
        self.num_attention_heads = int(num_attention_heads)
        for name in ("feature_size", "hidden_dim"):
            if getattr(self, name) % self.num_attention_heads:
                raise ValueError(
                    f"EuroMineMask2FormerConfig.{name}={getattr(self, name)} is not divisible by "
                    f"num_attention_heads={self.num_attention_heads}"
                )
        for name in ("feature_size", "mask_feature_size"):
            if getattr(self, name) % 32:
                raise ValueError(
                    f"EuroMineMask2FormerConfig.{name}={getattr(self, name)}: the pixel decoder's GroupNorm(32) "
                    "needs a multiple of 32"
                )
        self.dim_feedforward = int(dim_feedforward)
        self.num_queries = int(num_queries)
        self.no_object_weight = float(no_object_weight)
        self.class_weight = float(class_weight)
        self.mask_weight = float(mask_weight)
        self.dice_weight = float(dice_weight)
        self.train_num_points = int(train_num_points)
        self.oversample_ratio = float(oversample_ratio)
        self.importance_sample_ratio = float(importance_sample_ratio)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)

    def to_mask2former_config(self) -> Mask2FormerConfig:
        return Mask2FormerConfig(
            backbone_config=self.backbone_config,
            feature_size=self.feature_size,
            mask_feature_size=self.mask_feature_size,
            hidden_dim=self.hidden_dim,
            encoder_layers=self.encoder_layers,
            encoder_feedforward_dim=self.encoder_feedforward_dim,
            decoder_layers=self.decoder_layers,
            num_attention_heads=self.num_attention_heads,
            dim_feedforward=self.dim_feedforward,
            num_queries=self.num_queries,
            no_object_weight=self.no_object_weight,
            class_weight=self.class_weight,
            mask_weight=self.mask_weight,
            dice_weight=self.dice_weight,
            train_num_points=self.train_num_points,
            oversample_ratio=self.oversample_ratio,
            importance_sample_ratio=self.importance_sample_ratio,
            ignore_value=self.ignore_index,
            use_auxiliary_loss=True,
            num_labels=self.num_labels,
            id2label=dict(self.id2label),
            label2id=dict(self.label2id),
        )


class SemanticMask2FormerLoss(Mask2FormerLoss):
    """transformers' Mask2Former loss whose mask terms skip ignore-index pixels.

    ``forward`` takes ``valid_masks`` (B,H,W) besides the usual arguments; the mask BCE and dice are
    weighted by that map sampled at the loss's own (uncertainty-chosen) points.
    """

    _valid_masks: torch.Tensor | None = None

    def forward(  # type: ignore[override]
        self,
        masks_queries_logits: torch.Tensor,
        class_queries_logits: torch.Tensor,
        mask_labels: list[torch.Tensor],
        class_labels: list[torch.Tensor],
        auxiliary_predictions: list[dict[str, torch.Tensor]] | None = None,
        valid_masks: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        # The parent recurses into forward() for each auxiliary layer without valid_masks: keep ours.
        previous = self._valid_masks
        if valid_masks is not None:
            self._valid_masks = valid_masks
        try:
            return super().forward(
                masks_queries_logits, class_queries_logits, mask_labels, class_labels, auxiliary_predictions
            )
        finally:
            self._valid_masks = previous

    def loss_masks(
        self,
        masks_queries_logits: torch.Tensor,
        mask_labels: list[torch.Tensor],
        indices: tuple,
        num_masks: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        if self._valid_masks is None:
            return super().loss_masks(masks_queries_logits, mask_labels, indices, num_masks)
        src_idx = self._get_predictions_permutation_indices(indices)
        tgt_idx = self._get_targets_permutation_indices(indices)
        pred_masks = masks_queries_logits[src_idx][:, None]
        target_masks, _ = self._pad_images_to_max_in_batch(mask_labels)
        target_masks = target_masks[tgt_idx][:, None]
        # Each matched target takes the validity map of the image it comes from.
        valid = self._valid_masks.to(pred_masks.dtype)[tgt_idx[0]][:, None]
        with torch.no_grad():
            points = self.sample_points_using_uncertainty(
                pred_masks,
                self.calculate_uncertainty,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
            )
            point_labels = sample_point(target_masks, points, align_corners=False).squeeze(1)
            point_weights = sample_point(valid, points, mode="nearest", align_corners=False).squeeze(1)
        point_logits = sample_point(pred_masks, points, align_corners=False).squeeze(1)
        # Same normalisation as transformers' sigmoid_cross_entropy_loss / dice_loss, over valid points.
        bce = F.binary_cross_entropy_with_logits(point_logits, point_labels, reduction="none")
        bce = (bce * point_weights).sum(1) / point_weights.sum(1).clamp(min=1.0)
        probs = point_logits.sigmoid() * point_weights
        targets = point_labels * point_weights
        dice = 1 - (2 * (probs * targets).sum(-1) + 1) / (probs.sum(-1) + targets.sum(-1) + 1)
        return {"loss_mask": bce.sum() / num_masks, "loss_dice": dice.sum() / num_masks}


def semantic_targets(
    labels: torch.Tensor, num_labels: int, ignore_index: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Per-image ``mask_labels`` (K,H,W float) and ``class_labels`` (K,) for the classes present.

    Returns also the validity map (B,H,W bool) of non-ignored pixels.
    """
    if labels.ndim != 3:
        raise ValueError(f"labels must be (batch, height, width); got shape {tuple(labels.shape)}")
    labels = labels.long()
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= num_labels))
    if bool(bad.any()):
        raise ValueError(
            f"labels hold values outside 0..{num_labels - 1} (and not ignore_index={ignore_index}): "
            f"{sorted(torch.unique(labels[bad]).tolist())}"
        )
    mask_labels, class_labels = [], []
    for image_labels, image_valid in zip(labels, valid):
        present = torch.unique(image_labels[image_valid])
        mask_labels.append((image_labels[None] == present[:, None, None]).float())
        class_labels.append(present)
    return mask_labels, class_labels, valid


class EuroMineMask2FormerForSegmentation(EuroMineSegmentationModel):
    """Mask2Former (Swin) on ``num_channels`` bands: ``pixel_values`` (B,C,H,W) → scores (B,2,H,W)."""

    _no_split_modules = ("SwinLayer", "Mask2FormerPixelDecoderEncoderLayer", "Mask2FormerMaskedAttentionDecoderLayer")

    config_class = EuroMineMask2FormerConfig
    config: EuroMineMask2FormerConfig

    def __init__(self, config: EuroMineMask2FormerConfig) -> None:
        super().__init__(config)
        inner = config.to_mask2former_config()
        self.mask2former = Mask2FormerForUniversalSegmentation(inner)
        # Same loss, same buffers (state-dict keys unchanged), plus ignore-index handling.
        self.mask2former.criterion = SemanticMask2FormerLoss(inner, weight_dict=self.mask2former.weight_dict)
        self.post_init()

    @staticmethod
    def semantic_scores(
        class_queries_logits: torch.Tensor, masks_queries_logits: torch.Tensor, size: Sequence[int]
    ) -> torch.Tensor:
        """Semantic inference: Σ_q softmax(class)[..., :-1] · sigmoid(mask), at ``size``."""
        masks = F.interpolate(masks_queries_logits, size=tuple(size), mode="bilinear", align_corners=False)
        classes = class_queries_logits.softmax(dim=-1)[..., :-1]
        return torch.einsum("bqc,bqhw->bchw", classes, masks.sigmoid())

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        outputs = self.mask2former(pixel_values=pixel_values)
        return self.semantic_scores(outputs.class_queries_logits, outputs.masks_queries_logits, pixel_values.shape[-2:])

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SemanticSegmenterOutput:
        self._check_input(pixel_values)
        outputs = self.mask2former(pixel_values=pixel_values, output_auxiliary_logits=labels is not None)
        logits = self.semantic_scores(
            outputs.class_queries_logits, outputs.masks_queries_logits, pixel_values.shape[-2:]
        )
        loss = None
        if labels is not None:
            if labels.shape[-2:] != pixel_values.shape[-2:]:
                raise ValueError(
                    f"labels must match pixel_values' size {tuple(pixel_values.shape[-2:])}; got {tuple(labels.shape)}"
                )
            mask_labels, class_labels, valid = semantic_targets(labels, self.config.num_labels, self.config.ignore_index)
            criterion: SemanticMask2FormerLoss = self.mask2former.criterion
            loss_dict = criterion(
                masks_queries_logits=outputs.masks_queries_logits.float(),
                class_queries_logits=outputs.class_queries_logits.float(),
                mask_labels=mask_labels,
                class_labels=class_labels,
                auxiliary_predictions=[
                    {key: value.float() for key, value in aux.items()} for aux in (outputs.auxiliary_logits or [])
                ],
                valid_masks=valid,
            )
            # transformers' weighting (get_loss_dict): every term named after a weight is scaled by it.
            weights = self.mask2former.weight_dict
            loss = sum(
                value * next(weight for key, weight in weights.items() if key in name)
                for name, value in loss_dict.items()
            )
        return SemanticSegmenterOutput(loss=loss, logits=logits)

    def _init_weights(self, module: nn.Module) -> None:
        # Every parameter lives in the transformers sub-model, which initialises itself.
        return


register_model(
    "mask2former",
    "Mask2Former (SwinT-B)",
    EuroMineMask2FormerConfig,
    EuroMineMask2FormerForSegmentation,
    task="segmentation",
    paper={},
    tiny={
        "backbone_config": {
            "embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2], "window_size": 4, "drop_path_rate": 0.0,
        },
        "feature_size": 32,
        "mask_feature_size": 32,
        "hidden_dim": 16,
        "encoder_layers": 1,
        "encoder_feedforward_dim": 32,
        "decoder_layers": 2,
        "num_attention_heads": 2,
        "dim_feedforward": 32,
        "num_queries": 8,
        "train_num_points": 256,
    },
)
