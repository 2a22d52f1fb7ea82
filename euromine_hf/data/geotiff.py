"""GeoTIFF writing shared by the synthetic generator, predictions and inference.

Writes go through :func:`euromine_hf.io.atomic_path` (temporary file in the same folder, renamed
into place with umask permissions), so an interrupted run never leaves a half-written raster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import Affine

from euromine_hf.io import atomic_path


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    crs: Any,
    transform: Affine,
    nodata: float | None = None,
    compress: str = "deflate",
) -> Path:
    """Write a (bands, H, W) or (H, W) array as a tiled GeoTIFF, atomically."""
    path = Path(path)
    data = array[None] if array.ndim == 2 else array
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a (bands, height, width) or (height, width) array, got shape {array.shape}")
    with atomic_path(path) as tmp_name:
        profile = {
            "driver": "GTiff",
            "height": data.shape[1],
            "width": data.shape[2],
            "count": data.shape[0],
            "dtype": data.dtype.name,
            "crs": crs,
            "transform": transform,
            "compress": compress,
        }
        if nodata is not None:
            profile["nodata"] = nodata
        if data.shape[1] >= 256 and data.shape[2] >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        with rasterio.open(tmp_name, "w", **profile) as dst:
            dst.write(data)
    return path
