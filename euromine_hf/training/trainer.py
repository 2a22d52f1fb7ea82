"""``EuroMineTrainer``: the HF ``Trainer`` with time-series batches, a separate evaluation collator,
the temporal-consistency term, and metrics bound to the dataset being scored.

Why a subclass at all: (1) ``timeseries`` sampling feeds (B,T,C,H,W) batches that the segmenters
(which take (B,C,H,W)) see flattened, and the Eq. 6 / consistency losses need the year axis back;
(2) training may read the ``timeseries`` config while evaluation always scores per-year ``mapping``
rows, so evaluation needs its own collator; (3) ``compute_metrics`` reads site/patch/year/offset
keys from the evaluated dataset in order, so it must know which dataset an ``evaluate`` call scores;
(4) checkpoints are written by ``save_pretrained`` in transformers' on-disk key names (e.g. Segformer's
``linear_c`` for ``linear_projections``, Swin's backbone without ``swin.``), and ``Trainer`` reloads
them (best model, resume) with a plain ``load_state_dict(strict=False)`` that only logs the keys it
could not place: here they go through ``from_pretrained``'s key mapping and must match exactly.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
from typing import Any, Callable, Iterator

import numpy as np
import torch
from transformers import PreTrainedModel, Trainer
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

from euromine_hf.bands import PATCH_SIZE
from euromine_hf.data.collators import NUM_DIHEDRAL, dihedral_batch
from euromine_hf.training.losses import temporal_consistency_loss


def argmax_logits_uint8(logits: Any, labels: Any = None) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: keep (B,H,W) class ids as uint8, not (B,2,H,W) floats."""
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    return logits.argmax(dim=1).to(torch.uint8)


logger = logging.getLogger(__name__)

_WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)


def check_resume_files(checkpoint: str | os.PathLike) -> None:
    """Check that the torch files a resume reads (``optimizer.pt``, ``scheduler.pt``,
    ``rng_state*.pth``) are ``torch.save`` archives before torch unpickles them."""
    from euromine_hf.models.loading import check_torch_weights

    folder = os.fspath(checkpoint)
    for name in sorted(os.listdir(folder)):
        if name in ("optimizer.pt", "scheduler.pt", "scaler.pt") or (name.startswith("rng_state") and name.endswith(".pth")):
            check_torch_weights(os.path.join(folder, name), field="resume state", expected="torch.save's zip archive")


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model exactly (missing, unexpected or resized tensors)."""


def load_checkpoint_weights(model: PreTrainedModel, checkpoint_dir: str | os.PathLike) -> None:
    """Load the weights saved in ``checkpoint_dir`` into ``model`` in place, exactly as ``from_pretrained`` reads them.

    The folder is read by ``type(model).from_pretrained`` (with ``model``'s own config), so the
    same key renaming and weight conversions apply as for any user loading the folder; the result
    is then copied with ``load_state_dict(strict=True)``.  Any tensor that is missing, unexpected
    or of another shape raises :class:`CheckpointMismatchError` naming the folder and the keys,
    instead of leaving a mix of old and new weights behind.
    """
    import pickle

    from safetensors import SafetensorError

    from euromine_hf.models.loading import check_weights

    folder = os.fspath(checkpoint_dir)
    if not any(os.path.isfile(os.path.join(folder, name)) for name in _WEIGHT_FILES):
        raise FileNotFoundError(f"{folder}: no model weights (expected one of {', '.join(_WEIGHT_FILES)})")
    check_weights(folder)  # a truncated or foreign weight file: an error naming it, not safetensors' nameless one
    try:
        fresh, info = type(model).from_pretrained(folder, config=copy.deepcopy(model.config), output_loading_info=True)
    except RuntimeError as error:  # from_pretrained raises on tensors of another shape
        raise CheckpointMismatchError(f"{folder}: the checkpoint does not fit {type(model).__name__} "
                                      f"(mismatched_keys: {error})") from error
    except (SafetensorError, pickle.UnpicklingError, EOFError) as error:
        raise ValueError(f"{folder}: model weights: expected a readable checkpoint, {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}") from None
    problems = {key: info.get(key) for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs",
                                                "conversion_errors")}
    problems = {key: value for key, value in problems.items() if value}
    if problems:
        detail = "; ".join(f"{key}: {sorted(map(str, value))[:8]}" for key, value in problems.items())
        raise CheckpointMismatchError(f"{folder}: the checkpoint does not fit {type(model).__name__} ({detail})")
    model.load_state_dict(fresh.state_dict(), strict=True)


#: batch keys moved together by the augmentation (single images / series, then the two dates of a pair)
_IMAGE_KEYS = ("pixel_values", "pixel_values_t1", "pixel_values_t2")
_MASK_KEYS = ("labels", "labels_t1", "labels_t2")


def parameters_without_gradient(model: torch.nn.Module, size: int = PATCH_SIZE) -> list[str]:
    """Names of the trainable parameters one training step leaves without a gradient.

    One forward/backward of a copy of ``model`` on a random (2, C, size, size) batch (pooled BatchNorm
    needs two samples) with the labels its training batches carry (both dates' masks for detectors
    that use them; a 3-year series for series models), inside a forked RNG: the model, its BatchNorm statistics and the random streams
    the run is seeded with stay untouched. Run once per process, and only under DDP.
    """
    import inspect

    probe = copy.deepcopy(model).to("cpu").train()
    channels = int(getattr(probe.config, "num_channels", 10))
    inputs = inspect.signature(probe.forward).parameters
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        image = lambda: torch.randn(2, channels, size, size)  # noqa: E731
        labels = torch.randint(0, 2, (2, size, size))
        if getattr(probe.config, "task", None) == "multitemporal":  # a series model: a 3-year series per sample
            batch = {"pixel_values": torch.stack([image() for _ in range(3)], dim=1),
                     "years": torch.tensor([[2015, 2016, 2017]] * 2),
                     "labels": torch.stack([labels] * 3, dim=1)}
        elif "pixel_values_t1" in inputs:
            batch = {"pixel_values_t1": image(), "pixel_values_t2": image(), "labels": labels}
            if getattr(probe, "uses_date_labels", False):
                batch.update(labels_t1=labels, labels_t2=labels)
        else:
            batch = {"pixel_values": image(), "labels": labels}
        probe(**batch).loss.backward()
    return [name for name, p in probe.named_parameters() if p.requires_grad and p.grad is None]


class EuroMineTrainer(Trainer):
    """Trainer for EuroMineNet segmenters.

    Extra arguments: ``eval_data_collator`` (collator for validation/test ``mapping`` rows; defaults
    to ``data_collator``) and ``augment`` (random dihedral flips/rotations of training batches).
    The training arguments' ``temporal_consistency_weight`` (0 = off) adds
    :func:`temporal_consistency_loss` to time-series batches.

    ``radiometric_jitter`` = r multiplies each training sample's digital numbers by one gain drawn
    from [1 − r, 1 + r] (all bands and years of the sample alike), as a different acquisition,
    atmosphere or processing baseline would: it teaches the gain invariance that a band-ratio index
    has by construction.  It is applied in normalised space with the published mean/std.

    Augmentation lives here rather than in the collator because a collator's random stream is not
    part of a checkpoint (and accelerate's loader collates one batch ahead), so resuming would
    draw different flips.  Here each sample's transform is a pure function of (seed, optimizer
    step, micro-batch, rank): ``resume_from_checkpoint`` continues exactly, in any number of
    processes and DataLoader workers.  Use the collators with ``augment=False`` under this Trainer.
    """

    def __init__(
        self,
        *args: Any,
        eval_data_collator: Callable | None = None,
        augment: bool = False,
        radiometric_jitter: float = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("preprocess_logits_for_metrics", argmax_logits_uint8)
        model = kwargs["model"] if "model" in kwargs else (args[0] if args else None)
        training_args = kwargs["args"] if "args" in kwargs else (args[1] if len(args) > 1 else None)
        if (training_args is not None and model is not None and training_args.ddp_find_unused_parameters is None
                and training_args.world_size > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() != "true"):
            # Trainer's default is True for every model: DDP then walks the graph each step and torch
            # warns on every rank when nothing was unused. Which parameters a step leaves unused depends
            # on the model's config (BIT's and ICIF-Net's paper presets skip a backbone stage), so ask it.
            training_args.ddp_find_unused_parameters = bool(parameters_without_gradient(model))
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator or self.data_collator
        self.augment = bool(augment)
        if not 0.0 <= radiometric_jitter < 1.0:
            raise ValueError(f"radiometric_jitter must be in [0, 1); got {radiometric_jitter}")
        self.radiometric_jitter = float(radiometric_jitter)
        self.last_loss_parts: dict[str, float] = {}
        #: (optimizer step, micro-batch index within it) of the batch being trained on; every per-batch draw
        #: (augmentation here, Eq. 7's pairs in the subclasses) is a function of it, the seed and the rank
        self.micro_step = (-1, 0)

    # ---- checkpoint loading: through from_pretrained's key mapping, strict ---------------------

    def _plain_weights_load(self, model: Any) -> bool:
        """True where Trainer would ``load_state_dict`` a weights file itself (no FSDP/DeepSpeed/PEFT)."""
        from transformers.trainer import _is_peft_model
        from transformers.utils import is_sagemaker_mp_enabled

        return (isinstance(model, PreTrainedModel) and not self.is_fsdp_enabled and not self.is_deepspeed_enabled
                and not is_sagemaker_mp_enabled() and not _is_peft_model(model))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        if not self._plain_weights_load(target):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_checkpoint_weights(target, resume_from_checkpoint)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """Trainer's resume of the optimizer and LR scheduler, with a damaged ``optimizer.pt`` /
        ``scheduler.pt`` reported as an error naming the file (torch's is a traceback that advises
        ``weights_only=False``)."""
        if checkpoint is not None:
            check_resume_files(checkpoint)
        try:
            super()._load_optimizer_and_scheduler(checkpoint)
        except (RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as error:
            raise ValueError(f"{checkpoint}: optimizer.pt / scheduler.pt: expected the optimizer and scheduler state "
                             f"saved with this run's settings, {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None

    def _load_rng_state(self, checkpoint: str | None) -> None:
        try:
            super()._load_rng_state(checkpoint)
        except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
            raise ValueError(f"{checkpoint}: rng_state.pth: expected the random states torch.save wrote, "
                             f"{type(error).__name__}") from None

    def _load_best_model(self) -> None:
        target = self.accelerator.unwrap_model(self.model)
        if not self._plain_weights_load(target):
            return super()._load_best_model()
        logger.info("loading the best model from %s (%s %s)", self.state.best_model_checkpoint,
                                         self.args.metric_for_best_model, self.state.best_metric)
        load_checkpoint_weights(target, self.state.best_model_checkpoint)

    # ---- augmentation -------------------------------------------------------------------------

    def next_micro_step(self) -> tuple[int, int]:
        """Advance :attr:`micro_step` to the batch about to be trained on (``training_step`` calls it once
        per batch) and return it."""
        step = self.state.global_step
        micro = self.micro_step[1] + 1 if self.micro_step[0] == step else 0
        self.micro_step = (step, micro)
        return self.micro_step

    def augment_batch(self, inputs: dict[str, Any], advance: bool = True) -> dict[str, Any]:
        """One dihedral transform per sample on its images and masks alike (``pixel_values``, ``labels``;
        for pairs also ``pixel_values_t1/_t2``, ``labels_t1/_t2``), and one gain per sample for all its images.
        Drawn for the next micro-step, or with ``advance=False`` for :attr:`micro_step` as it is."""
        step, micro = self.next_micro_step() if advance else self.micro_step
        image_keys = [k for k in _IMAGE_KEYS if k in inputs]
        pixel_values = inputs[image_keys[0]]
        if self.augment and pixel_values.shape[-1] != pixel_values.shape[-2]:
            raise ValueError(f"augmentation rotates by 90 degrees and needs square patches; got {tuple(pixel_values.shape)}")
        rng = np.random.default_rng([int(self.args.seed), step, micro, int(self.args.process_index)])
        ks = rng.integers(0, NUM_DIHEDRAL, size=pixel_values.shape[0]).tolist()
        gains = None
        if self.radiometric_jitter > 0:
            gains = 1.0 + rng.uniform(-self.radiometric_jitter, self.radiometric_jitter, size=pixel_values.shape[0])
        out = dict(inputs)
        if not self.augment:
            if gains is not None:
                out.update({k: self._scale_gain(inputs[k], gains) for k in image_keys})
            return out
        # One pass per key, on the key's own device (see dihedral_batch); the gain is then applied in
        # place on the transformed copy: element-wise, so bit for bit what gain-then-transform gave.
        for key in (*_IMAGE_KEYS, *_MASK_KEYS):
            if key in inputs:
                out[key] = dihedral_batch(inputs[key], ks)
        if gains is not None:
            for key in image_keys:
                self._scale_gain(out[key], gains, in_place=True)
        return out

    @staticmethod
    def _scale_gain(pixel_values: torch.Tensor, gains: np.ndarray, in_place: bool = False) -> torch.Tensor:
        """(g·x − m)/s = g·(x − m)/s + (g − 1)·m/s on normalised inputs (bands on axis −3).

        ``in_place`` writes into ``pixel_values`` (a buffer the caller owns) with the same two
        float32 operations per element, so both forms agree bit for bit."""
        from euromine_hf.bands import MEAN, STD

        bands = pixel_values.shape[-3]
        if bands != len(MEAN):
            raise ValueError(f"radiometric jitter needs the {len(MEAN)} published bands; got {bands} channels")
        shape = (-1,) + (1,) * (pixel_values.ndim - 1)
        g = torch.as_tensor(gains, dtype=pixel_values.dtype, device=pixel_values.device).reshape(shape)
        offset = torch.as_tensor(MEAN / STD, dtype=pixel_values.dtype, device=pixel_values.device).reshape(bands, 1, 1)
        if in_place:
            return pixel_values.mul_(g).add_((g - 1) * offset)
        return g * pixel_values + (g - 1) * offset

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        self.next_micro_step()
        if self.augment or self.radiometric_jitter > 0:
            inputs = self.augment_batch(inputs, advance=False)
        return super().training_step(model, inputs, num_items_in_batch)

    # ---- losses -------------------------------------------------------------------------------

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        pixel_values = inputs["pixel_values"]
        if pixel_values.ndim != 5:  # per-year batch: the model's own loss (cross-entropy)
            weight = float(getattr(self.args, "temporal_consistency_weight", 0.0) or 0.0)
            if weight > 0 and model.training:
                raise ValueError(
                    "temporal_consistency_weight > 0 needs time-series batches (--sampling timeseries); "
                    f"got pixel_values of shape {tuple(pixel_values.shape)}"
                )
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return self._compute_series_loss(model, inputs, return_outputs)

    def _compute_series_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool) -> Any:
        """Eq. 6 on a (B,T,...) batch, plus the optional temporal-consistency term.

        The model sees the B·T images flattened; its own loss (cross-entropy, or Mask2Former's mask
        loss) is a mean over those B·T samples, i.e. the mean over the T years of each year's batch
        loss — Eq. 6 — without re-implementing every architecture's loss here.
        """
        pixel_values, labels = inputs["pixel_values"], inputs.get("labels")
        b, t = pixel_values.shape[:2]
        flat = {"pixel_values": pixel_values.reshape(b * t, *pixel_values.shape[2:])}
        if labels is not None:
            flat["labels"] = labels.reshape(b * t, *labels.shape[2:])
        outputs = model(**flat)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        weight = float(getattr(self.args, "temporal_consistency_weight", 0.0) or 0.0)
        parts = {"data_loss": float(loss.detach())}
        if weight > 0 and labels is not None:
            logits = outputs["logits"]
            series_logits = logits.reshape(b, t, *logits.shape[1:])
            ignore_index = getattr(getattr(model, "config", None), "ignore_index", 255)
            consistency = temporal_consistency_loss(series_logits, labels, ignore_index=ignore_index)
            loss = loss + weight * consistency
            parts["consistency_loss"] = float(consistency.detach())
        self.last_loss_parts = parts
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Training logs also show the last batch's loss parts (data term, consistency term)."""
        if "loss" in logs and "consistency_loss" in self.last_loss_parts:
            logs = {**logs, **{k: round(v, 6) for k, v in self.last_loss_parts.items()}}
        super().log(logs, start_time)

    # ---- evaluation: its own collator, metrics bound to the scored dataset ----------------------

    @contextlib.contextmanager
    def _using_collator(self, collator: Callable) -> Iterator[None]:
        saved = self.data_collator
        self.data_collator = collator
        try:
            yield
        finally:
            self.data_collator = saved

    def get_eval_dataloader(self, eval_dataset: Any = None) -> torch.utils.data.DataLoader:
        with self._using_collator(self.eval_data_collator):
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset: Any) -> torch.utils.data.DataLoader:
        with self._using_collator(self.eval_data_collator):
            return super().get_test_dataloader(test_dataset)

    def _bind_metrics(self, dataset: Any) -> None:
        bind = getattr(self.compute_metrics, "bind", None)
        if bind is not None and dataset is not None:
            bind(dataset)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        dataset = eval_dataset
        if dataset is None:
            dataset = self.eval_dataset
        elif isinstance(dataset, str):
            dataset = self.eval_dataset[dataset]
        if isinstance(dataset, dict):  # several eval sets: Trainer calls evaluate once per name
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        self._bind_metrics(dataset)
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def predict(self, test_dataset: Any, ignore_keys: list[str] | None = None,
                metric_key_prefix: str = "test") -> Any:
        self._bind_metrics(test_dataset)
        return super().predict(test_dataset, ignore_keys, metric_key_prefix)
