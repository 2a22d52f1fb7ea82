"""One prediction file judged from its size and header alone, before any pixel is read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from euromine_hf.bands import PATCH_SIZE

#: Bounds checked before a header is parsed.
MAX_PATCH_NPY_BYTES = PATCH_SIZE * PATCH_SIZE * 8 + 4096  # int64 is the widest integer dtype
MAX_PATCH_PNG_BYTES = 1024 * 1024
TIF_SLACK_BYTES = 1024 * 1024


def header_problem(path: Path, kind: str, size: int, site: Any) -> str | None:
    """Check one prediction file from its size and header only (no pixel is read)."""
    from euromine_hf.data.archive import ArchiveError, _check_size, _georef, _npy_header, _open_raster, _png_size, check_prediction_grid

    try:
        if kind == "npy":
            if size > MAX_PATCH_NPY_BYTES:
                return f"{path}: size: expected at most {MAX_PATCH_NPY_BYTES} bytes for a 160x160 patch, found {size}"
            shape, dtype = _npy_header(path)
            if dtype.hasobject or not (dtype.kind in "biu"):
                return f"{path}: dtype: expected integer or bool mask values (no objects, no floats), found {dtype}"
            if shape != (PATCH_SIZE, PATCH_SIZE):
                return f"{path}: shape: expected ({PATCH_SIZE}, {PATCH_SIZE}), found {shape} declared in the header"
        elif kind == "png":
            if size > MAX_PATCH_PNG_BYTES:
                return f"{path}: size: expected at most {MAX_PATCH_PNG_BYTES} bytes for a 160x160 PNG, found {size}"
            shape = _png_size(path)
            if shape != (PATCH_SIZE, PATCH_SIZE):
                return f"{path}: shape: expected ({PATCH_SIZE}, {PATCH_SIZE}), found {shape} declared in the PNG header"
        else:
            if not site.size_known:
                return f"{path}: layout: site {site.name} has no known size in this archive; submit {PATCH_SIZE}x{PATCH_SIZE} patches instead"
            limit = site.height * site.width * 8 + TIF_SLACK_BYTES
            if size > limit:
                return f"{path}: size: expected at most {limit} bytes for a {site.height}x{site.width} mask, found {size}"
            with _open_raster(path) as src:
                count, height, width, dtype = src.count, src.height, src.width, src.dtypes[0]
                crs, transform = _georef(src)
            _check_size(path, height, width)
            if count != 1:
                return f"{path}: band count: expected 1 band (a mask), found {count}"
            if (height, width) != (site.height, site.width):
                return f"{path}: size: expected {site.height}x{site.width} like site {site.name}, found {height}x{width}"
            years = re.findall(r"\d{4}", path.name)
            key = f"year {years[0]}" if len(years) == 1 else f"years {'-'.join(years)}"
            check_prediction_grid(path, site, key, {"crs": crs, "transform": transform, "height": height, "width": width})
            import numpy as np

            if np.dtype(dtype).kind not in "biu":
                return f"{path}: dtype: expected integer mask values, found {dtype}"
    except ArchiveError as exc:
        return str(exc)
    return None
