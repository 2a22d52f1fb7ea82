"""The model bases: one output path for every EuroMineNet model, and one base per task.

Why one path: Trainer, the metrics, inference and the cards rely on the same contract from all 31
models — logits (B, 2, H, W) at input resolution in a ``SemanticSegmenterOutput``, a loss when
labels are given, auxiliary (deep-supervision) terms only in the training loss so evaluation losses
stay comparable across models. Subclasses implement only what differs:

* :class:`EuroMineSegmentationModel` — ``segment(pixel_values)`` (``pixel_values`` in),
* :class:`EuroMineChangeDetectionModel` — ``detect(pixel_values_t1, pixel_values_t2)``
  (``main_input_name = "pixel_values_t1"``).

Either may instead override the ``…_with_auxiliary`` variant to return extra logits as
:class:`Auxiliary` terms, each naming which labels supervise it (the change mask, or a date's mine
mask for dual-task detectors such as DTCDSCN).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Iterator, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SemanticSegmenterOutput

from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig


class Auxiliary(NamedTuple):
    """An extra training-loss term: ``weight × loss(resize(logits), labels[target])``.

    ``target`` is the forward argument holding its labels: ``"labels"`` (the main target),
    ``"labels_t1"`` / ``"labels_t2"`` (each date's mine mask, for detectors with semantic branches).
    A term whose labels were not given is skipped.
    """

    weight: float
    logits: torch.Tensor
    target: str = "labels"


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling of logits to the input resolution (no-op when already there)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def binary_logits(score: torch.Tensor) -> torch.Tensor:
    """Two-class logits ``[0, z]`` from one sigmoid score map ``z`` (B,1,H,W) → (B,2,H,W).

    softmax([0, z])[1] = sigmoid(z), so cross-entropy on these logits equals the binary
    cross-entropy that detectors with a single sigmoid output (A2Net, TinyCD, …) are trained with,
    and argmax equals ``z > 0``: such models keep the common two-logit contract unchanged.
    """
    if score.ndim != 4 or score.shape[1] != 1:
        raise ValueError(f"binary_logits expects a (B,1,H,W) score map; got {tuple(score.shape)}")
    return torch.cat([torch.zeros_like(score), score], dim=1)


def soft_dice_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, eps: float = 1.0) -> torch.Tensor:
    """1 − soft Dice of the positive-class probability over the batch (ignored pixels left out)."""
    valid = (labels != ignore_index).float()
    target = (labels == 1).float() * valid
    probability = logits.float().softmax(dim=1)[:, 1] * valid
    intersection = (probability * target).sum()
    return 1.0 - (2.0 * intersection + eps) / (probability.sum() + target.sum() + eps)


CONV_INITS = ("pytorch", "he_fan_out")


def init_convolution(module: nn.Module, scheme: str = "pytorch") -> None:
    """Initialise one convolution: ``"pytorch"`` (its own ``reset_parameters``) or ``"he_fan_out"``."""
    if scheme == "pytorch":
        module.reset_parameters()
    elif scheme == "he_fan_out":
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    else:
        raise ValueError(f"conv_init must be one of {CONV_INITS}; got {scheme!r}")


@contextlib.contextmanager
def _no_shard_progress_bar() -> Iterator[None]:
    """Silence transformers' "Writing model shards" bar while saving: our models fit one shard, so it
    is one meaningless 1/1 line on stderr per checkpoint (dozens in a training run)."""
    from transformers.utils import logging as hf_logging

    if not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


class EuroMinePreTrainedModel(PreTrainedModel):
    """What all EuroMineNet models share: weight init, the loss and the output path."""

    config_class = EuroMineConfig
    base_model_prefix = "euromine"
    # Trainer must not pass num_items_in_batch: our loss is a plain mean (DESIGN.md).
    accepts_loss_kwargs = False
    supports_gradient_checkpointing = False
    #: State-dict keys of parameters with one row per input band in dim 0 (not per output channel of
    #: a layer that sums over bands): ``load_rgb_checkpoint`` adapts them row by row.
    band_indexed_parameters: tuple[str, ...] = ()

    #: How the model's own convolutions start (a transformers backbone inside keeps its own init):
    #: ``"pytorch"``, PyTorch's default (Kaiming-uniform with a=√5, uniform bias), which is what the
    #: change-detection framework and most reference code run, since they set no init; or
    #: ``"he_fan_out"`` (N(0, 2/fan_out), zero bias) for the models whose reference code sets it
    #: (SNUNet, HANet, DTCDSCN, ChangeFormer). He fan-out over every conv was the default until
    #: issue 15: behind BatchNorm a conv's output ignores its weights' scale, so Adam's fixed-size
    #: steps moved He's ~2.5× larger weights ~2.5× less in relative terms, and narrow models (FC-EF,
    #: FC-Siam-*, LinkNet, A2Net, DTCDSCN's heads) stayed at "background everywhere" on a batch
    #: a model must fit (``bench/learning.py``).
    conv_init: str = "pytorch"

    def _init_weights(self, module: nn.Module) -> None:
        """Convolutions as :attr:`conv_init` says, unit/zero for norms, N(0, 0.02²) for linear layers."""
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d)):
            init_convolution(module, self.conv_init)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def post_init(self) -> None:
        """transformers' post-init, then ``_no_split_modules`` = the model's own FSDP units plus its parts'.

        transformers gathers ``_no_split_modules`` from child ``PreTrainedModel``s only, so an encoder
        part (a plain module around a backbone) would contribute nothing and a nested transformers
        model would contribute its device-map blocks (e.g. a whole ``SwinStage``). Here the classes
        come from this class and from every non-``PreTrainedModel`` submodule that declares them
        (the encoders), so the wrap units follow the backbone a model is built with: the same
        ``configs/fsdp.yaml`` wraps ``SwinLayer`` for ``upernet-swin`` and ``ConvNextStage`` for
        ``upernet-convnext``.
        """
        super().post_init()
        units = set(type(self)._no_split_modules or ())
        for module in self.modules():
            if not isinstance(module, PreTrainedModel):
                units.update(getattr(module, "_no_split_modules", None) or ())
        self._no_split_modules = units

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        """Config and weights, plus (saved from the package) the code files and ``auto_map`` that let
        ``trust_remote_code=True`` load the model without the package, and the image processor; the
        folder is then synced to disk (:func:`euromine_hf.io.sync_tree`).

        A copy loaded as remote code is saved by transformers' own ``custom_object_save`` instead.
        """
        ours = type(self).__module__.startswith("euromine_hf.") and kwargs.get("is_main_process", True)
        if ours:
            # by name: this file is itself copied as remote code, where the package is absent
            importlib.import_module("euromine_hf.models.remote_code").prepare_model_folder(self, save_directory)
        with _no_shard_progress_bar():
            result = super().save_pretrained(save_directory, *args, **kwargs)
        if ours:  # a saved model (a checkpoint, the trained model) survives a power loss once this returns
            importlib.import_module("euromine_hf.io").sync_tree(save_directory, parent=True)
        return result

    def _check_image(self, name: str, tensor: torch.Tensor) -> None:
        if tensor.ndim != 4 or tensor.shape[1] != self.config.num_channels:
            raise ValueError(
                f"{name} must be (batch, {self.config.num_channels}, height, width); got shape {tuple(tensor.shape)}"
            )

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (+ soft Dice when the config's ``loss`` asks for it) on full-size logits."""
        kind = getattr(self.config, "loss", "ce")
        ignore_index = self.config.ignore_index
        loss = logits.new_zeros((), dtype=torch.float32)
        if kind in ("ce", "ce+dice"):
            loss = loss + F.cross_entropy(logits.float(), labels.long(), ignore_index=ignore_index)
        if kind in ("dice", "ce+dice"):
            loss = loss + soft_dice_loss(logits, labels, ignore_index)
        return loss

    def _output(
        self,
        logits: torch.Tensor,
        auxiliary: Sequence[Auxiliary],
        size: Sequence[int],
        targets: dict[str, torch.Tensor | None],
    ) -> SemanticSegmenterOutput:
        """Resize to the input, add the main and auxiliary loss terms, wrap in the output class."""
        logits = resize_logits(logits, size)
        loss = None
        if targets.get("labels") is not None:
            loss = self.compute_loss(logits, targets["labels"])
            for term in auxiliary:
                term = Auxiliary(*term)
                labels = targets.get(term.target)
                if labels is not None:
                    loss = loss + term.weight * self.compute_loss(resize_logits(term.logits, size), labels)
        return SemanticSegmenterOutput(loss=loss, logits=logits)


class EuroMineSegmentationModel(EuroMinePreTrainedModel):
    """Base for segmenters: ``pixel_values`` (B,C,H,W) → logits (B,num_labels,H,W) + loss."""

    main_input_name = "pixel_values"

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_input(self, pixel_values: torch.Tensor) -> None:
        self._check_image("pixel_values", pixel_values)

    def segment_with_auxiliary(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[Auxiliary]]:
        """Main logits plus auxiliary terms; models with auxiliary heads (UperNet, PSPNet) override it."""
        return self.segment(pixel_values), []

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SemanticSegmenterOutput:
        self._check_input(pixel_values)
        if labels is not None and self.training:
            logits, auxiliary = self.segment_with_auxiliary(pixel_values)
        else:
            logits, auxiliary = self.segment(pixel_values), []
        return self._output(logits, auxiliary, pixel_values.shape[-2:], {"labels": labels})


class EuroMineChangeDetectionModel(EuroMinePreTrainedModel):
    """Base for change detectors: two dates (B,C,H,W) each → change logits (B,2,H,W) + loss.

    ``labels`` is the change mask |mask_t2 − mask_t1|; ``labels_t1`` / ``labels_t2`` (each date's
    mine mask, which every EuroMineNet pair carries) supervise semantic branches where a detector
    has them, and are ignored otherwise.
    """

    config_class = EuroMineChangeDetectionConfig
    main_input_name = "pixel_values_t1"

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        """Main logits plus deep-supervision / semantic terms; detectors that have them override it."""
        return self.detect(pixel_values_t1, pixel_values_t2), []

    def forward(
        self,
        pixel_values_t1: torch.Tensor,
        pixel_values_t2: torch.Tensor,
        labels: torch.Tensor | None = None,
        labels_t1: torch.Tensor | None = None,
        labels_t2: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SemanticSegmenterOutput:
        self._check_image("pixel_values_t1", pixel_values_t1)
        self._check_image("pixel_values_t2", pixel_values_t2)
        if pixel_values_t1.shape != pixel_values_t2.shape:
            raise ValueError(
                "pixel_values_t1 and pixel_values_t2 must have the same shape; got "
                f"{tuple(pixel_values_t1.shape)} and {tuple(pixel_values_t2.shape)}"
            )
        if labels is not None and self.training:
            logits, auxiliary = self.detect_with_auxiliary(pixel_values_t1, pixel_values_t2)
        else:
            logits, auxiliary = self.detect(pixel_values_t1, pixel_values_t2), []
        targets = {"labels": labels, "labels_t1": labels_t1, "labels_t2": labels_t2}
        return self._output(logits, auxiliary, pixel_values_t1.shape[-2:], targets)


__all__ = [
    "Auxiliary",
    "EuroMineChangeDetectionModel",
    "EuroMinePreTrainedModel",
    "EuroMineSegmentationModel",
    "binary_logits",
    "resize_logits",
    "soft_dice_loss",
]
