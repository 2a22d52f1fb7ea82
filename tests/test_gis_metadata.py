"""Maps as GIS shows them (issue 20, item 8): class names and probability scale in GDAL's standard
metadata, checked through GDAL's own C API (the library rasterio ships), and valid COGs by
rio-cogeo's validator."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from euromine_hf.data.archive import scan_predictions
from euromine_hf.data.geotiff import CLASS_NAMES, class_table_path
from euromine_hf.inference import predict

from test_predict_maps import _detector, _image, _maps, _segmenter, _write


def _libgdal() -> ctypes.CDLL:
    """The GDAL rasterio links (the wheel bundles it), else a system one; the test needs GDAL itself."""
    found = glob.glob(os.path.join(os.path.dirname(rasterio.__file__) + ".libs", "libgdal*.so*"))
    name = found[0] if found else ctypes.util.find_library("gdal")
    if name is None:
        pytest.skip("no GDAL shared library found to ask what GDAL shows (rasterio's wheel bundles one)")
    lib = ctypes.CDLL(name)
    lib.GDALAllRegister()
    vp, cp, ip = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for fn, res, args in [
        ("GDALOpen", vp, [cp, ip]), ("GDALClose", None, [vp]), ("GDALGetRasterBand", vp, [vp, ip]),
        ("GDALGetRasterCategoryNames", ctypes.POINTER(cp), [vp]), ("GDALGetDefaultRAT", vp, [vp]),
        ("GDALRATGetRowCount", ip, [vp]), ("GDALRATGetColumnCount", ip, [vp]), ("GDALRATGetNameOfCol", cp, [vp, ip]),
        ("GDALRATGetValueAsString", cp, [vp, ip, ip]), ("GDALGetRasterScale", ctypes.c_double, [vp, ctypes.POINTER(ip)]),
        ("GDALGetRasterOffset", ctypes.c_double, [vp, ctypes.POINTER(ip)]), ("GDALGetRasterUnitType", cp, [vp]),
        ("GDALGetMetadata", vp, [vp, cp]),
    ]:
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    return lib


def gdal_band(path: Path) -> dict:
    """What GDAL reports for band 1 (as ``gdalinfo`` prints it): categories, RAT, scale/offset/unit."""
    lib = _libgdal()
    ds = lib.GDALOpen(str(path).encode(), 0)
    assert ds, path
    try:
        lib.GDALGetMetadata(ds, None)  # first, as gdalinfo does: GTiff reads its side-car lazily, on such a call
        band = lib.GDALGetRasterBand(ds, 1)
        names, categories = lib.GDALGetRasterCategoryNames(band), []
        while names and names[len(categories)] is not None:
            categories.append(names[len(categories)].decode())
        rat, table = lib.GDALGetDefaultRAT(band), None
        if rat:
            columns = [lib.GDALRATGetNameOfCol(rat, c).decode() for c in range(lib.GDALRATGetColumnCount(rat))]
            table = [dict(zip(columns, (lib.GDALRATGetValueAsString(rat, r, c).decode() for c in range(len(columns)))))
                     for r in range(lib.GDALRATGetRowCount(rat))]
        ok = ctypes.c_int(0)
        scale = lib.GDALGetRasterScale(band, ctypes.byref(ok))
        scale = scale if ok.value else None
        offset = lib.GDALGetRasterOffset(band, ctypes.byref(ok))
        offset = offset if ok.value else None
        return {"categories": categories, "rat": table, "scale": scale, "offset": offset,
                "unit": (lib.GDALGetRasterUnitType(band) or b"").decode()}
    finally:
        lib.GDALClose(ds)


def _assert_valid_cog(path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    valid, errors, warns = cog_validate(str(path), quiet=True)
    assert valid and errors == [] and warns == [], (path.name, errors, warns)


def test_mine_map_shows_class_names_probability_scale_and_both_are_valid_cogs(tmp_path):
    src = _write(tmp_path / "scene" / "Year2031.tif", _image((600, 520)))
    written = predict(_segmenter(), src, tmp_path / "out", save_probability=True, progress=False)
    mine_map, probability = written
    shown = gdal_band(mine_map)
    assert shown["categories"] == ["not mine", "mine"]
    assert [(row["Value"], row["Class"]) for row in shown["rat"]] == [("0", "not mine"), ("1", "mine")]
    assert [(row["Red"], row["Green"], row["Blue"]) for row in shown["rat"]] == [("200", "200", "200"), ("220", "30", "30")]
    with rasterio.open(mine_map) as out:  # the names stay in the GeoTIFF too, should the side-car be lost
        assert out.tags(1)["class_0"] == "not mine" and out.tags(1)["class_1"] == "mine"
    assert gdal_band(probability) == {"categories": [], "rat": None, "scale": 0.01, "offset": 0.0, "unit": "1"}
    with rasterio.open(probability) as out:
        assert (out.scales, out.offsets, out.units) == ((0.01,), (0.0,), ("1",))
    for path in written:
        _assert_valid_cog(path)
    # the side-car sits beside the map only, and nothing else was left behind
    assert _maps(tmp_path / "out") == ["Probability2031.tif", "Year2031.tif",
                                                                     "Year2031.tif.aux.xml"]
    assert class_table_path(mine_map) == tmp_path / "out" / "Year2031.tif.aux.xml"


def test_change_map_shows_change_and_no_change(tmp_path):
    t1 = _write(tmp_path / "site" / "Year2019.tif", _image((200, 180), 1))
    t2 = _write(tmp_path / "site" / "Year2023.tif", _image((200, 180), 2))
    (change,) = predict(_detector(), t1, tmp_path / "out", t2=t2, progress=False)
    shown = gdal_band(change)
    assert shown["categories"] == list(CLASS_NAMES["change"]) == ["no change", "change"]
    assert [row["Class"] for row in shown["rat"]] == ["no change", "change"]
    _assert_valid_cog(change)


def test_prediction_folders_accept_gis_side_cars(tmp_path):
    """A map opened in QGIS or gdalinfo may gain a ``.aux.xml``; ``euromine evaluate`` reads the folder
    without reporting it (a stray file is still reported)."""
    site = tmp_path / "pred" / "Site_1"
    profile = dict(driver="GTiff", height=8, width=8, count=1, dtype="uint8", crs="EPSG:32633",
                   transform=from_origin(500000, 5000000, 10, 10))
    site.mkdir(parents=True)
    with rasterio.open(site / "Year2016.tif", "w", **profile) as dst:
        dst.write(np.zeros((1, 8, 8), np.uint8))
    (site / "Year2016.tif.aux.xml").write_text("<PAMDataset/>\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scan_predictions(tmp_path / "pred") == {"Site_1": {2016}}
    (site / "notes.aux").write_text("x")
    with pytest.warns(UserWarning, match="notes.aux"):
        scan_predictions(tmp_path / "pred")
