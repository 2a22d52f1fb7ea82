"""One input GeoTIFF read as strips of rows, so a scene of any height maps in bounded memory.

Everything about a file that can be checked from its header (pixel type, size limit, band order,
the model's bands being there) is checked when it is opened, before any pixel is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from euromine_hf.bands import PATCH_SIZE
from euromine_hf.inference.band_order import file_band_order

__all__ = ["SceneReader", "check_one_grid", "read_geotiffs"]


class SceneReader:
    """One input GeoTIFF, opened once, read as strips of the model's bands (never whole)."""

    def __init__(self, path: Path, model_bands: Sequence[str], stated_order: Sequence[str] | None = None) -> None:
        from euromine_hf.data.archive import ArchiveError, _check_size, _open_raster, check_image_dtype

        self.path = path
        self.src = _open_raster(path)
        try:
            src = self.src
            check_image_dtype(path, src.dtypes[0])  # the archive reader's rule: no 8-bit quick-looks
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

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole raster of the model's bands (uint16) and its validity (see :meth:`_valid_of`),
        for callers that hold a scene in memory (the pipelines)."""
        data = self.rows(0, self.height)
        return data, self._valid_of(data)

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


def check_one_grid(readers: Sequence[SceneReader]) -> None:
    """The dates of a scene must share one grid (size, CRS and transform): windows are cut at the same
    place in each, and the maps keep the first date's georeference."""
    from euromine_hf.data.archive import ArchiveError

    first = readers[0]
    for other in readers[1:]:
        if (other.height, other.width) != (first.height, first.width):
            raise ArchiveError(other.path, "size", f"{first.height}x{first.width} like {first.path.name} (all dates on one grid)",
                               f"{other.height}x{other.width}")
        if other.crs != first.crs or not other.transform.almost_equals(first.transform):
            raise ArchiveError(other.path, "georeference", f"CRS and transform of {first.path.name} (all dates on one grid)",
                               f"{other.crs} {tuple(other.transform)[:6]}")


def read_geotiffs(paths: Sequence[str | Path], model_bands: Sequence[str],
                  stated_order: Sequence[str] | None = None) -> dict[str, object]:
    """A scene's dates read whole, with every check ``euromine predict`` makes (header, band order,
    pixel values, one grid): ``images`` (uint16 ``(bands, H, W)`` of ``model_bands``, one per date),
    ``valid`` (bool ``(H, W)`` per date: False where the date has no data), ``crs``, ``transform``."""
    readers: list[SceneReader] = []
    try:
        for path in paths:
            readers.append(SceneReader(Path(path), model_bands, stated_order))
        check_one_grid(readers)
        images, valid = zip(*(reader.read() for reader in readers))
        return {"images": list(images), "valid": list(valid), "crs": readers[0].crs, "transform": readers[0].transform}
    finally:
        for reader in readers:
            reader.close()
