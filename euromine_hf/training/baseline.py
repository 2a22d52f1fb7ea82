"""A non-learned reference: one spectral index, one threshold fitted on the training split.

Mines are bare soil, rock, spoil and tailings water: low vegetation and high soil reflectance in
the short-wave infrared.  A normalised-difference index thresholded at the value that maximises
training F1 is what a remote-sensing analyst would try before any network; a trained model that
cannot beat it has learned nothing useful.  The fit streams training pixels into fixed histograms
(one pass, constant memory) and reads the best threshold off cumulative counts.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from euromine_hf.bands import BANDS

# index name -> (bands added in the numerator's positive part, bands subtracted); value = (a-b)/(a+b)
INDICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # bare soil index (Rikimaru et al.): (SWIR1 + Red) − (NIR + Blue)
    "bsi": (("B11", "B04"), ("B08", "B02")),
    # NDVI: NIR − Red (mines: low)
    "ndvi": (("B08",), ("B04",)),
    # NDWI (McFeeters): Green − NIR (tailings ponds: high)
    "ndwi": (("B03",), ("B08",)),
    # normalised burn ratio: NIR − SWIR2 (exposed rock/soil: low)
    "nbr": (("B08",), ("B12",)),
}
BINS = 2000  # over [-1, 1]: a threshold resolution of 0.001


def spectral_index(images: np.ndarray, name: str) -> np.ndarray:
    """Normalised-difference ``name`` for images (..., 10, H, W) in published band order → (..., H, W)."""
    if name not in INDICES:
        raise ValueError(f"unknown spectral index {name!r}; choose from {sorted(INDICES)}")
    if images.shape[-3] != len(BANDS):
        raise ValueError(f"images must have {len(BANDS)} bands on axis -3; got shape {images.shape}")
    plus, minus = INDICES[name]
    x = images.astype(np.float32, copy=False)
    a = sum(x[..., BANDS.index(b), :, :] for b in plus)
    b = sum(x[..., BANDS.index(b), :, :] for b in minus)
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(total > 0, (a - b) / np.where(total > 0, total, 1.0), 0.0)
    return np.clip(value, -1.0, 1.0)


def _bin(values: np.ndarray) -> np.ndarray:
    return np.clip(((values + 1.0) * (BINS / 2.0)).astype(np.int64), 0, BINS - 1)


@dataclass
class ThresholdBaseline:
    """``mine = index > threshold`` (``direction="greater"``) or ``< threshold`` (``"less"``)."""

    index: str = "bsi"
    threshold: float = 0.0
    direction: str = "greater"
    train_f1: float = float("nan")

    def predict(self, images: np.ndarray) -> np.ndarray:
        value = spectral_index(images, self.index)
        mine = value > self.threshold if self.direction == "greater" else value < self.threshold
        return mine.astype(np.uint8)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted parameters as JSON (atomically)."""
        from euromine_hf.io import atomic_write_json

        atomic_write_json(path, asdict(self), indent=1)


class _Histograms:
    def __init__(self, names: Iterable[str]) -> None:
        self.mine = {n: np.zeros(BINS, np.int64) for n in names}
        self.other = {n: np.zeros(BINS, np.int64) for n in names}

    def add(self, images: np.ndarray, masks: np.ndarray, ignore_index: int = 255) -> None:
        masks = np.asarray(masks)
        labelled = masks != ignore_index
        is_mine = (masks == 1) & labelled
        is_other = (masks == 0) & labelled
        for name in self.mine:
            bins = _bin(spectral_index(images, name))
            self.mine[name] += np.bincount(bins[is_mine], minlength=BINS)
            self.other[name] += np.bincount(bins[is_other], minlength=BINS)

    def best(self, name: str) -> ThresholdBaseline:
        """Threshold (on bin edges) and direction maximising F1 = 2TP / (2TP + FP + FN)."""
        mine, other = self.mine[name], self.other[name]
        positives = mine.sum()
        if positives == 0:
            raise ValueError("the training data holds no mine pixels: cannot fit a threshold baseline")
        # "greater": predicted mine = bins >= k, threshold at edge k; k in 0..BINS
        tp_g = np.concatenate([np.cumsum(mine[::-1])[::-1], [0]])
        fp_g = np.concatenate([np.cumsum(other[::-1])[::-1], [0]])
        # "less": predicted mine = bins < k
        tp_l = np.concatenate([[0], np.cumsum(mine)])
        fp_l = np.concatenate([[0], np.cumsum(other)])
        edges = np.linspace(-1.0, 1.0, BINS + 1)
        best = ThresholdBaseline(index=name, train_f1=-1.0)
        for direction, tp, fp in (("greater", tp_g, fp_g), ("less", tp_l, fp_l)):
            f1 = 2 * tp / np.maximum(2 * tp + fp + (positives - tp), 1)
            k = int(np.argmax(f1))
            if f1[k] > best.train_f1:
                # "greater" predicts bins >= k, i.e. value > edges[k] (up to bin width); "less" bins < k
                best = ThresholdBaseline(index=name, threshold=float(edges[k]), direction=direction,
                                         train_f1=float(f1[k]))
        return best


def fit_threshold_baseline(
    batches: Iterable[tuple[np.ndarray, np.ndarray]], index: str = "auto", ignore_index: int = 255
) -> ThresholdBaseline:
    """Fit on (images (N,10,H,W), masks (N,H,W) in {0,1}) batches; ``index="auto"`` picks the best index."""
    names = sorted(INDICES) if index == "auto" else [index]
    for name in names:
        if name not in INDICES:
            raise ValueError(f"unknown spectral index {name!r}; choose from {sorted(INDICES)} or 'auto'")
    hist = _Histograms(names)
    seen = 0
    for images, masks in batches:
        hist.add(np.asarray(images), masks, ignore_index)
        seen += len(images)
    if seen == 0:
        raise ValueError("no training samples to fit the threshold baseline on")
    fits = [hist.best(n) for n in names]
    return max(fits, key=lambda f: f.train_f1)


def iter_image_batches(dataset: Any, batch_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images, masks) batches of a ``mapping`` split, read as raw uint16 (no int64 blow-up)."""
    for name in ("image", "mask"):
        if name not in dataset.column_names:
            raise ValueError(f"baseline needs a 'mapping' dataset with an {name!r} column; got {dataset.column_names}")
    view = dataset.select_columns(["image", "mask"]).with_format("numpy", dtype=None)
    for start in range(0, len(view), batch_size):
        batch = view[start:start + batch_size]
        yield np.asarray(batch["image"]), np.asarray(batch["mask"])


def evaluate_baseline(baseline: ThresholdBaseline, dataset: Any, metrics: Any, batch_size: int = 64) -> dict[str, float]:
    """Score ``baseline`` on a ``mapping`` split with a :class:`MappingMetrics` (same protocol as the model)."""
    metrics.bind(dataset)
    for images, masks in iter_image_batches(dataset, batch_size):
        metrics.add(baseline.predict(images), masks.astype(np.int64))
    return metrics.compute()
