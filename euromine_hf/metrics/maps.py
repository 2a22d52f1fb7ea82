"""Qualitative error maps as in the paper's Figures 6 and 7: TP green, TN grey, FP red, FN blue.

For a site-year, pass its prediction and reference masks; for a pair, pass the change masks
(or use :func:`pair_error_map` with the two years' masks). Plain numpy → RGB, written with
``matplotlib.image.imsave`` (Agg, no display); a legend strip is added on request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COLORS", "error_map", "pair_error_map", "save_error_map"]

#: RGB of each outcome (uint8).
COLORS: dict[str, tuple[int, int, int]] = {
    "TP": (0, 170, 0),
    "TN": (128, 128, 128),
    "FP": (220, 0, 0),
    "FN": (0, 70, 230),
}


def _binary(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D mask (H, W), got shape {arr.shape}")
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name}: expected integer or boolean masks, got dtype {arr.dtype}")
    return arr != 0


def error_map(prediction: Any, reference: Any) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB: each pixel coloured by its outcome (nonzero = positive)."""
    p, g = _binary(prediction, "prediction"), _binary(reference, "reference")
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and reference {g.shape}: expected equal shapes")
    out = np.empty(p.shape + (3,), np.uint8)
    out[p & g] = COLORS["TP"]
    out[~p & ~g] = COLORS["TN"]
    out[p & ~g] = COLORS["FP"]
    out[~p & g] = COLORS["FN"]
    return out


def pair_error_map(pred_t1: Any, pred_t2: Any, ref_t1: Any, ref_t2: Any) -> np.ndarray:
    """Error map of the change ``|P_t2 − P_t1|`` against ``|G_t2 − G_t1|`` (post-classification)."""
    dp = _binary(pred_t1, "pred_t1") ^ _binary(pred_t2, "pred_t2")
    dg = _binary(ref_t1, "ref_t1") ^ _binary(ref_t2, "ref_t2")
    return error_map(dp, dg)


def _with_legend(rgb: np.ndarray, title: str | None) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    h, w = rgb.shape[:2]
    scale = max(3.0, min(10.0, w / 100))
    fig = Figure(figsize=(scale, scale * h / w + 0.8), dpi=100)
    ax = fig.add_axes((0.0, 0.12, 1.0, 0.8 if title else 0.88))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    handles = [Patch(color=np.asarray(c) / 255, label=k) for k, c in COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=8)
    return fig


def save_error_map(path: str | Path, rgb: np.ndarray, legend: bool = False, title: str | None = None) -> Path:
    """Write an error map PNG atomically; ``legend`` adds a TP/TN/FP/FN key (and ``title``)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected an uint8 (H, W, 3) image from error_map, got {rgb.dtype} {rgb.shape}")
    from euromine_hf.io import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        if legend or title:
            _with_legend(rgb, title).savefig(tmp, format="png")
        else:
            import matplotlib.image as mpimg

            mpimg.imsave(tmp, rgb, format="png")
    return path
