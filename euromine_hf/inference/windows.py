"""The window grid and the overlap-averaged, row-streaming blend that every prediction runs through.

Pure numpy and task-blind: a task decides how windows become probabilities (``forward``) and where
finished rows go (``emit``); this module only decides which windows there are and averages their
probabilities where they overlap, so seams do not show and memory never grows with scene height.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from euromine_hf.bands import PATCH_SIZE

__all__ = ["window_offsets", "blend", "wrap_pad"]


def window_offsets(length: int, size: int = PATCH_SIZE, stride: int | None = None) -> list[int]:
    """Window starts along one axis: every ``stride`` pixels, the last one aligned to the edge.

    With ``stride == size`` this is the published patch grid. A length under ``size`` gives ``[0]``
    (the scene is wrap-padded to ``size`` first).
    """
    stride = size if stride is None else int(stride)
    if not 0 < stride <= size:
        raise ValueError(f"stride must be in 1..{size}, got {stride}")
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def blend(
    forward: Callable[[list[np.ndarray]], np.ndarray],
    read_rows: Callable[[int], list[np.ndarray]],
    height: int,
    width: int,
    emit: Callable[[int, int, np.ndarray], None],
    *,
    stride: int | None = None,
    batch_size: int = 16,
) -> None:
    """Average windowed predictions over a ``height × width`` scene, emitting finished rows in order.

    ``read_rows(r)`` gives, per input date, the rows ``r .. r+160`` of the scene wrap-padded to at
    least 160 rows and columns (``(bands, 160, max(width, 160))``), read once for every map;
    ``forward`` maps per-date window stacks ``(n, bands, 160, 160)`` to probabilities
    ``(n, maps, 160, 160)``: any number of maps from one pass (a series model: one per year and
    pair). ``emit(r0, r1, p)`` receives the averaged probabilities of rows ``r0 .. r1``
    (``(maps, r1 - r0, width)``) once no later window can touch them, so at most one batch's rows
    are held at a time.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    windows = [(r, c) for r in window_offsets(height, PATCH_SIZE, stride) for c in window_offsets(width, PATCH_SIZE, stride)]
    padded_width = max(width, PATCH_SIZE)
    top = 0  # scene row of the accumulators' first row
    prob_sum: np.ndarray | None = None  # (maps, rows, padded_width), sized by the first forward
    hits = np.zeros((0, padded_width), dtype=np.float32)
    strips: dict[int, list[np.ndarray]] = {}
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        for r in dict.fromkeys(r for r, _ in chunk):
            if r not in strips:
                strips[r] = read_rows(r)
        dates = len(strips[chunk[0][0]])
        stacks = [np.stack([strips[r][k][:, :, c : c + PATCH_SIZE] for r, c in chunk]) for k in range(dates)]
        probability = forward(stacks)
        if prob_sum is None:
            prob_sum = np.zeros((probability.shape[1], 0, padded_width), dtype=np.float32)
        need = chunk[-1][0] + PATCH_SIZE - top
        if need > hits.shape[0]:
            grow = np.zeros((need - hits.shape[0], padded_width), dtype=np.float32)
            hits = np.concatenate([hits, grow])
            prob_sum = np.concatenate([prob_sum, np.broadcast_to(grow, (len(prob_sum), *grow.shape))], axis=1)
        for (r, c), p in zip(chunk, probability):
            prob_sum[:, r - top : r - top + PATCH_SIZE, c : c + PATCH_SIZE] += p
            hits[r - top : r - top + PATCH_SIZE, c : c + PATCH_SIZE] += 1.0
        following = windows[start + batch_size][0] if start + batch_size < len(windows) else height
        for r in [r for r in strips if r < following]:
            del strips[r]
        done = min(following, height)
        if done > top:
            k = done - top
            emit(top, done, (prob_sum[:, :k] / np.maximum(hits[:k], 1.0))[:, :, :width])
            prob_sum, hits, top = prob_sum[:, k:].copy(), hits[k:].copy(), done


def wrap_pad(image: np.ndarray) -> np.ndarray:
    """A ``(bands, H, W)`` array wrap-tiled to at least 160 × 160, as the published patching pads
    sites under one patch."""
    height, width = image.shape[1:]
    padded = np.take(image, np.arange(max(height, PATCH_SIZE)) % height, axis=1)
    return np.take(padded, np.arange(max(width, PATCH_SIZE)) % width, axis=2)
