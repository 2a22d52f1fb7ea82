"""The Trainer of series models (``--task multitemporal``): a patch's whole series per sample, the
model's own loss (the paper's Eq. 6 over the years + Eq. 7 over the year pairs), and evaluation
batches reduced to uint8 class ids as soon as the model answers.

``--pairs_per_series k`` draws k of a series' year pairs per series and step (a pure function of
seed, step, micro-batch and rank, as :class:`~euromine_hf.training.change_trainer.ChangeDetectionTrainer`
draws them, so resuming continues exactly); Eq. 7 is then the mean over the drawn pairs. Augmentation
is :class:`~euromine_hf.training.trainer.EuroMineTrainer`'s: one transform per series for all its years.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import torch

from euromine_hf.training.trainer import EuroMineTrainer

__all__ = ["MultitemporalTrainer", "all_pairs", "series_class_ids"]


def all_pairs(t: int) -> torch.Tensor:
    """(P, 2) positions (i, j), i < j, of every year pair of a T-year series (45 for T = 10)."""
    return torch.tensor(list(combinations(range(t), 2)), dtype=torch.long).reshape(-1, 2)


def series_class_ids(outputs: Any, labels: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``preprocess_logits_for_metrics``: (yearly (B,T,H,W), change (B,P,H,W)) uint8 class ids, so an
    evaluation keeps 1 byte per pixel and map, never the (B,T,2,H,W) and (B,P,2,H,W) float logits."""
    logits, change_logits = outputs[0], outputs[1]
    return logits.argmax(dim=2).to(torch.uint8), change_logits.argmax(dim=2).to(torch.uint8)


class MultitemporalTrainer(EuroMineTrainer):
    """``EuroMineTrainer`` for series models: batches ``pixel_values`` (B,T,C,H,W), ``labels`` (B,T,H,W),
    ``years`` and ``year_mask`` (B,T) go to the model whole; evaluation asks for every year pair (a fixed
    P, so batches concatenate) and keeps class ids only."""

    def __init__(self, *args: Any, pairs_per_series: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("preprocess_logits_for_metrics", series_class_ids)
        super().__init__(*args, **kwargs)
        if pairs_per_series is not None and pairs_per_series < 1:
            raise ValueError(f"pairs_per_series must be a positive count; got {pairs_per_series}")
        self.pairs_per_series = pairs_per_series

    def draw_pairs(self, year_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pairs (P,2), drawn (B,P) bool)``: k pairs of each series' present years, P their union."""
        b, t = year_mask.shape
        candidates = all_pairs(t).numpy()
        present = year_mask.detach().cpu().numpy()
        step, micro = self.micro_step
        rng = np.random.default_rng([int(self.args.seed), step, micro, int(self.args.process_index), 7])
        chosen = np.zeros((b, len(candidates)), dtype=bool)
        for s in range(b):
            own = np.flatnonzero(present[s, candidates[:, 0]] & present[s, candidates[:, 1]])
            k = min(int(self.pairs_per_series), len(own))
            chosen[s, rng.choice(own, size=k, replace=False)] = True
        used = np.flatnonzero(chosen.any(axis=0))
        device = year_mask.device
        return (torch.as_tensor(candidates[used], device=device),
                torch.as_tensor(chosen[:, used], device=device))

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        pixel_values = inputs["pixel_values"]
        if pixel_values.ndim != 5:
            raise ValueError("a series model takes a patch's series, pixel_values (B,T,C,H,W); got shape "
                             f"{tuple(pixel_values.shape)}")
        inputs = dict(inputs)
        t = pixel_values.shape[1]
        if not model.training:  # every pair, so each batch's change maps have the same P
            inputs["pairs"] = all_pairs(t).to(pixel_values.device)
        elif self.pairs_per_series is not None and self.pairs_per_series < t * (t - 1) // 2:
            return self._drawn_pairs_loss(model, inputs, return_outputs)
        outputs = model(**inputs)
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def _drawn_pairs_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool) -> Any:
        """Eq. 6 + Eq. 7 over the drawn pairs: the model is asked, per series, for its own drawn pairs
        only (``pair_mask``), so a step computes B·k change maps, not B × the union of the draws."""
        year_mask = inputs.get("year_mask")
        if year_mask is None:
            year_mask = torch.ones(inputs["pixel_values"].shape[:2], dtype=torch.bool,
                                   device=inputs["pixel_values"].device)
        pairs, drawn = self.draw_pairs(year_mask.bool())
        outputs = model(**inputs, pairs=pairs, pair_mask=drawn)
        return (outputs.loss, outputs) if return_outputs else outputs.loss
