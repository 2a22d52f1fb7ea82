"""GeoTIFF writing shared by the synthetic generator, predictions and inference.

Writes go through :func:`euromine_hf.io.atomic_path` (temporary file in the same folder, renamed
into place with umask permissions), so an interrupted run never leaves a half-written raster.

Map metadata is written where GIS software looks for it, not only in custom tags: a class map's
band gets a colour table plus *category names* and a thematic *raster attribute table* (RAT) so
QGIS and ``gdalinfo`` show "mine" / "not mine" instead of 1 / 0; a probability band gets GDAL's
standard scale, offset and unit type. GeoTIFF has no tag for category names or a RAT, so GDAL keeps
them in its PAM side-car ``<raster>.aux.xml``, which GDAL (and so QGIS) reads with the raster:
:func:`class_table_xml` writes that file in GDAL's own PAM format.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

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


#: What a class map's pixel values mean, per map kind: (value 0, value 1). 255 is nodata.
CLASS_NAMES: dict[str, tuple[str, str]] = {"mine": ("not mine", "mine"), "change": ("no change", "change")}

#: A probability raster stores whole percent in uint8: probability = value × scale + offset.
PROBABILITY_SCALE, PROBABILITY_OFFSET, PROBABILITY_UNIT = 0.01, 0.0, "1"

# GDAL's RAT field types and usages (gdal.h: GDALRATFieldType, GDALRATFieldUsage)
_GFT_INTEGER, _GFT_STRING = 0, 2
_GFU_NAME, _GFU_MINMAX, _GFU_RED, _GFU_GREEN, _GFU_BLUE, _GFU_ALPHA = 2, 5, 6, 7, 8, 9


def _class_names(kind: str) -> tuple[str, str]:
    if kind not in CLASS_NAMES:
        raise ValueError(f"map kind {kind!r}: expected one of {sorted(CLASS_NAMES)}")
    return CLASS_NAMES[kind]


def label_class_band(dst: Any, kind: str, colours: Mapping[int, tuple[int, int, int, int]], nodata: int) -> None:
    """Band 1 of an open, writable class map: description, colour table and the class names as tags.

    The tags keep the names inside the GeoTIFF itself (the side-car can be lost in a copy);
    :func:`class_table_xml` gives GIS the same names in the form it displays.
    """
    names = _class_names(kind)
    dst.set_band_description(1, kind)
    dst.update_tags(1, class_0=names[0], class_1=names[1], nodata=f"{nodata} (no input data)")
    dst.write_colormap(1, dict(colours))


def label_probability_band(dst: Any, kind: str, nodata: int) -> None:
    """Band 1 of an open, writable probability raster: description, and GDAL's scale / offset / unit
    type (stored in the GeoTIFF's GDAL metadata), so ``gdal_translate -unscale`` and GIS read the
    stored percent as a probability in 0..1."""
    _class_names(kind)
    dst.set_band_description(1, f"{kind} probability (%)")
    dst.scales = (PROBABILITY_SCALE,)
    dst.offsets = (PROBABILITY_OFFSET,)
    dst.units = (PROBABILITY_UNIT,)
    dst.update_tags(1, units="percent", scale="0..100", nodata=f"{nodata} (no input data)")


def class_table_path(raster: str | Path) -> Path:
    """Where GDAL looks for a raster's PAM side-car: ``<raster>.aux.xml``."""
    raster = Path(raster)
    return raster.with_name(raster.name + ".aux.xml")


def class_table_xml(kind: str, colours: Mapping[int, tuple[int, int, int, int]]) -> str:
    """GDAL PAM XML for band 1 of a class map: category names (value i → name i) and a thematic RAT
    (Value, Class, Red, Green, Blue, Alpha), as GDAL itself serialises them."""
    names = _class_names(kind)
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    categories = ET.SubElement(band, "CategoryNames")
    for name in names:
        ET.SubElement(categories, "Category").text = name
    table = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    fields = [("Value", _GFT_INTEGER, _GFU_MINMAX), ("Class", _GFT_STRING, _GFU_NAME), ("Red", _GFT_INTEGER, _GFU_RED),
              ("Green", _GFT_INTEGER, _GFU_GREEN), ("Blue", _GFT_INTEGER, _GFU_BLUE), ("Alpha", _GFT_INTEGER, _GFU_ALPHA)]
    for index, (name, kind_of_field, usage) in enumerate(fields):
        field = ET.SubElement(table, "FieldDefn", index=str(index))
        ET.SubElement(field, "Name").text = name
        ET.SubElement(field, "Type").text = str(kind_of_field)
        ET.SubElement(field, "Usage").text = str(usage)
    for value, name in enumerate(names):
        row = ET.SubElement(table, "Row", index=str(value))
        for cell in (value, name, *colours[value]):
            ET.SubElement(row, "F").text = str(cell)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
