"""Reading the archive: raw GeoTIFF and cropped .npy layouts, validation errors, prediction folders."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin

from euromine_hf.data.archive import (
    ArchiveError,
    detect_layout,
    iter_site_patches,
    read_image,
    read_label,
    read_prediction,
    read_prediction_patches,
    read_site_label,
    read_site_year,
    scan_archive,
    scan_predictions,
)
from euromine_hf.data.geotiff import write_geotiff
from euromine_hf.data.patching import extract_patches, patch_offsets

YEARS = (2015, 2016, 2017)
CRS_UTM = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)
SIZES = {"Germany_1": (170, 330), "Portuga_2": (90, 120)}


def _site_data(name: str, year: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(f"{name}/{year}".encode()))
    image = rng.integers(0, 6000, size=(10, height, width)).astype(np.uint16)
    mask = (rng.random((height, width)) > 0.7).astype(np.uint8)
    return image, mask


def write_raw_archive(root: Path, sizes: dict[str, tuple[int, int]] = SIZES, years=YEARS, label_names=("Year", "Label", "year")) -> dict:
    truth = {}
    for s, (name, (h, w)) in enumerate(sizes.items()):
        for i, year in enumerate(years):
            image, mask = _site_data(name, year, h, w)
            truth[(name, year)] = (image, mask)
            write_geotiff(root / name / "image" / f"Year{year}.tif", image, CRS_UTM, TRANSFORM)
            prefix = label_names[(s + i) % len(label_names)]
            write_geotiff(root / name / "label" / f"{prefix}{year}.tif", mask * np.uint8(255), CRS_UTM, TRANSFORM)
    return truth


@pytest.fixture()
def raw_archive(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "archive"
    return root, write_raw_archive(root)


def test_raw_round_trip_keeps_crs_and_transform(raw_archive) -> None:
    root, truth = raw_archive
    assert detect_layout(root) == "raw"
    sites = scan_archive(root, years=YEARS)
    assert [s.name for s in sites] == ["Germany_1", "Portuga_2"]
    germany, portugal = sites
    assert portugal.country == "Portugal"
    assert (germany.height, germany.width) == (170, 330) and germany.years == YEARS
    assert CRS.from_wkt(germany.crs) == CRS.from_string(CRS_UTM)
    assert germany.transform == tuple(TRANSFORM)[:6]
    for site in sites:
        for year in YEARS:
            image, mask = read_site_year(site, year)
            assert image.dtype == np.uint16 and mask.dtype == np.uint8
            np.testing.assert_array_equal(image, truth[(site.name, year)][0])
            np.testing.assert_array_equal(mask, truth[(site.name, year)][1])
    _, georef = read_image(germany.image_path(2015))
    assert CRS.from_wkt(georef["crs"]) == CRS.from_string(CRS_UTM)
    assert georef["transform"] == tuple(TRANSFORM)[:6]


def test_label_file_name_variants_are_found(raw_archive) -> None:
    root, _ = raw_archive
    names = {p.name for s in scan_archive(root, years=YEARS) for p in s.label_paths.values()}
    assert {"Year2015.tif", "Label2016.tif", "year2017.tif"} <= names


def test_iter_site_patches_follows_published_patching(raw_archive) -> None:
    root, truth = raw_archive
    for site in scan_archive(root, years=YEARS):
        records = list(iter_site_patches(site, 2016))
        image, mask = truth[(site.name, 2016)]
        exp_images, offsets = extract_patches(image)
        assert [(r.row, r.col) for r in records] == offsets == patch_offsets(site.height, site.width)
        assert [r.patch for r in records] == list(range(len(offsets)))
        for rec, exp in zip(records, exp_images):
            assert rec.image.shape == (10, 160, 160) and rec.image.dtype == np.uint16
            assert rec.mask.shape == (160, 160) and rec.mask.dtype == np.uint8
            assert set(np.unique(rec.mask)) <= {0, 1}
            np.testing.assert_array_equal(rec.image, exp)
            assert (rec.site_height, rec.site_width, rec.country, rec.year) == (site.height, site.width, site.country, 2016)


def test_scan_subset_of_sites_and_unknown_site(raw_archive) -> None:
    root, _ = raw_archive
    assert [s.name for s in scan_archive(root, years=YEARS, sites=["Portuga_2"])] == ["Portuga_2"]
    with pytest.raises(ArchiveError, match="Spain_9"):
        scan_archive(root, years=YEARS, sites=["Spain_9"])


# ---- bad inputs: each error names the file ----------------------------------------------------


def _one_site(tmp_path: Path, h: int = 40, w: int = 50) -> Path:
    root = tmp_path / "bad"
    write_raw_archive(root, {"Spain_1": (h, w)}, years=(2015, 2016), label_names=("Year",))
    return root


def test_missing_year_names_site_folder_and_year(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    (root / "Spain_1" / "label" / "Year2016.tif").unlink()
    with pytest.raises(ArchiveError, match=r"Spain_1.*label.*2016") as info:
        scan_archive(root, years=(2015, 2016))
    assert "Spain_1" in str(info.value.path)
    with pytest.raises(ArchiveError, match=r"Spain_1.*image for year 2017"):
        scan_archive(root, years=(2015, 2017))


def test_wrong_band_count(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2015.tif"
    write_geotiff(path, np.ones((9, 40, 50), dtype=np.uint16), CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: band count: expected 10 bands"):
        scan_archive(root, years=(2015, 2016))
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: band count"):
        read_image(path)


def test_non_integer_image(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2016.tif"
    write_geotiff(path, np.full((10, 40, 50), 0.25, dtype=np.float32), CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: dtype: expected integer"):
        scan_archive(root, years=(2015, 2016))
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: dtype"):
        read_image(path)


def test_negative_and_too_large_values_are_not_clipped(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2015.tif"
    data = np.full((10, 40, 50), 100, dtype=np.int16)
    data[3, 5, 5] = -7
    write_geotiff(path, data, CRS_UTM, TRANSFORM)
    site = scan_archive(root, years=(2015, 2016))[0]  # header is fine
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: pixel values: expected non-negative.*-7"):
        read_site_year(site, 2015)
    big = np.full((10, 40, 50), 70000, dtype=np.int32)
    write_geotiff(path, big, CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: pixel values.*70000"):
        read_image(path)
    ok = np.full((10, 40, 50), 65535, dtype=np.int32)
    write_geotiff(path, ok, CRS_UTM, TRANSFORM)
    image, _ = read_image(path)
    assert image.dtype == np.uint16 and int(image.max()) == 65535


def test_label_values_outside_0_255(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "label" / "Year2016.tif"
    label = np.zeros((40, 50), dtype=np.uint8)
    label[0, 0] = 128
    label[1, 1] = 255
    write_geotiff(path, label, CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: label values: expected only \{0, 255\}.*128"):
        read_label(path)
    mixed = np.zeros((40, 50), dtype=np.uint8)
    mixed[0, 0], mixed[0, 1] = 1, 255  # {0,1,255} is neither convention
    write_geotiff(path, mixed, CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match="label values"):
        read_label(path)
    ones = np.eye(40, 50, dtype=np.uint8)
    write_geotiff(path, ones, CRS_UTM, TRANSFORM)
    np.testing.assert_array_equal(read_label(path), ones)


def test_image_label_size_mismatch(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "label" / "Year2015.tif"
    write_geotiff(path, np.zeros((41, 50), dtype=np.uint8), CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: size: expected 40x50.*41x50"):
        scan_archive(root, years=(2015, 2016))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_truncated_or_unreadable_file(tmp_path: Path, damage: str) -> None:
    root = _one_site(tmp_path, 200, 300)
    path = root / "Spain_1" / "image" / "Year2016.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a tiff at all" * 10)
    with pytest.raises(ArchiveError, match=r"Year2016\.tif") as info:
        site = scan_archive(root, years=(2015, 2016))[0]
        read_site_year(site, 2016)
    assert info.value.path == path


def test_archive_error_pickles_with_its_parts() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ArchiveError("/a/Year2015.tif", "band count", "10 bands", 9)))
    assert isinstance(err, ValueError) and err.field == "band count" and err.found == 9
    assert str(err) == "/a/Year2015.tif: band count: expected 10 bands, found 9"


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "empty" / "whatever").mkdir(parents=True)
    with pytest.raises(ArchiveError, match="layout"):
        detect_layout(tmp_path / "empty")
    with pytest.raises(ArchiveError, match="archive root"):
        detect_layout(tmp_path / "missing")


# ---- cropped layout ---------------------------------------------------------------------------


def write_cropped_archive(root: Path, truth: dict, sizes: dict[str, tuple[int, int]] = SIZES, png_labels: bool = False) -> None:
    from PIL import Image

    for name in sizes:
        for year in YEARS:
            image, mask = truth[(name, year)]
            images, offsets = extract_patches(image)
            masks, _ = extract_patches(mask)
            (root / name / str(year) / "image").mkdir(parents=True)
            (root / name / str(year) / "label").mkdir(parents=True)
            for n in range(len(offsets)):
                np.save(root / name / str(year) / "image" / f"Year{year}_Patch{n}.npy", images[n])
                if png_labels:
                    Image.fromarray(masks[n] * np.uint8(255)).save(root / name / str(year) / "label" / f"Patch{n}.png")
                else:
                    np.save(root / name / str(year) / "label" / f"Year{year}_Patch{n}.npy", masks[n] * np.uint8(255))


@pytest.mark.parametrize("png_labels", [False, True])
def test_cropped_layout_with_and_without_sidecar(tmp_path: Path, raw_archive, png_labels: bool) -> None:
    _, truth = raw_archive
    root = tmp_path / "cropped"
    write_cropped_archive(root, truth, png_labels=png_labels)
    assert detect_layout(root) == "cropped"
    # Without sites.json: patches usable, offsets unknown.
    sites = scan_archive(root, years=YEARS)
    germany = sites[0]
    assert germany.layout == "cropped" and (germany.height, germany.width) == (-1, -1)
    assert germany.num_patches == 6
    records = list(iter_site_patches(germany, 2017))
    assert [(r.row, r.col) for r in records] == [(-1, -1)] * 6
    exp_images, _ = extract_patches(truth[("Germany_1", 2017)][0])
    exp_masks, _ = extract_patches(truth[("Germany_1", 2017)][1])
    for rec, img, msk in zip(records, exp_images, exp_masks):
        np.testing.assert_array_equal(rec.image, img)
        np.testing.assert_array_equal(rec.mask, msk)
    with pytest.raises(ArchiveError, match="sites.json"):
        read_site_year(germany, 2017)
    # With sites.json: offsets and whole-site rasters come back.
    (root / "sites.json").write_text(json.dumps({k: list(v) for k, v in SIZES.items()}))
    for site in scan_archive(root, years=YEARS):
        assert (site.height, site.width) == SIZES[site.name]
        assert [(r.row, r.col) for r in iter_site_patches(site, 2015)] == patch_offsets(*SIZES[site.name])
        image, mask = read_site_year(site, 2016)
        np.testing.assert_array_equal(image, truth[(site.name, 2016)][0])
        np.testing.assert_array_equal(mask, truth[(site.name, 2016)][1])


def test_cropped_bad_files(tmp_path: Path, raw_archive) -> None:
    _, truth = raw_archive
    root = tmp_path / "cropped"
    write_cropped_archive(root, truth, sizes={"Germany_1": SIZES["Germany_1"]})
    site = scan_archive(root, years=YEARS)[0]
    img = root / "Germany_1" / "2015" / "image" / "Year2015_Patch2.npy"
    img.write_bytes(img.read_bytes()[:-1000])  # truncated
    with pytest.raises(ArchiveError, match=r"Year2015_Patch2\.npy: file"):
        list(iter_site_patches(site, 2015))
    np.save(img, np.zeros((9, 160, 160), dtype=np.uint16))
    with pytest.raises(ArchiveError, match=r"Year2015_Patch2\.npy: band count"):
        list(iter_site_patches(site, 2015))
    np.save(img, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArchiveError, match=r"Year2015_Patch2\.npy: file.*pickled"):
        list(iter_site_patches(site, 2015))
    lab = root / "Germany_1" / "2016" / "label" / "Year2016_Patch0.npy"
    np.save(lab, np.full((160, 160), 7, dtype=np.uint8))
    with pytest.raises(ArchiveError, match=r"Year2016_Patch0\.npy: label values"):
        list(iter_site_patches(site, 2016))
    (root / "Germany_1" / "2017" / "label" / "Year2017_Patch5.npy").unlink()
    with pytest.raises(ArchiveError, match=r"2017.*label.*unmatched patch numbers \[5\]"):
        scan_archive(root, years=YEARS)
    (root / "sites.json").write_text(json.dumps({"Germany_1": [500, 500]}))
    with pytest.raises(ArchiveError, match=r"sites\.json: size of Germany_1"):
        scan_archive(root, years=(2015, 2016))


# ---- prediction folders -----------------------------------------------------------------------


def test_prediction_rasters_and_patches(tmp_path: Path, raw_archive) -> None:
    root, truth = raw_archive
    germany, portugal = scan_archive(root, years=YEARS)
    pred = tmp_path / "pred"
    g_mask = truth[("Germany_1", 2015)][1]
    write_geotiff(pred / "Germany_1" / "Year2015.tif", g_mask * np.uint8(255), CRS_UTM, TRANSFORM)
    p_mask = truth[("Portuga_2", 2016)][1]
    patches, _ = extract_patches(1 - g_mask)
    (pred / "Germany_1" / "2016").mkdir(parents=True)
    for n, p in enumerate(patches):
        np.save(pred / "Germany_1" / "2016" / f"Patch{n}.npy", p)
    write_geotiff(pred / "Portuga_2" / "Year2016.tif", p_mask, CRS_UTM, TRANSFORM)
    assert scan_predictions(pred) == {"Germany_1": {2015, 2016}, "Portuga_2": {2016}}
    np.testing.assert_array_equal(read_prediction(pred, germany, 2015), g_mask)
    np.testing.assert_array_equal(read_prediction(pred, germany, 2016), 1 - g_mask)
    np.testing.assert_array_equal(read_prediction(pred, portugal, 2016), p_mask)
    np.testing.assert_array_equal(read_prediction_patches(pred, germany, 2016), patches)
    with pytest.raises(ArchiveError, match=r"Portuga_2.*prediction for year 2015"):
        read_prediction(pred, portugal, 2015)
    # wrong size and wrong values name the file
    write_geotiff(pred / "Portuga_2" / "Year2016.tif", np.zeros((90, 121), dtype=np.uint8), CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: size: expected 90x120"):
        read_prediction(pred, portugal, 2016)
    write_geotiff(pred / "Portuga_2" / "Year2016.tif", np.full((90, 120), 3, dtype=np.uint8), CRS_UTM, TRANSFORM)
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: label values"):
        read_prediction(pred, portugal, 2016)
    (pred / "Germany_1" / "2016" / "Patch5.npy").unlink()
    with pytest.raises(ArchiveError, match=r"2016: patch files: expected Patch0..Patch5"):
        read_prediction(pred, germany, 2016)


def test_read_site_label_matches_scan(raw_archive) -> None:
    root, truth = raw_archive
    site = scan_archive(root, years=YEARS)[1]
    np.testing.assert_array_equal(read_site_label(site, 2017), truth[(site.name, 2017)][1])


# ---- bounded reads: sizes come from headers, checked before any pixel is read ------------------


def _sparse_tiff(path: Path, height: int, width: int, count: int = 1, dtype: str = "uint8") -> Path:
    """A GeoTIFF that declares a huge raster but holds no pixel blocks (a few hundred bytes)."""
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=count, dtype=dtype, crs=CRS_UTM,
        transform=TRANSFORM, tiled=True, blockxsize=256, blockysize=256, sparse_ok=True, compress="deflate",
    ):
        pass
    return path


def test_huge_declared_prediction_raster_fails_before_reading(tmp_path: Path, raw_archive) -> None:
    """`euromine evaluate` read a 40000x40000 TIFF (14 GB, 45 s) before noticing its size."""
    import time

    root, _ = raw_archive
    portugal = scan_archive(root, years=YEARS)[1]
    pred = tmp_path / "pred"
    path = _sparse_tiff(pred / "Portuga_2" / "Year2015.tif", 40000, 40000)
    assert path.stat().st_size < 1_000_000
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: size: expected 90x120 like the site raster of Portuga_2 \(year 2015\), found 40000x40000 declared in the header"):
        read_prediction_patches(pred, portugal, 2015)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: size: expected at most .*EUROMINE_MAX_PIXELS.*40000x40000"):
        read_label(path)  # no expected size: the limit still applies
    assert time.perf_counter() - start < 5


def test_pixel_limit_is_one_setting_that_can_be_raised(raw_archive, monkeypatch) -> None:
    from euromine_hf.data.archive import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, max_pixels

    root, truth = raw_archive
    assert max_pixels() == DEFAULT_MAX_PIXELS >= 8192 * 8192
    monkeypatch.setenv(MAX_PIXELS_ENV, str(170 * 330 - 1))  # Germany_1 is 170x330
    with pytest.raises(ArchiveError, match=r"Germany_1/image/Year2015\.tif: size: expected at most 56,099 pixels"):
        scan_archive(root, years=YEARS)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: size"):
        read_image(root / "Germany_1" / "image" / "Year2015.tif")
    monkeypatch.setenv(MAX_PIXELS_ENV, str(170 * 330))
    assert scan_archive(root, years=YEARS)[0].height == 170
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=MAX_PIXELS_ENV):
        max_pixels()


def test_npy_and_png_patch_sizes_come_from_their_headers(tmp_path: Path) -> None:
    from euromine_hf.data.archive import read_image_patch, read_label_patch

    npy = tmp_path / "Patch0.npy"
    with open(npy, "wb") as fh:  # a header declaring 10x40000x40000 uint16 (32 GB) and no data
        np.lib.format.write_array_header_1_0(fh, {"descr": "<u2", "fortran_order": False, "shape": (10, 40000, 40000)})
    with pytest.raises(ArchiveError, match=r"Patch0\.npy: shape: expected \(10, 160, 160\), found \(10, 40000, 40000\) declared in the header"):
        read_image_patch(npy)
    png = tmp_path / "Patch1.png"  # signature + IHDR declaring 40000x40000 greyscale, nothing else
    ihdr = (40000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr + zlib.crc32(b"IHDR" + ihdr).to_bytes(4, "big"))
    with pytest.raises(ArchiveError, match=r"Patch1\.png: shape: expected \(160, 160\), found \(40000, 40000\) declared in the PNG header"):
        read_label_patch(png)
    (tmp_path / "Patch2.png").write_bytes(b"not a png at all, but long enough to hold a header")
    with pytest.raises(ArchiveError, match=r"Patch2\.png: header"):
        read_label_patch(tmp_path / "Patch2.png")


# ---- silent acceptance: an error where results would be wrong, a warning where merely unusual ----


def test_years_of_a_site_on_different_grids_are_refused(raw_archive) -> None:
    root, truth = raw_archive
    image, mask = truth[("Portuga_2", 2016)]
    shifted = from_origin(500010.0, 5600000.0, 10.0, 10.0)  # one pixel east
    write_geotiff(root / "Portuga_2" / "image" / "Year2016.tif", image, CRS_UTM, shifted)
    with pytest.raises(ArchiveError, match=r"Portuga_2/image/Year2016\.tif: georeference: expected .*like Year2015\.tif"):
        scan_archive(root, years=YEARS)
    write_geotiff(root / "Portuga_2" / "image" / "Year2016.tif", image, "EPSG:32632", TRANSFORM)  # another UTM zone
    with pytest.raises(ArchiveError, match=r"Year2016\.tif: georeference.*32633.*found CRS EPSG:32632"):
        scan_archive(root, years=YEARS)
    write_geotiff(root / "Portuga_2" / "image" / "Year2016.tif", image, CRS_UTM, TRANSFORM)
    label = next((root / "Portuga_2" / "label").glob("*2016.tif"))
    write_geotiff(label, mask * np.uint8(255), CRS_UTM, shifted)
    with pytest.raises(ArchiveError, match=rf"{label.name}: georeference: expected .* like Year2016\.tif"):
        scan_archive(root, years=YEARS)
    write_geotiff(label, mask * np.uint8(255), CRS_UTM, TRANSFORM)
    assert len(scan_archive(root, years=YEARS)) == 2


def test_unknown_year_warns_naming_the_file(raw_archive) -> None:
    """A Year2030.tif is not read (results are unaffected), so it is a warning, not an error."""
    from euromine_hf.data.archive import ArchiveWarning

    root, truth = raw_archive
    image, _ = truth[("Germany_1", 2015)]
    write_geotiff(root / "Germany_1" / "image" / "Year2030.tif", image, CRS_UTM, TRANSFORM)
    with pytest.warns(ArchiveWarning, match=r"Germany_1/image/Year2030\.tif: year 2030 is outside the benchmark years 2015-2024; not read"):
        sites = scan_archive(root, years=YEARS)
    assert sites[0].years == YEARS


def test_symlinks_out_of_the_archive_are_refused(tmp_path: Path, raw_archive) -> None:
    root, _ = raw_archive
    outside = tmp_path / "elsewhere"
    (root / "Portuga_2").rename(outside)
    (root / "Portuga_2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArchiveError, match=r"Portuga_2: symlink: expected a target inside the archive folder"):
        scan_archive(root, years=YEARS)
    # inside the archive a symlinked site folder is fine
    (root / "Portuga_2").unlink()
    outside.rename(root / ".store")
    (root / "Portuga_2").symlink_to(Path(".store"), target_is_directory=True)
    assert [s.name for s in scan_archive(root, years=YEARS)] == ["Germany_1", "Portuga_2"]
    image = root / "Germany_1" / "image" / "Year2016.tif"
    image.rename(tmp_path / "Year2016.tif")
    image.symlink_to(tmp_path / "Year2016.tif")
    with pytest.raises(ArchiveError, match=r"Germany_1/image/Year2016\.tif: symlink"):
        scan_archive(root, years=YEARS)


def test_prediction_folder_symlinks_and_extra_files(tmp_path: Path, raw_archive) -> None:
    import warnings

    from euromine_hf.data.archive import ArchiveWarning

    root, truth = raw_archive
    germany = scan_archive(root, years=YEARS)[0]
    pred = tmp_path / "pred"
    write_geotiff(pred / "Germany_1" / "Year2015.tif", truth[("Germany_1", 2015)][1], CRS_UTM, TRANSFORM)
    write_geotiff(pred / "Germany_1" / "Probability2015.tif", np.zeros((170, 330), np.float32), CRS_UTM, TRANSFORM)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ArchiveWarning)  # predict's own outputs are not "extra"
        assert scan_predictions(pred) == {"Germany_1": {2015}}
    (pred / "Germany_1" / "notes.txt").write_text("x")
    (pred / "Germany_1" / "Year2016.jpg").write_bytes(b"x")
    with pytest.warns(ArchiveWarning, match=r"2 file\(s\) that are not predictions, not read: .*Germany_1/Year2016\.jpg, .*Germany_1/notes\.txt"):
        scan_predictions(pred)
    outside = tmp_path / "Year2016.tif"
    write_geotiff(outside, truth[("Germany_1", 2016)][1], CRS_UTM, TRANSFORM)
    (pred / "Germany_1" / "Year2016.tif").symlink_to(outside)
    with pytest.raises(ArchiveError, match=r"Germany_1/Year2016\.tif: symlink: expected a target inside the prediction folder"):
        read_prediction(pred, germany, 2016)
    with pytest.raises(ArchiveError, match=r"symlink"):
        scan_predictions(pred)


@pytest.mark.parametrize("bad_name", ["Bad\nSite_1", "Tab\tSite_2", "Esc\x1b[31mSite_3"])
def test_site_names_with_control_characters_are_refused_by_the_scan(tmp_path: Path, bad_name: str) -> None:
    """A newline in a site name broke the dataset card's table; the scan refuses it, naming the folder."""
    import os
    import subprocess
    import sys

    from euromine_hf.data.archive import ArchiveError, scan_archive

    root = tmp_path / "archive"
    write_raw_archive(root, {"Germany_1": (40, 50), bad_name: (40, 50)}, years=(2015,))
    with pytest.raises(ArchiveError, match="site folder .*: expected a site name of printable characters") as error:
        scan_archive(root, years=(2015,))
    assert repr(bad_name) in str(error.value) and str(root) in str(error.value)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "euromine_hf.cli", "stats", str(root), "--years", "2015", "--no-plots",
                           "--out", str(tmp_path / "stats")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("euromine stats: ") and f"{root}: site folder " in lines[0], lines
    assert "\x1b" not in lines[0]
    assert not (tmp_path / "stats").exists()


# ---- band descriptions, 8-bit images, empty site folders, years a site lacks (s17 data items 1, 3, 4)


def _describe(path: Path, names) -> None:
    import rasterio

    with rasterio.open(path, "r+") as dst:
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)


def test_band_descriptions_in_another_order_are_read_in_the_published_order(tmp_path: Path) -> None:
    """Read as predict reads them: the file's descriptions say which band is which."""
    from euromine_hf.bands import BANDS
    from euromine_hf.data.archive import ArchiveWarning

    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2016.tif"
    published, _ = read_image(path)
    write_geotiff(path, published[::-1].copy(), CRS_UTM, TRANSFORM)
    _describe(path, ["B12", "B11", "B8A", "B8", "B07", "B6", "B05", "B04", "B03", "B2"])
    with pytest.warns(ArchiveWarning, match=r"1 image\(s\) whose band descriptions give another band order .*"
                                            r"Year2016\.tif \(B12,B11,B8A,B08,B07,B06,B05,B04,B03,B02\)"):
        site = scan_archive(root, years=(2015, 2016))[0]
    assert site.band_orders == {2016: tuple(reversed(BANDS))}
    image, _ = read_image(path)
    np.testing.assert_array_equal(image, published)
    np.testing.assert_array_equal(read_site_year(site, 2016)[0], published)
    # GDAL's generic descriptions say nothing: the published order, as without descriptions
    write_geotiff(path, published, CRS_UTM, TRANSFORM)
    _describe(path, [f"Band {i}" for i in range(1, 11)])
    assert scan_archive(root, years=(2015, 2016))[0].band_orders == {}
    np.testing.assert_array_equal(read_image(path)[0], published)


@pytest.mark.parametrize("names, message", [
    (["B02"] * 10, r"band 2 description: expected a Sentinel-2 band name .* found B02 again \(band 1\)"),
    (list("ABCDEFGHIJ"), r"band 1 description: expected a Sentinel-2 band name .* found 'A'"),
    (["B01", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
     r"band descriptions: expected the published bands B02, .* found bands B01, .* \(no B02\)"),
])
def test_band_descriptions_that_do_not_name_the_published_bands_are_refused(tmp_path: Path, names, message) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2015.tif"
    _describe(path, names)
    with pytest.raises(ArchiveError, match=rf"Year2015\.tif: {message}"):
        scan_archive(root, years=(2015, 2016))
    with pytest.raises(ArchiveError, match=rf"Year2015\.tif: {message}"):
        read_image(path)


def test_an_8_bit_image_is_refused_naming_the_dtype_expected(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    path = root / "Spain_1" / "image" / "Year2016.tif"
    write_geotiff(path, np.full((10, 40, 50), 120, dtype=np.uint8), CRS_UTM, TRANSFORM)
    expected = r"Year2016\.tif: dtype: expected integer Sentinel-2 digital numbers of at least 16 bits \(uint16.*found uint8"
    with pytest.raises(ArchiveError, match=expected):
        scan_archive(root, years=(2015, 2016))
    with pytest.raises(ArchiveError, match=expected):
        read_image(path)


def test_an_8_bit_cropped_patch_is_refused(tmp_path: Path) -> None:
    from euromine_hf.data.archive import read_image_patch

    path = tmp_path / "Year2015_Patch0.npy"
    np.save(path, np.full((10, 160, 160), 7, np.uint8))
    with pytest.raises(ArchiveError, match=r"Year2015_Patch0\.npy: dtype: expected .* at least 16 bits.*found uint8"):
        read_image_patch(path)


def test_an_empty_site_folder_is_refused_like_a_site_missing_its_files(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    (root / "Spain_2").mkdir()
    (root / "Spain_2" / ".DS_Store").write_bytes(b"")
    with pytest.raises(ArchiveError, match=r"Spain_2: site files: expected image/ and label/ \(raw layout\).*found an empty folder"):
        scan_archive(root, years=(2015, 2016))
    assert [s.name for s in scan_archive(root, years=(2015, 2016), sites=["Spain_1"])] == ["Spain_1"]
    with pytest.raises(ArchiveError, match=r"Spain_2: site files"):
        scan_archive(root, years=(2015, 2016), sites=["Spain_2"])
    import shutil

    shutil.rmtree(root / "Spain_2")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a site")
    assert [s.name for s in scan_archive(root, years=(2015, 2016))] == ["Spain_1"]  # a folder with other content: skipped


def test_allow_missing_years_leaves_out_a_year_whose_files_are_both_absent(tmp_path: Path) -> None:
    root = _one_site(tmp_path)
    (root / "Spain_1" / "image" / "Year2016.tif").unlink()
    with pytest.raises(ArchiveError, match=r"image for year 2016"):
        scan_archive(root, years=(2015, 2016))
    with pytest.raises(ArchiveError, match=r"image for year 2016"):  # half a year is still an error
        scan_archive(root, years=(2015, 2016), allow_missing_years=True)
    (root / "Spain_1" / "label" / "Year2016.tif").unlink()
    site = scan_archive(root, years=(2015, 2016), allow_missing_years=True)[0]
    assert site.years == (2015,)
    with pytest.raises(ArchiveError, match=r"Spain_1: years: expected at least one of the years \[2016, 2017\]"):
        scan_archive(root, years=(2016, 2017), allow_missing_years=True)
