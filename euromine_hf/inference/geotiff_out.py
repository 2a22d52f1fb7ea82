"""Map GeoTIFFs out: written strip by strip, finished as Cloud-Optimised GeoTIFFs, all or nothing.

A map is uint8 (0 background, 1 mine or change, 255 no input data) with a colour table and the
class names GIS shows (GDAL's ``.aux.xml`` side-car); its probability is uint8 percent with 255
nodata. Strips go to tiled, uncompressed scratch files beside the destination (written once, in
row order); only when the last strip is in are they rewritten as COGs and renamed into place, so a
killed run leaves neither a partial map nor a side-car without its map.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAP_NODATA", "PROBABILITY_NODATA", "MAP_COLOURS", "MapOutputs", "finish_cog"]

#: Value of map pixels (and probability pixels) where the input holds no data. GeoTIFF palettes hold
#: no alpha, so background is light grey and no-data is transparent through the nodata value.
MAP_NODATA = 255
PROBABILITY_NODATA = 255
#: Colour table per map kind (a task's ``kind``).
MAP_COLOURS = {
    "mine": {0: (200, 200, 200, 255), 1: (220, 30, 30, 255), MAP_NODATA: (0, 0, 0, 255)},
    "change": {0: (200, 200, 200, 255), 1: (255, 140, 0, 255), MAP_NODATA: (0, 0, 0, 255)},
}


def _overview_factors(height: int, width: int, block: int = 256) -> list[int]:
    factors, factor = [], 2
    while max(height, width) / (factor // 2) > block:
        factors.append(factor)
        factor *= 2
    return factors


def finish_cog(partial: Path, dest: Path) -> None:
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


class MapOutputs:
    """The map at ``out`` (and its probability at ``probability_out``) of one scene grid.

    Every file is registered on ``stack``: the destinations are renamed into place only when the
    stack closes without an error, after :meth:`finish`; the scratch folder is removed either way.
    """

    def __init__(self, stack: contextlib.ExitStack, out: Path, probability_out: Path | None, *, kind: str,
                 height: int, width: int, crs: Any, transform: Any, tags: dict[str, str], threshold: float) -> None:
        import rasterio

        from euromine_hf.data.geotiff import class_table_path, class_table_xml, label_class_band, label_probability_band
        from euromine_hf.io import atomic_path, make_temp_dir

        self.width, self.threshold = width, threshold
        profile = {
            "driver": "GTiff", "height": height, "width": width, "count": 1, "dtype": "uint8",
            "crs": crs, "transform": transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
            "BIGTIFF": "IF_SAFER",
        }
        targets = [(Path(out), "map")] + ([(Path(probability_out), "probability")] if probability_out is not None else [])
        self.targets = [target for target, _ in targets]
        self._tmp_paths = [stack.enter_context(atomic_path(target)) for target, _ in targets]
        scratch = make_temp_dir(Path(out).parent, f".{Path(out).name}.partial-")  # tiled, uncompressed: rewritten as COG
        stack.callback(shutil.rmtree, scratch, True)
        self._partials: list[Path] = []
        self._writers = []
        for target, role in targets:
            self._partials.append(scratch / f"{role}.tif")
            dst = stack.enter_context(rasterio.open(self._partials[-1], "w", nodata=MAP_NODATA if role == "map" else PROBABILITY_NODATA, **profile))
            dst.update_tags(**tags)
            if role == "map":
                label_class_band(dst, kind, MAP_COLOURS[kind], MAP_NODATA)
                # class names GIS shows: GDAL's side-car, renamed into place with the map
                stack.enter_context(atomic_path(class_table_path(target))).write_text(class_table_xml(kind, MAP_COLOURS[kind]))
            else:
                label_probability_band(dst, kind, PROBABILITY_NODATA)
            self._writers.append(dst)

    def write(self, r0: int, r1: int, probability: np.ndarray, valid: np.ndarray) -> None:
        """Rows ``r0 .. r1``: the map thresholded from ``probability`` and nodata where not ``valid``."""
        from rasterio.windows import Window

        window = Window(0, r0, self.width, r1 - r0)
        mask = np.where(valid, (probability > self.threshold).astype(np.uint8), np.uint8(MAP_NODATA))
        self._writers[0].write(mask[None], window=window)
        if len(self._writers) > 1:
            percent = np.rint(np.clip(probability, 0.0, 1.0) * 100.0).astype(np.uint8)
            self._writers[1].write(np.where(valid, percent, np.uint8(PROBABILITY_NODATA))[None], window=window)

    def finish(self) -> None:
        """Every row written: rewrite the scratch files as COGs at the destinations' temp paths."""
        for dst in self._writers:
            dst.close()
        for partial, tmp in zip(self._partials, self._tmp_paths):
            finish_cog(partial, tmp)
