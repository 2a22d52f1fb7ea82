"""The Trainer of change detectors: pair batches as they are, or patch series turned into the year
pairs of the paper's Eq. 7.

Two samplings (``--sampling``):

* ``pairs`` — one year pair per sample, all pairs of the training patches (or those of
  ``--intervals``), shuffled; the loss is the detector's own (cross-entropy, or what its config says).
* ``timeseries`` — one patch series per sample; the loss is the paper's Eq. 7, the mean of the
  pair losses over the series' year pairs: all of them, or ``--pairs_per_series k`` drawn per series
  and step. The draw is a pure function of (seed, step, micro-batch, rank), like the augmentation,
  so resuming continues exactly.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence

import numpy as np
import torch
from transformers import Trainer

from euromine_hf.training.trainer import EuroMineTrainer

__all__ = ["ChangeDetectionTrainer", "series_pairs"]


def series_pairs(years: Sequence[int], intervals: Sequence[int] | None = None) -> np.ndarray:
    """(P, 2) positions (i, j), i < j, of the year pairs of a series with ``years``, in (t1, t2) order,
    restricted to the gaps ``years[j] − years[i]`` in ``intervals`` when given."""
    years = [int(y) for y in years]
    allowed = None if intervals is None else {int(k) for k in intervals}
    pairs = [(i, j) for i, j in combinations(range(len(years)), 2) if allowed is None or years[j] - years[i] in allowed]
    if not pairs:
        raise ValueError(f"no year pair of the years {years} has an interval in {sorted(allowed or [])}")
    return np.asarray(pairs, dtype=np.int64)


class ChangeDetectionTrainer(EuroMineTrainer):
    """``EuroMineTrainer`` for detectors: pair batches go to the model as they are; series batches
    (``pixel_values`` (B,T,C,H,W), ``labels`` (B,T,H,W)) become pair batches for Eq. 7.

    ``series_years`` are the years of the series' T positions; ``intervals`` restricts the pairs;
    ``pairs_per_series`` = k draws k distinct pairs per series per step (None: all pairs).
    """

    def __init__(
        self,
        *args: Any,
        series_years: Sequence[int] | None = None,
        intervals: Sequence[int] | None = None,
        pairs_per_series: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.series_years = None if series_years is None else [int(y) for y in series_years]
        self.intervals = None if intervals is None else [int(k) for k in intervals]
        self.pairs_per_series = pairs_per_series
        if pairs_per_series is not None and pairs_per_series < 1:
            raise ValueError(f"pairs_per_series must be a positive count; got {pairs_per_series}")

    def series_to_pairs(self, inputs: dict[str, Any], training: bool) -> dict[str, torch.Tensor]:
        """The pair batch of Eq. 7: for each series, its (chosen) year pairs, flattened series-major."""
        pixel_values, labels = inputs["pixel_values"], inputs.get("labels")
        b, t = pixel_values.shape[:2]
        years = self.series_years or list(range(t))
        if len(years) != t:
            raise ValueError(f"series batch has {t} years but the trainer was given series_years {years}")
        candidates = series_pairs(years, self.intervals)
        k = self.pairs_per_series
        if k is None or k >= len(candidates) or not training:
            chosen = np.broadcast_to(np.arange(len(candidates)), (b, len(candidates)))
        else:
            step, micro = self.micro_step
            rng = np.random.default_rng([int(self.args.seed), step, micro, int(self.args.process_index), 7])
            chosen = np.stack([rng.choice(len(candidates), size=k, replace=False) for _ in range(b)])
        series = torch.as_tensor(np.repeat(np.arange(b), chosen.shape[1]), device=pixel_values.device)
        first = torch.as_tensor(candidates[chosen.reshape(-1), 0], device=pixel_values.device)
        second = torch.as_tensor(candidates[chosen.reshape(-1), 1], device=pixel_values.device)
        out = {"pixel_values_t1": pixel_values[series, first], "pixel_values_t2": pixel_values[series, second]}
        if labels is not None:
            m1, m2 = labels[series, first], labels[series, second]
            ignore = getattr(getattr(self.model, "config", None), "ignore_index", 255)
            change = (m1 != m2).long()
            change[(m1 == ignore) | (m2 == ignore)] = ignore
            out.update(labels=change, labels_t1=m1, labels_t2=m2)
        return out

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        if "pixel_values" in inputs:
            if inputs["pixel_values"].ndim != 5:
                raise ValueError("a change detector takes pairs (pixel_values_t1/_t2) or series (B,T,C,H,W); got "
                                 f"pixel_values of shape {tuple(inputs['pixel_values'].shape)}")
            # Eq. 7: the detector's loss is a mean over the B·P pairs, i.e. over each series' pairs
            inputs = self.series_to_pairs(inputs, training=model.training)
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

