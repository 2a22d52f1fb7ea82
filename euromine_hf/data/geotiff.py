"""GeoTIFF writing shared by the synthetic generator, predictions and inference.

Writes go to a temporary file in the same folder and are renamed into place, so an interrupted
run never leaves a half-written raster behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import Affine


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
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
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
