"""Whole scenes held in memory: arrays in, a map and its probability out.

For notebooks and pipelines that already hold the pixels; files larger than memory go through
:func:`euromine_hf.inference.geotiff_scene.predict_geotiff`, which runs the same windows and blend.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from euromine_hf.bands import BANDS, MEAN, PATCH_SIZE, STD
from euromine_hf.inference.band_order import select_bands
from euromine_hf.inference.forward import eval_mode, forward_fn
from euromine_hf.inference.windows import blend, wrap_pad

if TYPE_CHECKING:
    import torch

__all__ = ["predict_scene", "predict_change_scene", "predict_series_scene"]


def _check_array(name: str, image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"{name} must be (bands, height, width); got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.integer):
        raise ValueError(f"{name} must hold integer Sentinel-2 DN; got dtype {image.dtype}")
    return image


def _predict_arrays(model: Any, images: list[np.ndarray], band_names: Sequence[str], batch_size: int,
                    stride: int | None, threshold: float, mean: np.ndarray, std: np.ndarray,
                    years: Sequence[int | None] = (), pairs: Sequence[tuple[int, int]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Masks and probabilities ``(maps, H, W)`` of every map the model's task gives for ``images``."""
    model_bands = list(getattr(model.config, "band_names", None) or band_names)
    if any(b not in BANDS for b in model_bands):
        raise ValueError(f"no published normalisation for bands {model_bands}")
    padded = [wrap_pad(select_bands(image, model_bands, band_names)) for image in images]
    height, width = images[0].shape[1:]
    rows: list[np.ndarray] = []

    def emit(r0: int, r1: int, p: np.ndarray) -> None:
        rows.append(p)

    with eval_mode(model):
        index = [BANDS.index(b) for b in model_bands]
        blend(forward_fn(model, np.asarray(mean)[index], np.asarray(std)[index], years, pairs), lambda r: [p[:, r : r + PATCH_SIZE] for p in padded],
              height, width, emit, stride=stride, batch_size=batch_size)
    probability = np.concatenate(rows, axis=1)
    return (probability > threshold).astype(np.uint8), probability


def predict_scene(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    band_names: Sequence[str] = BANDS,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Mine mask (uint8 {0,1}) and mine probability (float32) for a whole scene ``(bands, H, W)``
    held in memory (for files larger than memory use :func:`predict_geotiff`).

    ``image`` holds Sentinel-2 DN in ``band_names`` order; the model's ``config.band_names`` pick
    the channels it was trained on, normalised with the published per-band mean/std.
    """
    image = _check_array("image", image)
    mask, probability = _predict_arrays(model, [image], band_names, batch_size, stride, threshold, mean, std)
    return mask[0], probability[0]


def predict_change_scene(
    model: torch.nn.Module,
    image_t1: np.ndarray,
    image_t2: np.ndarray,
    *,
    band_names: Sequence[str] = BANDS,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Change mask (uint8 {0,1}) and change probability (float32) between two co-registered scenes.

    The same windows as :func:`predict_scene` are cut from both dates at the same place; the change
    probability of overlapping windows is averaged before thresholding.
    """
    first, second = _check_array("image_t1", image_t1), _check_array("image_t2", image_t2)
    if first.shape != second.shape:
        raise ValueError(f"image_t1 {first.shape} and image_t2 {second.shape}: expected the same grid")
    mask, probability = _predict_arrays(model, [first, second], band_names, batch_size, stride, threshold, mean, std)
    return mask[0], probability[0]


def predict_series_scene(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    years: Sequence[int],
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    band_names: Sequence[str] = BANDS,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
) -> dict[str, Any]:
    """A series model's maps of co-registered yearly scenes ``(bands, H, W)`` of ``years`` (any
    T ≥ 2, gaps allowed), from one pass over the windows: every year of a window is read together.

    ``pairs``: year pairs ``(y1, y2)`` for change maps (default: every pair). Returns ``years``,
    ``pairs``, ``masks`` / ``probabilities`` ``(T, H, W)`` and ``change_masks`` /
    ``change_probabilities`` ``(P, H, W)`` (uint8 {0,1} masks, float32 probabilities).
    """
    arrays = [_check_array(f"images[{i}]", image) for i, image in enumerate(images)]
    years = [int(y) for y in years]
    if len(arrays) < 2 or len(years) != len(arrays) or len(set(years)) != len(years):
        raise ValueError(f"a series model needs at least two images with one distinct year each; got {len(arrays)} "
                         f"images and years {years}")
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"images: expected one grid, got shapes {[a.shape for a in arrays]}")
    order = sorted(range(len(years)), key=years.__getitem__)
    arrays, years = [arrays[i] for i in order], [years[i] for i in order]
    position = {year: i for i, year in enumerate(years)}
    year_pairs = [tuple(p) for p in (itertools.combinations(years, 2) if pairs is None else pairs)]
    unknown = [p for p in year_pairs if len(p) != 2 or p[0] not in position or p[1] not in position or p[0] >= p[1]]
    if unknown:
        raise ValueError(f"pairs: expected (earlier, later) years among {years}; got {unknown}")
    positions = [(position[a], position[b]) for a, b in year_pairs]
    mask, probability = _predict_arrays(model, arrays, band_names, batch_size, stride, threshold, mean, std, years, positions)
    t = len(years)
    return {"years": years, "pairs": year_pairs, "masks": mask[:t], "probabilities": probability[:t],
            "change_masks": mask[t:], "change_probabilities": probability[t:]}
