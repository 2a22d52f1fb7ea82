"""Collators that turn EuroMineNet samples into model inputs, normalised and (optionally) augmented.

Every collator accepts either a list of samples (dicts of numpy arrays / tensors, as a torch
``DataLoader`` hands them over from ``Dataset.__getitems__``) or one batch dict of stacked arrays
(``dataset[i:j]`` with ``with_format("numpy", dtype=None)``), and returns only what a model's
``forward`` takes, so ``Trainer`` can call ``model(**batch)``:

* :class:`MappingCollator`: ``pixel_values`` (B, 10, H, W) float32, ``labels`` (B, H, W) int64.
* :class:`PairCollator`: ``pixel_values_t1``, ``pixel_values_t2`` (B, 10, H, W) float32,
  ``labels`` = the change mask |mask_t2 − mask_t1| (B, H, W) int64.
* :class:`TimeseriesCollator`: ``pixel_values`` (B, T, 10, H, W) float32, ``labels`` (B, T, H, W).

Normalisation is ``(x − mean) / std`` in float32 with the published per-band constants
(:data:`euromine_hf.bands.MEAN` / ``STD``), bit-identical to the publishers' per-sample loaders.
Each sample is cast straight into its slot of the output buffer (a flip/rotation is applied by
reading the sample through a strided view, so there is no extra copy) and normalised in place
with numpy ufuncs while it is still in cache. Why numpy and not torch ops:
measured on the 2-core target machine, torch's element-wise kernels on a (32, 10, 160, 160) batch
were 3–5× slower than the same numpy ufuncs (its intra-op threads fight the data loader and
other processes for two cores, and fresh torch buffers are page-faulted in 4 KiB pages while
numpy backs large arrays with huge pages). The result is handed to torch without a copy
(``torch.from_numpy``).

Augmentation (``augment=True``) draws one of the 8 dihedral transforms (identity, rotations by
90/180/270°, and their mirror images) per sample from a seeded generator and applies the same
one to every image and every mask of that sample, so pairs and time series stay co-registered.
Inside ``DataLoader`` workers the generator is re-seeded per worker (seed, worker id) so workers
do not repeat each other's draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from euromine_hf.bands import MEAN, STD

__all__ = [
    "MappingCollator",
    "PairCollator",
    "TimeseriesCollator",
    "normalize_images",
    "dihedral",
    "dihedral_batch",
    "NUM_DIHEDRAL",
]

#: Number of distinct flip/rot90 combinations (the dihedral group of the square).
NUM_DIHEDRAL = 8


def dihedral(array: np.ndarray, k: int) -> np.ndarray:
    """View of ``array (..., H, W)`` under dihedral transform ``k`` in 0..7 (no copy).

    ``k % 4`` quarter turns counter-clockwise, then a left-right mirror when ``k >= 4``.
    """
    if not 0 <= k < NUM_DIHEDRAL:
        raise ValueError(f"dihedral transform: expected k in 0..{NUM_DIHEDRAL - 1}, got {k}")
    out = np.rot90(array, k % 4, axes=(-2, -1)) if k % 4 else array
    return out[..., ::-1] if k >= 4 else out


#: the four :func:`dihedral` transforms that only flip (rows, columns or both), by ``k``; the other four
#: transpose, which no numpy or torch CPU kernel does faster than a copy through the transposed view
_FLIPS = {0: "none", 2: "both", 4: "columns", 6: "rows"}


def dihedral_batch(batch: np.ndarray | torch.Tensor, transforms: Sequence[int]) -> np.ndarray | torch.Tensor:
    """``batch`` (B, ..., H, W) with sample ``i`` under :func:`dihedral` ``transforms[i]``, as a new
    contiguous array (or tensor, on the tensor's own device); bit for bit ``np.stack`` of the views.

    Arrays and CPU tensors: each sample is written once into one numpy-allocated output (huge
    pages), flips by a fast kernel (:func:`_flip_into`), transposes through the transposed view; the
    per-sample copies + ``np.stack`` this replaces wrote every pixel twice, and numpy copies a
    mirrored view element by element (a mirrored last axis measured 6-13x a plain copy).
    Tensors on an accelerator: one ``rot90`` / ``flip`` per transform group on the device, never a
    round trip through host memory.
    """
    ks = [int(k) for k in transforms]
    if len(ks) != len(batch):
        raise ValueError(f"dihedral_batch: {len(batch)} samples but {len(ks)} transforms")
    if any(not 0 <= k < NUM_DIHEDRAL for k in ks):
        raise ValueError(f"dihedral transform: expected k in 0..{NUM_DIHEDRAL - 1}, got {ks}")
    if any(ks) and batch.shape[-1] != batch.shape[-2]:
        raise ValueError(f"dihedral_batch: rotations need square images, got {batch.shape[-2]}x{batch.shape[-1]}")
    if isinstance(batch, torch.Tensor) and (batch.device.type != "cpu" or batch.dtype == torch.bfloat16):
        return _dihedral_groups(batch, ks)
    array = batch.detach().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
    out = np.empty(array.shape, dtype=array.dtype)
    for i, k in enumerate(ks):
        if k in _FLIPS:
            _flip_into(out[i], array[i], _FLIPS[k])
        else:
            np.copyto(out[i], dihedral(array[i], k))
    return torch.from_numpy(out) if isinstance(batch, torch.Tensor) else out


def _flip_into(dst: np.ndarray, src: np.ndarray, flip: str) -> None:
    """``dst[...] = src`` with its ``rows``, ``columns``, ``both`` or ``none`` reversed, each by the
    fastest kernel measured: numpy copies for none / both (a full reversal coalesces into one loop),
    ``np.take`` of rows (row memcpys), torch's vectorised flip for columns."""
    if flip == "none":
        np.copyto(dst, src)
    elif flip == "both":
        np.copyto(dst, src[..., ::-1, ::-1])
    elif flip == "rows":
        np.take(src, np.arange(src.shape[-2] - 1, -1, -1), axis=-2, mode="clip", out=dst)  # "clip": no checked temporary
    else:
        try:
            torch.from_numpy(dst).copy_(torch.flip(torch.from_numpy(src), (-1,)))
        except (TypeError, NotImplementedError, RuntimeError):  # a dtype torch has no flip kernel for (uint16)
            np.copyto(dst, src[..., ::-1])


def _dihedral_groups(batch: torch.Tensor, ks: list[int]) -> torch.Tensor:
    """:func:`dihedral_batch` with torch ops: one gather, transform and scatter per transform group."""
    out = torch.empty_like(batch, memory_format=torch.contiguous_format)
    drawn = torch.as_tensor(ks)
    for k in sorted(set(ks)):
        index = torch.nonzero(drawn == k).flatten().to(batch.device)
        group = batch.index_select(0, index)
        if k % 4:
            group = torch.rot90(group, k % 4, dims=(-2, -1))
        if k >= 4:
            group = group.flip(-1)
        out.index_copy_(0, index, group)
    return out


def _as_numpy(value: Any, where: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (bytes, bytearray, memoryview, str)) or value is None:
        raise TypeError(f"{where}: expected an array, got {type(value).__name__}")
    return np.asarray(value)


def _check_image(array: np.ndarray, where: str, num_bands: int, lead: int) -> None:
    """``lead`` = number of leading axes before (bands, H, W): 0 for one image, 1 for a time series."""
    want = lead + 3
    if array.ndim != want or array.shape[lead] != num_bands:
        shape = ("T, " if lead else "") + f"{num_bands}, H, W"
        raise ValueError(f"{where}: expected shape ({shape}), got {tuple(array.shape)}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{where}: expected integer digital numbers (uint16) or floats, got dtype {array.dtype}")


def _check_mask(array: np.ndarray, where: str, shape: tuple[int, ...]) -> None:
    if tuple(array.shape) != shape:
        raise ValueError(f"{where}: expected shape {shape} (matching the image), got {tuple(array.shape)}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise TypeError(f"{where}: expected an integer mask in {{0, 1}}, got dtype {array.dtype}")


def normalize_images(
    images: Sequence[np.ndarray],
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
    transforms: Sequence[int] | None = None,
) -> torch.Tensor:
    """Stack and normalise images ``(..., C, H, W)`` into one float32 tensor ``(B, ..., C, H, W)``.

    ``(x − mean) / std`` per band in float32, written directly into the output (no intermediate stack);
    ``transforms[i]`` (0..7, see :func:`dihedral`) is applied to sample ``i`` on the way.
    """
    if len(images) == 0:
        raise ValueError("normalize_images: empty batch")
    first = images[0]
    out_shape = first.shape
    if transforms is not None and len(transforms) != len(images):
        raise ValueError(f"normalize_images: {len(images)} images but {len(transforms)} transforms")
    if transforms is not None and any(transforms) and out_shape[-1] != out_shape[-2]:
        raise ValueError(f"normalize_images: rotations need square images, got {out_shape[-2]}x{out_shape[-1]}")
    out = np.empty((len(images),) + tuple(out_shape), dtype=np.float32)
    bshape = (-1, 1, 1)
    m = np.asarray(mean, dtype=np.float32).reshape(bshape)
    s = np.asarray(std, dtype=np.float32).reshape(bshape)
    for i, image in enumerate(images):
        if image.shape != out_shape:
            raise ValueError(f"normalize_images: image {i} has shape {tuple(image.shape)}, expected {tuple(out_shape)} like image 0")
        dst = out[i]
        # Cast into the output first, then two in-place float32 passes while this sample's
        # ~1 MB is still in cache: faster than one mixed-type ufunc (which casts via buffers).
        dst[...] = dihedral(image, int(transforms[i])) if transforms is not None else image
        np.subtract(dst, m, out=dst)
        np.divide(dst, s, out=dst)
    return torch.from_numpy(out)


def _stack_labels(masks: Sequence[np.ndarray], transforms: Sequence[int] | None) -> torch.Tensor:
    out = np.empty((len(masks),) + tuple(masks[0].shape), dtype=np.int64)
    for i, mask in enumerate(masks):
        out[i] = dihedral(mask, int(transforms[i])) if transforms is not None else mask
    return torch.from_numpy(out)


class _Collator:
    """Shared plumbing: turning list/dict input into per-sample arrays, seeding, validation."""

    #: sample keys holding images and masks, filled in by subclasses
    image_keys: tuple[str, ...] = ()
    mask_keys: tuple[str, ...] = ()
    #: leading axes before (bands, H, W) in one sample's image (1 for time series)
    lead_axes = 0

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray = MEAN,
        std: Sequence[float] | np.ndarray = STD,
        augment: bool = False,
        seed: int | None = None,
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"{type(self).__name__}: mean and std must be 1-D of equal length, got {self.mean.shape} and {self.std.shape}")
        if np.any(self.std <= 0):
            raise ValueError(f"{type(self).__name__}: std must be positive, got {self.std.tolist()}")
        self.augment = bool(augment)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._worker_id: int | None = None

    @property
    def num_bands(self) -> int:
        return int(self.mean.shape[0])

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker_id != info.id:
            # Each DataLoader worker holds a copy of this collator: give each its own stream.
            self._worker_id = info.id
            self._rng = np.random.default_rng([self.seed if self.seed is not None else info.seed % 2**32, info.id])
        return self._rng

    def _columns(self, batch: Any, keys: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """``{key: [array per sample]}`` for a list of samples or a batch dict."""
        name = type(self).__name__
        if isinstance(batch, Mapping):
            columns = {}
            for key in keys:
                if key not in batch:
                    raise KeyError(f"{name}: batch has no {key!r} column (has {sorted(batch)})")
                value = batch[key]
                if isinstance(value, (np.ndarray, torch.Tensor)):
                    value = _as_numpy(value, f"{name}: batch[{key!r}]")
                    columns[key] = list(value)
                else:
                    columns[key] = [_as_numpy(v, f"{name}: batch[{key!r}][{i}]") for i, v in enumerate(value)]
            sizes = {k: len(v) for k, v in columns.items()}
            if len(set(sizes.values())) > 1:
                raise ValueError(f"{name}: batch columns have different lengths {sizes}")
            return columns
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Sequence):
            raise TypeError(f"{name}: expected a list of samples or a batch dict, got {type(batch).__name__}")
        columns = {key: [] for key in keys}
        for i, sample in enumerate(batch):
            if not isinstance(sample, Mapping):
                raise TypeError(f"{name}: sample {i} is a {type(sample).__name__}, expected a dict")
            for key in keys:
                if key not in sample:
                    raise KeyError(f"{name}: sample {i} has no {key!r} (has {sorted(sample)})")
                columns[key].append(_as_numpy(sample[key], f"{name}: sample {i} {key!r}"))
        return columns

    def _validate(self, columns: dict[str, list[np.ndarray]], mask_keys: Sequence[str] | None = None) -> int:
        name = type(self).__name__
        n = len(columns[self.image_keys[0]])
        if n == 0:
            raise ValueError(f"{name}: empty batch")
        for key in self.image_keys:
            for i, image in enumerate(columns[key]):
                _check_image(image, f"{name}: sample {i} {key!r}", self.num_bands, self.lead_axes)
        ref = columns[self.image_keys[0]][0].shape
        spatial = ref[: self.lead_axes] + ref[-2:]
        for key in self.image_keys:
            for i, image in enumerate(columns[key]):
                if image.shape != ref:
                    raise ValueError(f"{name}: sample {i} {key!r} has shape {tuple(image.shape)}, expected {tuple(ref)} like sample 0")
        for key in self.mask_keys if mask_keys is None else mask_keys:
            for i, mask in enumerate(columns[key]):
                _check_mask(mask, f"{name}: sample {i} {key!r}", spatial)
        return n

    def _transforms(self, n: int, square: bool) -> list[int] | None:
        if not self.augment:
            return None
        if not square:
            raise ValueError(f"{type(self).__name__}: augmentation rotates by 90°, which needs square images")
        return self._generator().integers(0, NUM_DIHEDRAL, size=n).tolist()

    def _normalize(self, images: list[np.ndarray], transforms: list[int] | None) -> torch.Tensor:
        return normalize_images(images, self.mean, self.std, transforms)


class MappingCollator(_Collator):
    """``mapping`` samples (``image``, ``mask``) → ``pixel_values`` and ``labels``."""

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray = MEAN,
        std: Sequence[float] | np.ndarray = STD,
        augment: bool = False,
        seed: int | None = None,
        image_key: str = "image",
        mask_key: str = "mask",
    ) -> None:
        super().__init__(mean, std, augment, seed)
        self.image_keys = (image_key,)
        self.mask_keys = (mask_key,)

    def __call__(self, batch: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, torch.Tensor]:
        columns = self._columns(batch, self.image_keys + self.mask_keys)
        n = self._validate(columns)
        images = columns[self.image_keys[0]]
        transforms = self._transforms(n, images[0].shape[-1] == images[0].shape[-2])
        return {
            "pixel_values": self._normalize(images, transforms),
            "labels": _stack_labels(columns[self.mask_keys[0]], transforms),
        }


class PairCollator(_Collator):
    """``cd_pairs`` samples → ``pixel_values_t1``, ``pixel_values_t2`` and ``labels`` (the change).

    ``labels`` is the sample's ``change`` where present, else computed as |mask_t2 − mask_t1|.
    With ``with_masks=True`` the two dates' masks are returned too (``labels_t1``, ``labels_t2``),
    e.g. for multi-task models or post-classification change.
    """

    lead_axes = 0

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray = MEAN,
        std: Sequence[float] | np.ndarray = STD,
        augment: bool = False,
        seed: int | None = None,
        with_masks: bool = False,
    ) -> None:
        super().__init__(mean, std, augment, seed)
        self.image_keys = ("image_t1", "image_t2")
        self.mask_keys = ("mask_t1", "mask_t2")
        self.with_masks = bool(with_masks)

    def __call__(self, batch: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, torch.Tensor]:
        first = batch if isinstance(batch, Mapping) else (batch[0] if isinstance(batch, Sequence) and len(batch) else {})
        has_change = isinstance(first, Mapping) and "change" in first
        mask_keys: tuple[str, ...] = ("mask_t1", "mask_t2") if self.with_masks or not has_change else ()
        mask_keys += ("change",) if has_change else ()
        columns = self._columns(batch, self.image_keys + mask_keys)
        n = self._validate(columns, mask_keys)
        ref = columns["image_t1"][0]
        transforms = self._transforms(n, ref.shape[-1] == ref.shape[-2])
        if "change" in columns:
            change = columns["change"]
        else:
            change = [np.abs(m2.astype(np.int16) - m1) for m1, m2 in zip(columns["mask_t1"], columns["mask_t2"])]
        out = {
            "pixel_values_t1": self._normalize(columns["image_t1"], transforms),
            "pixel_values_t2": self._normalize(columns["image_t2"], transforms),
            "labels": _stack_labels(change, transforms),
        }
        if self.with_masks:
            out["labels_t1"] = _stack_labels(columns["mask_t1"], transforms)
            out["labels_t2"] = _stack_labels(columns["mask_t2"], transforms)
        return out


class TimeseriesCollator(MappingCollator):
    """``timeseries`` samples (``images`` (T,10,H,W), ``masks`` (T,H,W)) → ``pixel_values``
    (B, T, 10, H, W) and ``labels`` (B, T, H, W); one augmentation per sample for all T years.

    ``with_years=True`` (the series model's inputs) adds ``years`` (B, T) int64 and ``year_mask``
    (B, T) bool: the sample's ``year_mask`` where it has one (a series with gaps), else all True.
    """

    lead_axes = 1

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray = MEAN,
        std: Sequence[float] | np.ndarray = STD,
        augment: bool = False,
        seed: int | None = None,
        image_key: str = "images",
        mask_key: str = "masks",
        with_years: bool = False,
    ) -> None:
        super().__init__(mean, std, augment, seed, image_key, mask_key)
        self.with_years = bool(with_years)

    def __call__(self, batch: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, torch.Tensor]:
        out = super().__call__(batch)
        if not self.with_years:
            return out
        b, t = out["pixel_values"].shape[:2]
        samples = [dict(zip(batch, values)) for values in zip(*batch.values())] if isinstance(batch, Mapping) else batch
        years = np.asarray([np.asarray(s.get("years", ()), dtype=np.int64) for s in samples])
        if years.shape != (b, t):
            raise ValueError(f"{type(self).__name__}: every sample needs 'years' listing its {t} years; got shape {years.shape}")
        masks = [np.asarray(s["year_mask"], dtype=bool) if "year_mask" in s else np.ones(t, dtype=bool) for s in samples]
        if any(m.shape != (t,) for m in masks):
            raise ValueError(f"{type(self).__name__}: 'year_mask' must hold one flag per year ({t})")
        out["years"] = torch.from_numpy(years)
        out["year_mask"] = torch.from_numpy(np.stack(masks))
        return out
