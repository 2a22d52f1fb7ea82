"""The model side of prediction: normalised windows in, class-1 probability out.

Windows are normalised here, with the per-band mean/std of the model's bands the caller chose
(the model folder's image processor or the published statistics: :mod:`.normalisation`), so
callers pass raw Sentinel-2 digital numbers whatever the model was trained on; the task decides
how the model is called (one date or two).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from euromine_hf.inference.tasks import task_of

__all__ = ["forward_fn", "eval_mode", "check_threshold"]


def forward_fn(model: Any, band_mean: Sequence[float], band_std: Sequence[float],
               years: Sequence[int | None] = (), pairs: Sequence[tuple[int, int]] = ()) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Normalise each date's windows (the model's bands, in its order) with ``band_mean`` /
    ``band_std`` (one value per model band) and return the class-1 (mine / change) softmax
    probability of every map, ``(n, maps, 160, 160)`` (the task's call gets the dates' ``years``
    and the year-position ``pairs`` a series model maps)."""
    import torch

    band_mean = torch.as_tensor(np.asarray(band_mean, dtype=np.float32)).view(1, -1, 1, 1)
    band_std = torch.as_tensor(np.asarray(band_std, dtype=np.float32)).view(1, -1, 1, 1)
    device = next(model.parameters()).device
    call = task_of(model).call

    def forward(stacks: list[np.ndarray]) -> np.ndarray:
        tensors = [((torch.from_numpy(s.astype(np.float32)) - band_mean) / band_std).to(device) for s in stacks]
        with torch.no_grad():
            logits = call(model, tensors, years, pairs)
            if logits.ndim == 4:  # one map: (n, 2, H, W)
                logits = logits[:, None]
            return torch.softmax(logits.float(), dim=2)[:, :, 1].cpu().numpy()

    return forward


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """The model in eval mode for the block, then back in the mode it was in (a training loop may
    call predict on the model it trains)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def check_threshold(value: float | str) -> float:
    """A map threshold must lie strictly inside (0, 1): 0, 1, 2 or NaN would give a map of one class."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 < number < 1.0:  # also false for NaN
        raise ValueError(f"--threshold: expected a probability strictly between 0 and 1, found {value!r}")
    return number
