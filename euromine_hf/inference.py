"""Whole-scene prediction: a trained segmenter or change detector → map GeoTIFFs an analyst can open.

One streaming core (:func:`_blend`) serves both tasks: 160×160 windows on the published grid
(edge-aligned last row/column, wrap padding for scenes under 160 px), or on a denser grid with
``stride < 160``; the probability of overlapping windows is averaged before thresholding, so seams
do not show. Windows are taken in row-major order and only the rows the next batch needs are held,
so memory depends on the scene's width and the batch size, never on its height: a file is read as
strips of rows (rasterio windows) and each finished strip is written at once.

Inputs need no labels: an archive in the raw layout, one site folder, a folder of ``Year{YYYY}.tif``
images, or a single GeoTIFF (any years). Bands are matched by the GeoTIFF's band descriptions when
they name Sentinel-2 bands (every band, each once; anything else is an error unless ``--band-order``
states the order); a file without descriptions is read in the published 10-band order. Outputs
keep the input's CRS and transform and are Cloud-Optimised GeoTIFFs (256-px tiles, deflate,
internal overviews) with nodata where the input has none, a colour table, a band description and
tags naming the model, years, bands and the band order read. Outputs never replace an input or
land in the input folder, and replace existing maps only with ``--overwrite`` and only where
predict wrote them (:mod:`euromine_hf.predict_outputs`). Archive outputs follow the
prediction-folder layout ``euromine evaluate`` reads (``{out}/{Site}/Year{YYYY}.tif``,
``{out}/{Site}/Change{Y1}_{Y2}.tif``). Every file is written atomically. torch and rasterio are
imported inside functions so ``euromine predict --help`` is fast.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from euromine_hf.bands import BANDS, MEAN, PATCH_SIZE, STD

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "select_bands", "window_offsets", "predict_scene", "predict_archive", "add_parser",
    "predict_change_scene", "predict_change_archive", "default_year_pairs", "parse_year_pairs",
    "predict_geotiff", "predict", "find_scenes", "raster_band_names", "Scene",
    "MAP_NODATA", "PROBABILITY_NODATA", "file_band_order", "parse_band_order", "check_threshold", "S2_BAND_NAMES",
]

#: Value of map pixels (and probability pixels) where the input holds no data. GeoTIFF palettes hold
#: no alpha, so background is light grey and no-data is transparent through the nodata value.
MAP_NODATA = 255
PROBABILITY_NODATA = 255
_MAP_COLOURS = {
    "mine": {0: (200, 200, 200, 255), 1: (220, 30, 30, 255), MAP_NODATA: (0, 0, 0, 255)},
    "change": {0: (200, 200, 200, 255), 1: (255, 140, 0, 255), MAP_NODATA: (0, 0, 0, 255)},
}
_YEAR_TIF = re.compile(r"^year(\d{4})\.tiff?$", re.IGNORECASE)
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_S2_BAND = re.compile(r"^B0?(\d{1,2})(A?)$")


# ---- bands and windows -------------------------------------------------------------------------


def select_bands(image: np.ndarray, band_names: Sequence[str], source_bands: Sequence[str] = BANDS) -> np.ndarray:
    """The channels of a ``source_bands`` image that a model with ``band_names`` expects, in its order."""
    missing = [b for b in band_names if b not in source_bands]
    if missing:
        raise ValueError(
            f"model expects bands {list(band_names)}; {missing} are not among the image's bands {list(source_bands)}"
        )
    if image.shape[0] != len(source_bands):
        raise ValueError(f"image has {image.shape[0]} bands; expected {len(source_bands)} ({', '.join(source_bands)})")
    if list(band_names) == list(source_bands):
        return image
    return image[[list(source_bands).index(b) for b in band_names]]


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


def _canonical_band(name: str | None) -> str | None:
    """``"B2"``/``"b02"`` → ``"B02"``, ``"B8a"`` → ``"B8A"``; ``None`` for anything else."""
    match = _S2_BAND.match((name or "").strip().upper())
    if not match:
        return None
    number, suffix = int(match.group(1)), match.group(2)
    return f"B{number}A" if suffix else f"B{number:02d}"


#: Sentinel-2 MSI band names a description may give (L1C has all thirteen; L2A drops B10).
S2_BAND_NAMES = frozenset(f"B{n:02d}" for n in range(1, 13)) | {"B8A"}
#: ``band_order_source`` tag values: where the order of a map's input bands came from.
ORDER_FROM_DESCRIPTIONS, ORDER_PUBLISHED, ORDER_STATED = "band descriptions", "published order", "--band-order"


def parse_band_order(text: str) -> list[str]:
    """``--band-order``: the file's bands as a comma list of the ten published band names, each
    once (``B2``/``b02`` spellings accepted), e.g. ``B12,B11,B8A,B08,B07,B06,B05,B04,B03,B02``."""
    items = [t.strip() for t in str(text).split(",")]
    names = [_canonical_band(t) for t in items]
    expected = f"the {len(BANDS)} band names {','.join(BANDS)} in the file's order, each once"
    bad = [t for t, n in zip(items, names) if n not in BANDS]
    if bad:
        raise ValueError(f"--band-order: expected {expected}; {bad[0]!r} is not one of them")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"--band-order: expected {expected}; {', '.join(repeated)} given twice")
    if len(names) != len(BANDS):
        missing = [b for b in BANDS if b not in names]
        raise ValueError(f"--band-order: expected {expected}; missing {', '.join(missing)}")
    return names  # type: ignore[return-value]


def file_band_order(path: str | Path, descriptions: Sequence[str | None], count: int,
                    stated: Sequence[str] | None = None) -> tuple[list[str], str]:
    """The band names of a GeoTIFF, in file order, and where that order came from.

    ``stated`` (``--band-order``) wins. Otherwise descriptions that name Sentinel-2 bands decide:
    every band must name one, each once; a missing, unknown or repeated name is an error naming the
    band index, since reading such a file in any assumed order can silently swap bands. A file with
    no descriptions at all is read in the published 10-band order.
    """
    from euromine_hf.data.archive import ArchiveError

    if stated is not None:
        if count != len(stated):
            raise ArchiveError(path, "band count", f"{len(stated)} bands as --band-order states ({','.join(stated)})", count)
        return list(stated), ORDER_STATED
    texts = [(d or "").strip() for d in descriptions]
    if not any(texts):
        if count == len(BANDS):
            return list(BANDS), ORDER_PUBLISHED
        raise ArchiveError(
            path, "band count",
            f"{len(BANDS)} bands in the published order ({', '.join(BANDS)}), or band descriptions naming each band",
            f"{count} band{'s' if count != 1 else ''} without Sentinel-2 band descriptions",
        )
    expected = "a Sentinel-2 band name (B02 ... B12, B8A) for every band, each once, or --band-order stating the file's order"
    names: list[str] = []
    for index, text in enumerate(texts, start=1):
        name = _canonical_band(text)
        if not text:
            raise ArchiveError(path, f"band {index} description", expected, "none (other bands are described)")
        if name not in S2_BAND_NAMES:
            raise ArchiveError(path, f"band {index} description", expected, repr(text))
        if name in names:
            raise ArchiveError(path, f"band {index} description", expected, f"{name} again (band {names.index(name) + 1})")
        names.append(name)  # type: ignore[arg-type]
    return names, ORDER_FROM_DESCRIPTIONS


def raster_band_names(path: str | Path, descriptions: Sequence[str | None], count: int,
                      stated: Sequence[str] | None = None) -> list[str]:
    """Band names of a GeoTIFF in file order (see :func:`file_band_order`)."""
    return file_band_order(path, descriptions, count, stated)[0]


def check_threshold(value: float | str) -> float:
    """A map threshold must lie strictly inside (0, 1): 0, 1, 2 or NaN would give a map of one class."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 < number < 1.0:  # also false for NaN
        raise ValueError(f"--threshold: expected a probability strictly between 0 and 1, found {value!r}")
    return number


def _model_bands(model: Any) -> list[str]:
    bands = list(getattr(model.config, "band_names", None) or BANDS)
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        raise ValueError(f"model bands {bands}: no published normalisation for {unknown}")
    return bands


def _is_change_model(model: Any) -> bool:
    return getattr(model.config, "task", "segmentation") == "change_detection"


# ---- the streaming core, shared by both tasks --------------------------------------------------


def _blend(
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
    least 160 rows and columns (``(bands, 160, max(width, 160))``); ``forward`` maps per-date window
    stacks ``(n, bands, 160, 160)`` to probabilities ``(n, 160, 160)``. ``emit(r0, r1, p)`` receives
    the averaged probability of rows ``r0 .. r1`` (``(r1 - r0, width)``) once no later window can
    touch them, so at most one batch's rows are held at a time.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    windows = [(r, c) for r in window_offsets(height, PATCH_SIZE, stride) for c in window_offsets(width, PATCH_SIZE, stride)]
    padded_width = max(width, PATCH_SIZE)
    top = 0  # scene row of the accumulators' first row
    prob_sum = np.zeros((0, padded_width), dtype=np.float32)
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
        need = chunk[-1][0] + PATCH_SIZE - top
        if need > prob_sum.shape[0]:
            grow = np.zeros((need - prob_sum.shape[0], padded_width), dtype=np.float32)
            prob_sum, hits = np.concatenate([prob_sum, grow]), np.concatenate([hits, grow])
        for (r, c), p in zip(chunk, probability):
            prob_sum[r - top : r - top + PATCH_SIZE, c : c + PATCH_SIZE] += p
            hits[r - top : r - top + PATCH_SIZE, c : c + PATCH_SIZE] += 1.0
        following = windows[start + batch_size][0] if start + batch_size < len(windows) else height
        for r in [r for r in strips if r < following]:
            del strips[r]
        done = min(following, height)
        if done > top:
            k = done - top
            emit(top, done, (prob_sum[:k] / np.maximum(hits[:k], 1.0))[:, :width])
            prob_sum, hits, top = prob_sum[k:].copy(), hits[k:].copy(), done


def _forward_fn(model: Any, band_names: Sequence[str], mean: np.ndarray, std: np.ndarray) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Normalise each date's windows with the published mean/std of the model's bands and return
    the class-1 (mine / change) softmax probability."""
    import torch

    index = [list(BANDS).index(b) for b in band_names]
    band_mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)[index]).view(1, -1, 1, 1)
    band_std = torch.as_tensor(np.asarray(std, dtype=np.float32)[index]).view(1, -1, 1, 1)
    device = next(model.parameters()).device
    change = _is_change_model(model)

    def forward(stacks: list[np.ndarray]) -> np.ndarray:
        tensors = [((torch.from_numpy(s.astype(np.float32)) - band_mean) / band_std).to(device) for s in stacks]
        with torch.no_grad():
            if change:
                logits = model(pixel_values_t1=tensors[0], pixel_values_t2=tensors[1]).logits
            else:
                logits = model(pixel_values=tensors[0]).logits
            return torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()

    return forward


@contextlib.contextmanager
def _eval_mode(model: Any):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _wrap_pad(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[1:]
    padded = np.take(image, np.arange(max(height, PATCH_SIZE)) % height, axis=1)
    return np.take(padded, np.arange(max(width, PATCH_SIZE)) % width, axis=2)


def _check_array(name: str, image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"{name} must be (bands, height, width); got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.integer):
        raise ValueError(f"{name} must hold integer Sentinel-2 DN; got dtype {image.dtype}")
    return image


def _predict_arrays(model: Any, images: list[np.ndarray], band_names: Sequence[str], batch_size: int,
                    stride: int | None, threshold: float, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model_bands = list(getattr(model.config, "band_names", None) or band_names)
    if any(b not in BANDS for b in model_bands):
        raise ValueError(f"no published normalisation for bands {model_bands}")
    padded = [_wrap_pad(select_bands(image, model_bands, band_names)) for image in images]
    height, width = images[0].shape[1:]
    probability = np.empty((height, width), dtype=np.float32)

    def emit(r0: int, r1: int, p: np.ndarray) -> None:
        probability[r0:r1] = p

    with _eval_mode(model):
        _blend(_forward_fn(model, model_bands, mean, std), lambda r: [p[:, r : r + PATCH_SIZE] for p in padded],
               height, width, emit, stride=stride, batch_size=batch_size)
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
    return _predict_arrays(model, [image], band_names, batch_size, stride, threshold, mean, std)


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
    return _predict_arrays(model, [first, second], band_names, batch_size, stride, threshold, mean, std)


# ---- GeoTIFF in, GeoTIFF out -------------------------------------------------------------------


class _SceneReader:
    """One input GeoTIFF, opened once, read as strips of the model's bands (never whole)."""

    def __init__(self, path: Path, model_bands: Sequence[str], stated_order: Sequence[str] | None = None) -> None:
        from euromine_hf.data.archive import ArchiveError, _check_size, _open_raster

        self.path = path
        self.src = _open_raster(path)
        try:
            src = self.src
            if not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
                raise ArchiveError(path, "dtype", "integer Sentinel-2 digital numbers", src.dtypes[0])
            _check_size(path, src.height, src.width)
            names, self.order_source = file_band_order(path, src.descriptions, src.count, stated_order)
            self.band_names = names
            missing = [b for b in model_bands if b not in names]
            if missing:
                raise ArchiveError(path, "bands", f"the model's bands {', '.join(model_bands)}",
                                   f"bands {', '.join(names)} (no {', '.join(missing)})")
            self.indexes = [names.index(b) + 1 for b in model_bands]
            self.bands = list(model_bands)
            self.height, self.width = src.height, src.width
            self.crs, self.transform, self.nodata = src.crs, src.transform, src.nodata
            self.checked_values = np.dtype(src.dtypes[0]) == np.uint16
            # Validity of the rows read for windows, kept until emitted so no pixel is read twice.
            self._valid_top = 0
            self._valid_rows = np.zeros((0, self.width), dtype=bool)
        except BaseException:
            self.src.close()
            raise

    def close(self) -> None:
        self.src.close()

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1`` of the model's bands as uint16 ``(bands, r1 - r0, width)``."""
        from rasterio.windows import Window

        from euromine_hf.data.archive import ArchiveError

        try:
            data = self.src.read(self.indexes, window=Window(0, r0, self.width, r1 - r0))
        except Exception as exc:
            raise ArchiveError(self.path, "pixels", "a complete, readable image raster", f"{type(exc).__name__}: {exc}") from exc
        if not self.checked_values and data.size:
            lo, hi = int(data.min()), int(data.max())
            if lo < 0 or hi > 65535:
                raise ArchiveError(self.path, "pixel values", "digital numbers in 0..65535 (uint16)", f"values {lo}..{hi}")
        return data.astype(np.uint16, copy=False)

    def window_rows(self, r: int) -> np.ndarray:
        """Rows ``r .. r+160``, wrap-padded to at least 160 rows and columns; their validity is
        kept for :meth:`valid`."""
        end = min(r + PATCH_SIZE, self.height)
        data = self.rows(r, end)
        self._keep_valid(r, data)
        if end - r < PATCH_SIZE:
            data = np.take(data, np.arange(PATCH_SIZE) % data.shape[1], axis=1)
        if self.width < PATCH_SIZE:
            data = np.take(data, np.arange(PATCH_SIZE) % self.width, axis=2)
        return data

    def _valid_of(self, data: np.ndarray) -> np.ndarray:
        """Pixels with data: not zero in every band, and not the file's nodata in every band."""
        empty = (data == 0).all(axis=0)
        if self.nodata is not None and not np.isnan(self.nodata):
            empty |= (data == self.nodata).all(axis=0)
        return ~empty

    def _keep_valid(self, r0: int, data: np.ndarray) -> None:
        top, end = self._valid_top, self._valid_top + len(self._valid_rows)
        r1 = r0 + data.shape[1]
        if r0 < top or r0 > end:  # not contiguous with what is kept: start over
            self._valid_top, self._valid_rows = r0, self._valid_of(data)
        elif r1 > end:
            self._valid_rows = np.concatenate([self._valid_rows, self._valid_of(data[:, end - r0 :])])

    def valid(self, r0: int, r1: int) -> np.ndarray:
        """Validity (see :meth:`_valid_of`) of rows ``r0 .. r1``: from the rows already read for
        windows when they are kept (then forgotten, as rows are emitted once), else read."""
        top = self._valid_top
        if top <= r0 and r1 <= top + len(self._valid_rows):
            out = self._valid_rows[r0 - top : r1 - top].copy()
            self._valid_top, self._valid_rows = r1, self._valid_rows[r1 - top :]
            return out
        return self._valid_of(self.rows(r0, r1))


def _overview_factors(height: int, width: int, block: int = 256) -> list[int]:
    factors, factor = [], 2
    while max(height, width) / (factor // 2) > block:
        factors.append(factor)
        factor *= 2
    return factors


def _finish_cog(partial: Path, dest: Path) -> None:
    """Rewrite a finished tiled GeoTIFF as a Cloud-Optimised GeoTIFF (the COG driver when GDAL has
    it; else overviews built in place and copied with ``COPY_SRC_OVERVIEWS``)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as raster_copy

    with rasterio.Env() as env:
        has_cog = "COG" in env.drivers()
    if has_cog:
        raster_copy(partial, dest, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256, OVERVIEW_RESAMPLING="NEAREST",
                    OVERVIEWS="AUTO", BIGTIFF="IF_SAFER")
        return
    with rasterio.open(partial, "r+") as dst:
        factors = _overview_factors(dst.height, dst.width)
        if factors:
            dst.build_overviews(factors, Resampling.nearest)
    raster_copy(partial, dest, driver="GTiff", TILED="YES", BLOCKXSIZE=256, BLOCKYSIZE=256, COMPRESS="DEFLATE",
                COPY_SRC_OVERVIEWS="YES", BIGTIFF="IF_SAFER")


def _package_version() -> str:
    from euromine_hf import __version__

    return str(__version__)


def predict_geotiff(
    model: torch.nn.Module,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    probability_out: str | Path | None = None,
    years: Sequence[int | None] | None = None,
    model_name: str | None = None,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    band_order: Sequence[str] | None = None,
) -> list[Path]:
    """Map one scene file (a segmenter: one image; a change detector: the t1 and t2 images) to a
    Cloud-Optimised GeoTIFF ``out``, streaming strips of rows so memory does not grow with height.

    ``out``: uint8 0 background / 1 mine (or change) / 255 nodata (input zero or nodata in every
    band, on either date), colour table, band description, tags (model, model_type, years, bands,
    euromine-hf version, and ``band_order`` / ``band_order_source``: the input's bands as read and
    whether its descriptions, the published order or ``band_order`` (``--band-order``) decided).
    ``probability_out``: uint8 0–100 (percent), 255 nodata. Both are written atomically: on any
    error neither file appears.
    """
    import rasterio
    from rasterio.windows import Window

    from euromine_hf.data.archive import ArchiveError
    from euromine_hf.data.geotiff import class_table_path, class_table_xml, label_class_band, label_probability_band
    from euromine_hf.io import atomic_path, make_temp_dir

    paths = [Path(p) for p in images]
    change = _is_change_model(model)
    if len(paths) != (2 if change else 1):
        raise ValueError(f"{'a change detector needs two images (t1, t2)' if change else 'a segmenter maps one image'}; got {len(paths)}")
    model_bands = _model_bands(model)
    threshold = check_threshold(threshold)
    outputs = [Path(out)] + ([Path(probability_out)] if probability_out is not None else [])
    _refuse_inputs_as_outputs(paths, outputs)
    readers: list[_SceneReader] = []
    with contextlib.ExitStack() as stack:
        for path in paths:
            readers.append(_SceneReader(path, model_bands, band_order))
            stack.callback(readers[-1].close)
        first = readers[0]
        for other in readers[1:]:
            if (other.height, other.width) != (first.height, first.width):
                raise ArchiveError(other.path, "size", f"{first.height}x{first.width} like {first.path.name} (both dates on one grid)",
                                   f"{other.height}x{other.width}")
            if other.crs != first.crs or not other.transform.almost_equals(first.transform):
                raise ArchiveError(other.path, "georeference", f"CRS and transform of {first.path.name} (both dates on one grid)",
                                   f"{other.crs} {tuple(other.transform)[:6]}")
        kind = "change" if change else "mine"
        year_text = ",".join(str(y) for y in (years or []) if y is not None)
        tags = {
            "model": model_name or str(getattr(model, "name_or_path", "") or type(model).__name__),
            "model_type": str(getattr(model.config, "model_type", "")),
            "task": "change_detection" if change else "segmentation",
            "years": year_text,
            "bands": ",".join(model_bands),
            "inputs": ";".join(p.name for p in paths),
            "band_order": ";".join(",".join(r.band_names) for r in readers),
            "band_order_source": ";".join(r.order_source for r in readers),
            "threshold": str(threshold),
            "stride": str(stride or PATCH_SIZE),
            "euromine_hf_version": _package_version(),
            "software": f"euromine-hf {_package_version()}",
        }
        profile = {
            "driver": "GTiff", "height": first.height, "width": first.width, "count": 1, "dtype": "uint8",
            "crs": first.crs, "transform": first.transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
            "BIGTIFF": "IF_SAFER",
        }
        targets = [(Path(out), "map")] + ([(Path(probability_out), "probability")] if probability_out is not None else [])
        tmp_paths = [stack.enter_context(atomic_path(target)) for target, _ in targets]
        scratch = make_temp_dir(Path(out).parent, f".{Path(out).name}.partial-")  # tiled, uncompressed: rewritten as COG
        stack.callback(shutil.rmtree, scratch, True)
        partials: list[Path] = []
        writers = []
        for (target, role), tmp in zip(targets, tmp_paths):
            partials.append(scratch / f"{role}.tif")
            dst = stack.enter_context(rasterio.open(partials[-1], "w", nodata=MAP_NODATA if role == "map" else PROBABILITY_NODATA, **profile))
            dst.update_tags(**tags)
            if role == "map":
                label_class_band(dst, kind, _MAP_COLOURS[kind], MAP_NODATA)
                # class names GIS shows: GDAL's side-car, renamed into place with the map
                stack.enter_context(atomic_path(class_table_path(target))).write_text(class_table_xml(kind, _MAP_COLOURS[kind]))
            else:
                label_probability_band(dst, kind, PROBABILITY_NODATA)
            writers.append(dst)

        def emit(r0: int, r1: int, probability: np.ndarray) -> None:
            valid = readers[0].valid(r0, r1)
            for reader in readers[1:]:
                valid &= reader.valid(r0, r1)
            window = Window(0, r0, first.width, r1 - r0)
            mask = np.where(valid, (probability > threshold).astype(np.uint8), np.uint8(MAP_NODATA))
            writers[0].write(mask[None], window=window)
            if len(writers) > 1:
                percent = np.rint(np.clip(probability, 0.0, 1.0) * 100.0).astype(np.uint8)
                writers[1].write(np.where(valid, percent, np.uint8(PROBABILITY_NODATA))[None], window=window)

        with _eval_mode(model):
            _blend(_forward_fn(model, model_bands, MEAN, STD), lambda r: [reader.window_rows(r) for reader in readers],
                   first.height, first.width, emit, stride=stride, batch_size=batch_size)
        for dst in writers:
            dst.close()
        for partial, tmp in zip(partials, tmp_paths):
            _finish_cog(partial, tmp)
    return [target for target, _ in targets]


# ---- finding scenes without labels -------------------------------------------------------------


@dataclass
class Scene:
    """Images of one place: ``{year: GeoTIFF}``; ``name`` is the output subfolder (a site), or
    ``None`` when outputs go straight into the output folder."""

    folder: Path
    name: str | None
    images: dict[int, Path] = field(default_factory=dict)


def _year_files(folder: Path, root: Path) -> dict[int, Path]:
    from euromine_hf.data.archive import ArchiveError, check_inside

    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = _YEAR_TIF.match(path.name)
        if not match or not path.is_file():
            continue
        check_inside(root, path)
        year = int(match.group(1))
        if year in found:
            raise ArchiveError(folder, f"image for year {year}", "exactly one file", f"{found[year].name} and {path.name}")
        found[year] = path
    return found


def _is_site(folder: Path) -> bool:
    return (folder / "image").is_dir() and any(_YEAR_TIF.match(p.name) for p in (folder / "image").iterdir())


def find_scenes(
    source: str | Path,
    *,
    years: Iterable[int] | None = None,
    sites: Iterable[str] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
) -> list[Scene]:
    """The scenes of an archive (raw layout), a site folder (``image/Year{YYYY}.tif``) or a folder
    of ``Year{YYYY}.tif`` images, with the images of ``years`` (default: every year found). Labels
    are neither needed nor read."""
    from euromine_hf.data.archive import ArchiveError, check_inside

    root = Path(source)
    if not root.is_dir():
        raise ArchiveError(root, "input", "an archive, a site folder, a folder of Year{YYYY}.tif images or a GeoTIFF",
                           "no such file or folder" if not root.exists() else "not a folder")
    if _is_site(root):
        scenes = [Scene(root, root.name, _year_files(root / "image", root))]
    elif any(_YEAR_TIF.match(p.name) for p in root.iterdir()):
        scenes = [Scene(root, None, _year_files(root, root))]
    else:
        folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        site_folders = [d for d in folders if _is_site(check_inside(root, d))]
        if not site_folders:
            cropped = any(any((y / "image").is_dir() for y in d.iterdir() if y.is_dir()) for d in folders)
            raise ArchiveError(
                root, "layout",
                "site folders with image/Year{YYYY}.tif (raw layout), a folder of Year{YYYY}.tif images, or one GeoTIFF",
                "cropped patches ({Site}/{YYYY}/image/*.npy): whole-scene maps need the GeoTIFFs" if cropped else "none of these",
            )
        scenes = [Scene(d, d.name, _year_files(d / "image", root)) for d in site_folders]
    if sites is not None:
        wanted = list(dict.fromkeys(sites))
        have = {s.name for s in scenes}
        unknown = [s for s in wanted if s not in have]
        if unknown:
            raise ArchiveError(root, "sites", f"sites found there ({', '.join(sorted(n for n in have if n)) or 'none'})", ", ".join(unknown))
        scenes = [s for s in scenes if s.name in wanted]
    if split is not None:
        from euromine_hf.data.splits import assign_splits

        chosen = set(assign_splits([s.name for s in scenes if s.name], split_scheme, seed)[split])
        scenes = [s for s in scenes if s.name in chosen]
    if years is not None:
        year_list = sorted({int(y) for y in years})
        for scene in scenes:
            missing = [y for y in year_list if y not in scene.images]
            if missing:
                folder = scene.folder / "image" if scene.name and (scene.folder / "image").is_dir() else scene.folder
                raise ArchiveError(folder, f"image for year {missing[0]}", f"Year{missing[0]}.tif", "no such file")
            scene.images = {y: scene.images[y] for y in year_list}
    if not scenes:
        raise ValueError(f"{root}: no site to predict (sites={sites}, split={split})")
    return scenes


def _jobs(scenes: Sequence[Scene], change: bool, pairs: Sequence[tuple[int, int]] | str | None, out_dir: Path):
    """(image paths, years, map path, probability path) for every output."""
    from euromine_hf.data.archive import ArchiveError

    jobs = []
    for scene in scenes:
        base = out_dir / scene.name if scene.name else out_dir
        if not change:
            for year, path in sorted(scene.images.items()):
                jobs.append(([path], [year], base / f"Year{year}.tif", base / f"Probability{year}.tif"))
            continue
        if pairs is None:
            scene_pairs = default_year_pairs(scene.images)
        elif pairs == ALL_PAIRS:
            scene_pairs = all_year_pairs(scene.images)
        else:
            scene_pairs = list(pairs)
        if not scene_pairs:
            raise ArchiveError(scene.folder, "years", "at least two Year{YYYY}.tif images for change maps", f"years {sorted(scene.images)}")
        for y1, y2 in scene_pairs:
            for year in (y1, y2):
                if year not in scene.images:
                    raise ArchiveError(scene.folder, f"image for year {year}", f"Year{year}.tif (--pairs {y1}:{y2})", "no such file")
            jobs.append(([scene.images[y1], scene.images[y2]], [y1, y2],
                         base / f"Change{y1}_{y2}.tif", base / f"ChangeProbability{y1}_{y2}.tif"))
    return jobs


def _run_jobs(model: Any, jobs: list, *, save_probability: bool, batch_size: int, stride: int | None,
              threshold: float, model_name: str | None, progress: bool, band_order: Sequence[str] | None = None) -> list[Path]:
    from tqdm.auto import tqdm

    from euromine_hf.predict_outputs import OutputFolders

    model_bands = _model_bands(model)
    for images, *_ in jobs:  # every header checked before any pixel is read or any file written
        for path in images:
            _SceneReader(path, model_bands, band_order).close()
    folders = OutputFolders(out.parent for _, _, out, _ in jobs)
    folders.open()
    written: list[Path] = []
    try:
        for images, years, out, probability_out in tqdm(jobs, desc="predict", unit="map", disable=not progress):
            done = predict_geotiff(model, images, out, probability_out=probability_out if save_probability else None,
                                   years=years, model_name=model_name, batch_size=batch_size, stride=stride,
                                   threshold=threshold, band_order=band_order)
            folders.record(done)
            written += done
    except BaseException:
        folders.close(failed=True)
        raise
    folders.close(failed=False)
    return written


def _refuse_inputs_as_outputs(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """An output that is (or resolves to) one of its own inputs would replace the image being read."""
    from euromine_hf.predict_outputs import PredictDestinationError

    real = {Path(p).resolve(): Path(p) for p in inputs}
    for out in outputs:
        if Path(out).resolve() in real:
            raise PredictDestinationError(f"{out}: output: expected a new file, found the input {real[Path(out).resolve()]} (not replaced)")


def predict(
    model: torch.nn.Module,
    source: str | Path,
    out_dir: str | Path,
    *,
    t2: str | Path | None = None,
    pairs: Sequence[tuple[int, int]] | str | None = None,
    years: Iterable[int] | None = None,
    sites: Iterable[str] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    save_probability: bool = False,
    model_name: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    band_order: Sequence[str] | None = None,
) -> list[Path]:
    """Maps of any input: an archive, a site folder, a folder of ``Year{YYYY}.tif`` images, or one
    GeoTIFF (for a change detector with ``t2``, the later image). A segmenter writes
    ``Year{YYYY}.tif`` per year, a detector ``Change{Y1}_{Y2}.tif`` per pair (default: consecutive
    years and first → last), under ``out_dir/{Site}/`` for sites and directly in ``out_dir``
    otherwise; with ``save_probability`` also ``Probability…``/``ChangeProbability…`` files.

    Before anything runs, outputs that are an input, lie in the input folder, or already exist are
    refused; ``overwrite`` replaces existing maps only where predict wrote them
    (:mod:`euromine_hf.predict_outputs`). ``band_order`` states the input files' band order
    (``--band-order``) instead of their band descriptions (:func:`file_band_order`)."""
    threshold = check_threshold(threshold)
    if band_order is not None:
        band_order = parse_band_order(",".join(band_order))
    jobs = _plan(_is_change_model(model), Path(source), Path(out_dir), t2=t2, pairs=pairs, years=years, sites=sites,
                 split=split, split_scheme=split_scheme, seed=seed, save_probability=save_probability,
                 overwrite=overwrite, model_name=model_name)
    return _run_jobs(model, jobs, save_probability=save_probability, batch_size=batch_size, stride=stride,
                     threshold=threshold, model_name=model_name, progress=progress, band_order=band_order)


def _plan(change: bool, source: Path, out_dir: Path, *, t2: str | Path | None, pairs: Sequence[tuple[int, int]] | str | None,
          years: Iterable[int] | None, sites: Iterable[str] | None, split: str | None, split_scheme: str, seed: int,
          save_probability: bool, overwrite: bool, model_name: str | None) -> list:
    """The jobs of :func:`predict` (see :func:`_jobs`), once their outputs passed
    :func:`~euromine_hf.predict_outputs.check_destination`: needs the task, not the model, so the
    command line refuses a bad destination before loading any weights."""
    from euromine_hf.data.archive import ArchiveError
    from euromine_hf.predict_outputs import check_destination

    if t2 is not None and not change:
        raise ValueError(f"--t2: {model_name or 'the model'} is a segmenter (it maps one image); --t2 needs a change detector")
    if source.is_file():
        if sites is not None or split is not None or years is not None or pairs is not None:
            raise ValueError(f"{source}: a single GeoTIFF takes no --sites/--split/--years/--pairs (those select from folders)")
        def year_of(path: Path) -> int | None:
            match = _YEAR_IN_NAME.search(path.stem)
            return int(match.group(1)) if match else None

        if not change:
            year = year_of(source)
            stem = f"Year{year}" if year is not None and _YEAR_TIF.match(source.name) else f"{source.stem}_mine"
            prob = f"Probability{year}" if stem.startswith("Year") else f"{source.stem}_probability"
            jobs = [([source], [year], out_dir / f"{stem}.tif", out_dir / f"{prob}.tif")]
        else:
            if t2 is None:
                raise ValueError(f"{source}: a change detector compares two dates; give the later image with --t2 OTHER.tif "
                                 "(same grid), or a folder of Year{YYYY}.tif images")
            t2 = Path(t2)
            if not t2.is_file():
                raise ArchiveError(t2, "--t2", "a GeoTIFF (the later image)", "no such file")
            y1, y2 = year_of(source), year_of(t2)
            name = f"{y1}_{y2}" if y1 is not None and y2 is not None else f"{source.stem}_{t2.stem}"
            jobs = [([source, t2], [y1, y2], out_dir / f"Change{name}.tif", out_dir / f"ChangeProbability{name}.tif")]
    else:
        if t2 is not None:
            raise ValueError(f"--t2: {source} is a folder; --t2 goes with a single GeoTIFF (use --pairs for folders)")
        needed = years
        if change and pairs is not None and pairs != ALL_PAIRS:
            needed = sorted({y for pair in pairs for y in pair} | set(years or []))
        scenes = find_scenes(source, years=needed, sites=sites, split=split, split_scheme=split_scheme, seed=seed)
        jobs = _jobs(scenes, change, pairs, out_dir)
    outputs = [out for _, _, out, _ in jobs] + ([probability for *_, probability in jobs] if save_probability else [])
    inputs = [path for images, *_ in jobs for path in images]
    check_destination(inputs, [] if source.is_file() else [source], out_dir, outputs, overwrite)
    return jobs


def predict_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    sites: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    save_probability: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Yearly mine maps of every site (or one split) of an archive into ``out_dir``:
    ``{Site}/Year{YYYY}.tif`` and, with ``save_probability``, ``{Site}/Probability{YYYY}.tif``
    (see :func:`predict_geotiff`). ``years`` default: every year each site has. Labels are not read."""
    if _is_change_model(model):
        raise ValueError("predict_archive maps years with a segmenter; use predict_change_archive for a change detector")
    return predict(model, archive, out_dir, years=years, sites=sites, split=split, split_scheme=split_scheme, seed=seed,
                   batch_size=batch_size, stride=stride, save_probability=save_probability, progress=progress, overwrite=overwrite)


def predict_change_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    pairs: Sequence[tuple[int, int]] | str | None = None,
    sites: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    save_probability: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Change maps of year pairs of every site (or one split) of an archive:
    ``{Site}/Change{Y1}_{Y2}.tif`` (the layout ``euromine evaluate --task change`` reads) and, with
    ``save_probability``, ``ChangeProbability{Y1}_{Y2}.tif``. ``pairs`` default: consecutive years
    of ``years`` (default: the years each site has) and first → last."""
    if not _is_change_model(model):
        raise ValueError("predict_change_archive needs a change detector; use predict_archive for a segmenter")
    if pairs is None and years is not None:
        pairs = default_year_pairs(years)
    return predict(model, archive, out_dir, pairs=pairs, years=years, sites=sites, split=split, split_scheme=split_scheme,
                   seed=seed, batch_size=batch_size, stride=stride, save_probability=save_probability, progress=progress,
                   overwrite=overwrite)


# ---- year pairs --------------------------------------------------------------------------------


def default_year_pairs(years: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive years, then first → last (when that is not already consecutive)."""
    years = sorted({int(y) for y in years})
    pairs = list(zip(years, years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    return pairs


#: ``pairs=ALL_PAIRS`` (``--pairs all``): every pair of the years each scene has, the 45 pairs the
#: change-detection task scores when all ten years are there (what a leaderboard submission needs).
ALL_PAIRS = "all"


def all_year_pairs(years: Iterable[int]) -> list[tuple[int, int]]:
    """Every pair ``(y1, y2)``, ``y1 < y2``, of ``years``, in order."""
    return list(itertools.combinations(sorted({int(y) for y in years}), 2))


def parse_year_pairs(text: str) -> list[tuple[int, int]] | str:
    """``"2016:2017,2015:2024"`` → ``[(2016, 2017), (2015, 2024)]`` (each pair earlier:later);
    ``"all"`` → :data:`ALL_PAIRS` (every pair of the years found)."""
    if text.strip().lower() == ALL_PAIRS:
        return ALL_PAIRS
    pairs: list[tuple[int, int]] = []
    for item in (t.strip() for t in text.split(",")):
        parts = item.split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--pairs: expected items 'Y1:Y2' such as 2016:2017, got {item!r}")
        y1, y2 = int(parts[0]), int(parts[1])
        if y1 >= y2:
            raise ValueError(f"--pairs: expected the earlier year first, got {item!r}")
        if (y1, y2) not in pairs:
            pairs.append((y1, y2))
    if not pairs:
        raise ValueError("--pairs: expected at least one pair Y1:Y2")
    return pairs


# ---- command line ------------------------------------------------------------------------------


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.options import POSITIVE, SEED, checked, device_type, int_range

    parser = subparsers.add_parser(
        name,
        help=summary,
        description=(
            "Map whole scenes with a trained model: yearly mine maps (segmenter) or change maps (change detector).\n\n"
            "MODEL is a folder written by train.py / save_pretrained (or a Hub id when online).\n"
            "INPUT is an archive ({Site}/image/Year{YYYY}.tif; labels not needed), one site folder, a folder\n"
            "of Year{YYYY}.tif images, or one GeoTIFF (any years). Bands are matched by the GeoTIFF's band\n"
            "descriptions (B02, B03, ...; every band, each once) when present, else the published 10-band order\n"
            "is assumed; --band-order states the order for files whose descriptions say otherwise.\n\n"
            "Writes Cloud-Optimised GeoTIFFs georeferenced like the input: OUT/{Site}/Year{YYYY}.tif for\n"
            "sites (the layout `euromine evaluate ARCHIVE OUT` reads), OUT/Year{YYYY}.tif for a folder or a file;\n"
            "0 background, 1 mine, 255 no input data; colour table, overviews, tags naming model/years/bands.\n"
            "OUT may not be an input or lie inside the input folder; existing maps are kept unless --overwrite\n"
            "(which replaces only maps euromine predict wrote, as listed in .euromine-predict.json beside them).\n\n"
            "Examples:\n"
            "  euromine predict outputs/demo/model outputs/archive outputs/pred --split test\n"
            "  euromine predict outputs/demo/model scene/Year2023.tif maps --probabilities\n"
            "  euromine predict outputs/demo/change_detection/model outputs/archive outputs/cd --pairs 2016:2017,2015:2024\n"
            "  euromine predict outputs/demo/change_detection/model a/Year2019.tif maps --t2 a/Year2023.tif"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder or Hub id")
    parser.add_argument("input", help="archive, site folder, folder of Year{YYYY}.tif images, or one GeoTIFF")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--split", choices=("train", "validation", "test"), default=None, help="archives: only the sites of this split")
    parser.add_argument("--split-scheme", default="auto", choices=("auto", "official", "random"))
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random split scheme")
    parser.add_argument("--sites", nargs="+", default=None, help="archives: only these sites")
    parser.add_argument("--years", nargs="+", type=int, default=None, help="only these years (default: every year found)")
    parser.add_argument("--batch-size", type=POSITIVE, default=16)
    parser.add_argument("--stride", type=int_range(1, PATCH_SIZE), default=None, help="window step in pixels (default 160, the published grid; 80 averages overlaps)")
    parser.add_argument("--threshold", type=checked(check_threshold), default=0.5,
                        help="probability above which a pixel is mine/change, strictly between 0 and 1 (default 0.5)")
    parser.add_argument("--band-order", type=checked(parse_band_order), default=None, metavar="B02,B03,...",
                        help="the input files' band order as 10 comma-separated band names; overrides band descriptions "
                             "(needed where they are missing, repeated or unknown); recorded in the maps' tags")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing maps in OUT, but only ones euromine predict wrote there and nobody changed since "
                             "(listed in .euromine-predict.json beside them); anything else is kept and the run refused")
    parser.add_argument("--probabilities", "--probability", dest="probability", action="store_true",
                        help="also write the probability (uint8 percent 0-100, 255 nodata): Probability{YYYY}.tif / ChangeProbability{Y1}_{Y2}.tif")
    parser.add_argument("--device", type=device_type, default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--pairs", default=None, metavar="Y1:Y2,...|all",
                        help="change detectors, folders: year pairs to map, e.g. 2016:2017,2015:2024, or 'all' (every pair "
                             "of the years found: the 45 a change-detection submission needs); default: consecutive "
                             "years and first:last; writes Change{Y1}_{Y2}.tif")
    parser.add_argument("--t2", default=None, metavar="OTHER.tif",
                        help="change detectors, INPUT a single GeoTIFF: the later image (same grid)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the Python code a non-euromine model folder ships (its config's auto_map); "
                             "without it such a folder is refused. Only for sources you trust")
    parser.set_defaults(func=_run)
    return parser


def _load_any(path: str, trust_remote_code: bool = False) -> Any:
    """A segmenter or change detector through :func:`euromine_hf.models.loading.load_model`."""
    from euromine_hf.models.loading import load_model

    return load_model(path, trust_remote_code=trust_remote_code)  # picks the Auto class from the config's task


def _is_change_detector(model: str, trust_remote_code: bool = False) -> bool:
    """Whether a model folder (or Hub id) holds a change detector, from its config alone."""
    import euromine_hf.models  # noqa: F401  (registers the model types)
    from transformers import AutoConfig

    from euromine_hf.models.loading import check_model_folder, check_remote_code, hub_config, is_local_path

    # a damaged or missing folder, or foreign code: name the file and field, before transformers imports any class
    local = is_local_path(model)
    raw = check_model_folder(model, trust_remote_code) if local else hub_config(model)
    remote = check_remote_code(raw, Path(model) / "config.json" if local else model, trust_remote_code)
    try:  # an explicit trust_remote_code: transformers never prompts
        config = AutoConfig.from_pretrained(model, trust_remote_code=remote)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{model}: could not read the model's config.json: {error}") from error
    return getattr(config, "task", "segmentation") == "change_detection"


def _run(args: argparse.Namespace) -> int:
    """``euromine predict``: yearly mine maps for a segmenter, change maps for a detector."""
    import torch

    change = _is_change_detector(args.model, args.trust_remote_code)
    if args.pairs is not None and not change:
        raise ValueError(f"--pairs: {args.model} is a segmenter (it maps years); --pairs needs a change detector")
    pairs = parse_year_pairs(args.pairs) if args.pairs is not None else None
    jobs = _plan(change, Path(args.input), Path(args.out), t2=args.t2, pairs=pairs, years=args.years, sites=args.sites,
                 split=args.split, split_scheme=args.split_scheme, seed=args.seed, save_probability=args.probability,
                 overwrite=args.overwrite, model_name=str(args.model))  # before any weights are loaded
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = _load_any(args.model, args.trust_remote_code).to(device)
    paths = _run_jobs(model, jobs, save_probability=args.probability, batch_size=args.batch_size, stride=args.stride,
                      threshold=args.threshold, model_name=str(args.model), progress=True, band_order=args.band_order)
    print(f"wrote {len(paths)} {'change ' if change else ''}rasters under {args.out}")
    return 0
