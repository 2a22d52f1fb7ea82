"""Cutting site rasters into 160×160 patches exactly as EuroMineNet was published, and back.

The published rule (``patching`` in ``resources/euromine_bands.json``): patches on a 160-step grid,
row-major; where the height (width) is not a multiple of 160 one more row (column) of patches is
aligned to ``H - 160`` (``W - 160``), plus the bottom-right corner, so edge patches overlap their
neighbours and nothing is padded. A site smaller than 160 in a dimension is first padded to 160 by
repeating its own first rows/columns (wrap tiling).

Because the grid is separable, the first patch in row-major order that covers pixel ``(y, x)`` is
(first row offset covering ``y``, first column offset covering ``x``). So the pixels a patch *owns*
form a rectangle, and counting over owned pixels of every patch equals counting once on the
whole-site raster — metrics use that and never rebuild sites.

Sites whose size is unknown (a cropped archive without ``sites.json``) carry ``height = width = -1``
and ``row = col = -1``; for them :func:`ownership_mask` returns the whole patch (each patch counts
whole, as the publishers' patch-level scoring does).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from euromine_hf.bands import PATCH_SIZE

__all__ = [
    "axis_offsets",
    "patch_offsets",
    "num_patches",
    "pad_to_patch",
    "extract_patches",
    "reconstruct",
    "ownership_window",
    "ownership_mask",
]


def _check_size(size: int) -> None:
    if int(size) != size or size <= 0:
        raise ValueError(f"patch size: expected a positive integer, got {size!r}")


@lru_cache(maxsize=4096)
def axis_offsets(length: int, size: int = PATCH_SIZE) -> tuple[int, ...]:
    """Patch start offsets along one axis of ``length`` pixels (the published rule).

    A length under ``size`` gives ``(0,)``: the axis is wrap-padded to ``size`` first.
    """
    _check_size(size)
    if length <= 0:
        raise ValueError(f"site dimension: expected a positive number of pixels, got {length}")
    if length <= size:
        return (0,)
    offsets = list(range(0, length - size + 1, size))
    if length % size:
        offsets.append(length - size)
    return tuple(offsets)


def patch_offsets(height: int, width: int, size: int = PATCH_SIZE) -> list[tuple[int, int]]:
    """``(row, col)`` pixel offsets of every patch of an ``height × width`` site, row-major.

    There are ``ceil(H/size) * ceil(W/size)`` of them; the patch index used everywhere (``patch``
    in samples, ``Patch{n}`` in cropped archives) is the position in this list.
    """
    rows = axis_offsets(int(height), size)
    cols = axis_offsets(int(width), size)
    return [(r, c) for r in rows for c in cols]


def num_patches(height: int, width: int, size: int = PATCH_SIZE) -> int:
    """``ceil(H/size) * ceil(W/size)`` without building the offsets."""
    return len(axis_offsets(int(height), size)) * len(axis_offsets(int(width), size))


def pad_to_patch(array: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Wrap-tile the last two axes up to ``size`` where they are shorter (the published padding).

    Padding repeats the array's own first rows/columns (index ``i % H``), so a 100-px-high site
    becomes rows 0..99 followed by rows 0..59. Dimensions already ``>= size`` are left as they are;
    when nothing needs padding the input is returned unchanged (no copy).
    """
    _check_size(size)
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"pad_to_patch: expected an array with at least 2 dimensions, got shape {array.shape}")
    height, width = array.shape[-2:]
    if height == 0 or width == 0:
        raise ValueError(f"pad_to_patch: cannot pad an empty raster of shape {array.shape}")
    if height < size:
        array = np.take(array, np.arange(size) % height, axis=-2)
    if width < size:
        array = np.take(array, np.arange(size) % width, axis=-1)
    return array


def extract_patches(array: np.ndarray, size: int = PATCH_SIZE) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cut ``array (..., H, W)`` into patches ``(N, ..., size, size)`` and return their offsets.

    Offsets refer to the site raster (``patch_offsets(H, W)``); small sites are wrap-padded first.
    """
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"extract_patches: expected an array (..., H, W), got shape {array.shape}")
    height, width = array.shape[-2:]
    offsets = patch_offsets(height, width, size)
    padded = pad_to_patch(array, size)
    out = np.empty((len(offsets),) + padded.shape[:-2] + (size, size), dtype=padded.dtype)
    for i, (r, c) in enumerate(offsets):
        out[i] = padded[..., r : r + size, c : c + size]
    return out, offsets


@lru_cache(maxsize=4096)
def _axis_owned(length: int, size: int) -> dict[int, tuple[int, int]]:
    """Per axis offset: the ``[start, stop)`` range (in patch coordinates) of pixels it owns."""
    owned: dict[int, tuple[int, int]] = {}
    prev_end = 0  # first site pixel not yet covered by an earlier offset
    for off in axis_offsets(length, size):
        start = max(off, prev_end)
        stop = min(off + size, length)
        owned[off] = (start - off, max(stop - off, start - off))
        prev_end = max(prev_end, stop)
    return owned


@lru_cache(maxsize=16384)
def ownership_window(row: int, col: int, height: int, width: int, size: int = PATCH_SIZE) -> tuple[slice, slice]:
    """The rectangle of the patch at ``(row, col)`` that it owns, as ``(row_slice, col_slice)``
    in patch coordinates (see :func:`ownership_mask`). Slicing is much cheaper than masking, so
    counting code should prefer ``patch[..., rs, cs].sum()``.

    ``height`` or ``width < 0`` means the site size is unknown: the whole patch is owned.
    """
    _check_size(size)
    if height < 0 or width < 0:
        return slice(0, size), slice(0, size)
    rows = _axis_owned(int(height), size)
    cols = _axis_owned(int(width), size)
    if row not in rows or col not in cols:
        raise ValueError(
            f"patch offset ({row}, {col}): expected one of the offsets of a {height}x{width} site "
            f"(rows {sorted(rows)}, cols {sorted(cols)})"
        )
    r0, r1 = rows[row]
    c0, c1 = cols[col]
    return slice(r0, r1), slice(c0, c1)


@lru_cache(maxsize=4096)
def ownership_mask(row: int, col: int, height: int, width: int, size: int = PATCH_SIZE) -> np.ndarray:
    """Boolean ``(size, size)`` mask of the pixels this patch owns (read-only, cached).

    Owned = pixels of the real site (not wrap padding) for which this patch is the first one in
    row-major order that covers them. Summing per-patch counts over owned pixels of all patches
    equals counting once on the whole-site raster. Unknown site size (``height``/``width < 0``)
    gives an all-true mask.
    """
    rs, cs = ownership_window(row, col, height, width, size)
    mask = np.zeros((size, size), dtype=bool)
    mask[rs, cs] = True
    mask.flags.writeable = False
    return mask


def reconstruct(
    patches: np.ndarray,
    offsets: list[tuple[int, int]] | np.ndarray,
    height: int,
    width: int,
    size: int | None = None,
) -> np.ndarray:
    """Inverse of :func:`extract_patches`: patches ``(N, ..., s, s)`` → site raster ``(..., H, W)``.

    Each site pixel is written once, from the first patch in row-major order that covers it (the
    same rule as :func:`ownership_mask`, so a reconstructed prediction scores exactly like the
    patches); wrap padding is cropped. Offsets that are not the published grid of this site size
    (e.g. a subset) are accepted: then earlier patches in the list take precedence and pixels no
    patch covers are 0.
    """
    patches = np.asarray(patches)
    if patches.ndim < 3:
        raise ValueError(f"reconstruct: expected patches (N, ..., size, size), got shape {patches.shape}")
    size = int(patches.shape[-1]) if size is None else int(size)
    if patches.shape[-2:] != (size, size):
        raise ValueError(f"reconstruct: expected square {size}x{size} patches, got shape {patches.shape}")
    offsets = [(int(r), int(c)) for r, c in offsets]
    if len(offsets) != patches.shape[0]:
        raise ValueError(f"reconstruct: {patches.shape[0]} patches but {len(offsets)} offsets")
    if height <= 0 or width <= 0:
        raise ValueError(f"reconstruct: expected a positive site size, got {height}x{width}")
    out = np.zeros(patches.shape[1:-2] + (int(height), int(width)), dtype=patches.dtype)
    if offsets == patch_offsets(height, width, size):
        for patch, (r, c) in zip(patches, offsets):
            rs, cs = ownership_window(r, c, height, width, size)
            out[..., r + rs.start : r + rs.stop, c + cs.start : c + cs.stop] = patch[..., rs, cs]
        return out
    # Generic placement: write in reverse so the first covering patch wins.
    for patch, (r, c) in reversed(list(zip(patches, offsets))):
        if r < 0 or c < 0 or r >= height or c >= width:
            raise ValueError(f"reconstruct: patch offset ({r}, {c}) lies outside a {height}x{width} site")
        h = min(size, height - r)
        w = min(size, width - c)
        out[..., r : r + h, c : c + w] = patch[..., :h, :w]
    return out
