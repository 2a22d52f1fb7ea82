"""Reading the EuroMineNet archive (and prediction folders) with validation that names the file.

Two layouts are understood (``resources/euromine_bands.json``):

* ``raw``: ``{Site}/image/Year{YYYY}.tif`` (10-band GeoTIFF, Sentinel-2 L2A DN) and
  ``{Site}/label/Year{YYYY}.tif`` (1 band, 0/255; the archive also names labels
  ``Label{YYYY}.tif`` or ``year{YYYY}.tif``). CRS and transform are kept.
* ``cropped``: ``{Site}/{YYYY}/image/Year{YYYY}_Patch{n}.npy`` (10,160,160) and
  ``{Site}/{YYYY}/label/Year{YYYY}_Patch{n}.npy`` or ``Patch{n}.png`` (0/255).

A cropped archive does not record how large each site was, so patch offsets cannot be recovered
from it alone. An optional sidecar ``sites.json`` at the archive root, ``{"Site": [height, width]}``,
restores them (the patch count must then equal ``ceil(H/160)·ceil(W/160)``). Without it a site
has ``height = width = -1`` and every patch ``row = col = -1``: patches stay usable for training,
and :func:`euromine_hf.data.patching.ownership_mask` then treats each patch as wholly owned, so
site-level counts become counts over patches (padding and overlaps included), as the publishers'
own patch-level evaluation does. The patch index ``patch`` is the rank of ``n`` among the site's
patch numbers, which is the row-major order of the publishers' cropping.

Nothing is cast or clipped silently: an image must be integer-typed with at least 16 bits (uint16
digital numbers as the archive stores them; an 8-bit quick-look is refused, as ``euromine predict``
refuses it), non-negative and fit uint16; a label must hold only {0, 255} or only {0, 1} (returned
as {0, 1}). Any violation, a missing year, an empty site folder, a size mismatch or a
truncated/unreadable file raises :class:`ArchiveError` naming the file, the field and what was
expected. ``scan_archive(..., allow_missing_years=True)`` (the series model's training) lets a site
lack a year whose image *and* label are both absent; the site's ``years`` then list the years it has.

Band order: a GeoTIFF image's band descriptions are read exactly as ``euromine predict`` reads them
(:func:`euromine_hf.inference.band_order.file_band_order`): no descriptions (or GDAL's generic
``Band 1`` ...) mean the published order; descriptions naming the ten published bands in another
order make the reader return the bands in the published order (one :class:`ArchiveWarning` per
scan names the files); anything else (a band not named, named twice, not a published band) is an
:class:`ArchiveError` naming the file and the band.

Reads are bounded: band count, size and dtype come from the file's header (GeoTIFF tags, the
``.npy`` header, the PNG ``IHDR`` chunk) and are checked before any pixel is read, so a small file
declaring a huge raster fails at once. One limit, :data:`DEFAULT_MAX_PIXELS` pixels per band
(raise it with the environment variable ``EUROMINE_MAX_PIXELS``), applies to every raster.

Where a result would be wrong the reader refuses (years of one site with a different CRS or
transform, a symlink leading out of the archive or prediction folder); where input is merely
unusual it warns with :class:`ArchiveWarning` naming the file (a year outside 2015–2024, which is
not read; files in a prediction folder that nothing reads).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.bands import BANDS, NUM_BANDS, PATCH_SIZE, YEARS, country_of
from euromine_hf.data.patching import extract_patches, num_patches, patch_offsets, reconstruct

__all__ = [
    "ArchiveError",
    "ArchiveWarning",
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "max_pixels",
    "check_inside",
    "SiteRecord",
    "PatchRecord",
    "LAYOUT_RAW",
    "LAYOUT_CROPPED",
    "SITES_SIDECAR",
    "detect_layout",
    "scan_archive",
    "read_image",
    "check_image_dtype",
    "read_label",
    "read_image_patch",
    "read_label_patch",
    "read_site_year",
    "read_site_label",
    "read_label_patches",
    "iter_site_patches",
    "scan_predictions",
    "read_prediction",
    "read_prediction_patches",
    "read_prediction_raster",
    "check_prediction_grid",
]

logger = logging.getLogger(__name__)

LAYOUT_RAW = "raw"
LAYOUT_CROPPED = "cropped"
#: Optional file at a cropped archive's root: ``{"Site": [height, width], ...}``.
SITES_SIDECAR = "sites.json"

_IMAGE_TIF = re.compile(r"^year(\d{4})\.tiff?$", re.IGNORECASE)
_LABEL_TIF = re.compile(r"^(?:year|label)(\d{4})\.tiff?$", re.IGNORECASE)
_PATCH_FILE = re.compile(r"^(?:year(\d{4})_)?patch(\d+)\.(npy|png)$", re.IGNORECASE)
_YEAR_DIR = re.compile(r"^\d{4}$")
#: Files a prediction folder may hold besides Year{YYYY}.tif: predict's probabilities, change maps.
_PRED_EXTRA_TIF = re.compile(r"^(?:probability\d{4}|change\d{4}_\d{4}|changeprobability\d{4}_\d{4})\.tiff?$", re.IGNORECASE)
_PAIR_DIR = re.compile(r"^\d{4}_\d{4}$")
#: Control characters (newline, tab, escapes): never part of a site name, which ends up in tables and cards.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: GDAL's side-car of a raster (class names, statistics): read by GIS with the raster, not a prediction.
_GIS_SIDECAR = re.compile(r"\.tiff?\.aux\.xml$", re.IGNORECASE)

#: Largest raster read, in pixels per band (8192 x 8192: a 10-band uint16 image of 1.3 GB). Real
#: EuroMineNet sites are far smaller; the bound stops a corrupt or hostile header from making a
#: reader allocate tens of GB. Raise it with the environment variable below.
DEFAULT_MAX_PIXELS = 8192 * 8192
MAX_PIXELS_ENV = "EUROMINE_MAX_PIXELS"
_UINT16_MAX = np.iinfo(np.uint16).max


class ArchiveError(ValueError):
    """Bad archive or prediction input: says which file, which field, and what was expected."""

    def __init__(self, path: str | Path, field: str, expected: str, found: Any = None) -> None:
        self.path = Path(path)
        self.field = field
        self.expected = expected
        self.found = found
        message = f"{self.path}: {field}: expected {expected}"
        if found is not None:
            message += f", found {found}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuild from the parts, so the error survives pickling (datasets' worker processes).
        return (type(self), (self.path, self.field, self.expected, self.found))


class ArchiveWarning(UserWarning):
    """Unusual but harmless archive or prediction input (the message names the file)."""


#: What an image's pixel type must be: digital numbers need 16 bits (L2A DN reach 10000 and beyond).
_IMAGE_DTYPE = ("integer Sentinel-2 digital numbers of at least 16 bits (uint16, as the archive stores them; "
                "8-bit data is a quick-look, not digital numbers)")


def check_image_dtype(path: str | Path, dtype: Any) -> None:
    """Refuse an image pixel type that cannot hold Sentinel-2 digital numbers: floats, bool, and
    8-bit integers (a uint8 quick-look read as DN would train and predict on values 40x too small).
    Shared by the archive reader and ``euromine predict`` so both accept the same files."""
    dt = np.dtype(dtype)
    if not np.issubdtype(dt, np.integer) or dt.itemsize < 2:
        raise ArchiveError(path, "dtype", _IMAGE_DTYPE, dt.name)


def _published_band_indexes(path: Path, src: Any) -> tuple[list[int], list[str]]:
    """1-based band indexes of the published bands in an open image, and the file's band names in
    file order: read from its band descriptions by predict's own rule (``file_band_order``), so
    training data and predictions never disagree on which band is which."""
    from euromine_hf.inference.band_order import file_band_order

    names, _ = file_band_order(path, src.descriptions, src.count)
    missing = [b for b in BANDS if b not in names]
    if missing:
        raise ArchiveError(path, "band descriptions", f"the published bands {', '.join(BANDS)}, each once",
                           f"bands {', '.join(names)} (no {', '.join(missing)})")
    return [names.index(b) + 1 for b in BANDS], names


def max_pixels() -> int:
    """The pixel-per-band limit: ``$EUROMINE_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None or value.strip() == "":
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ValueError(f"environment variable {MAX_PIXELS_ENV}: expected a positive integer (pixels per band), found {value!r}")
    return limit


def _check_size(path: Path, height: int, width: int) -> None:
    """Refuse a declared size over the limit (or a degenerate one) before any pixel is read."""
    if height <= 0 or width <= 0:
        raise ArchiveError(path, "size", "a positive height and width", f"{height}x{width}")
    limit = max_pixels()
    if height * width > limit:
        raise ArchiveError(
            path, "size", f"at most {limit:,} pixels per band (set {MAX_PIXELS_ENV} to raise the limit)",
            f"{height}x{width} = {height * width:,} pixels declared in the header",
        )


def check_inside(root: Path, path: Path, what: str = "archive") -> Path:
    """``path`` itself, after checking that it (following symlinks) lies inside ``root``.

    A symlink leading out of an archive or prediction folder would make results depend on files
    the folder does not hold (and the cache fingerprint blind to them), so it is refused.
    """
    real_root = root.resolve()
    target = path.resolve()
    if target != real_root and real_root not in target.parents:
        raise ArchiveError(path, "symlink", f"a target inside the {what} folder {real_root}", f"a link to {target}")
    return path


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class SiteRecord:
    """One site folder of an archive: where its files are and what its headers say.

    ``height``/``width`` are the site raster's size before padding (``-1`` when unknown, cropped
    layout without ``sites.json``); ``crs`` is WKT and ``transform`` the affine 6-tuple
    ``(a, b, c, d, e, f)`` of the first year's image, or ``None`` where the files carry none.
    """

    name: str
    country: str
    layout: str
    root: Path
    years: tuple[int, ...]
    height: int
    width: int
    crs: str | None = field(default=None, repr=False)
    transform: tuple[float, float, float, float, float, float] | None = None
    #: raw layout: year -> image / label GeoTIFF
    image_paths: dict[int, Path] = field(default_factory=dict, repr=False, compare=False)
    label_paths: dict[int, Path] = field(default_factory=dict, repr=False, compare=False)
    #: cropped layout: year -> image / label file of each patch, in patch-index order
    patch_image_paths: dict[int, tuple[Path, ...]] = field(default_factory=dict, repr=False, compare=False)
    patch_label_paths: dict[int, tuple[Path, ...]] = field(default_factory=dict, repr=False, compare=False)
    #: cropped layout: the ``n`` of ``Patch{n}`` for each patch index
    patch_numbers: tuple[int, ...] = field(default=(), repr=False, compare=False)
    #: raw layout: year -> the image's band names in file order, for images whose band descriptions
    #: give another order than the published one (the readers return the published order)
    band_orders: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def size_known(self) -> bool:
        return self.height > 0 and self.width > 0

    @property
    def num_patches(self) -> int:
        if self.layout == LAYOUT_CROPPED:
            return len(self.patch_numbers)
        return num_patches(self.height, self.width)

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Row-major patch offsets; ``(-1, -1)`` for each patch when the site size is unknown."""
        if not self.size_known:
            return [(-1, -1)] * self.num_patches
        return patch_offsets(self.height, self.width)

    @property
    def num_pixels(self) -> int:
        """Pixels of the site raster (or of all its patches when the size is unknown)."""
        if self.size_known:
            return self.height * self.width
        return self.num_patches * PATCH_SIZE * PATCH_SIZE

    def image_path(self, year: int) -> Path:
        return self._lookup(self.image_paths, year, "image")

    def label_path(self, year: int) -> Path:
        return self._lookup(self.label_paths, year, "label")

    def patch_image_path(self, year: int, patch: int) -> Path:
        return self._lookup(self.patch_image_paths, year, "image")[patch]

    def patch_label_path(self, year: int, patch: int) -> Path:
        return self._lookup(self.patch_label_paths, year, "label")[patch]

    def _lookup(self, table: dict[int, Any], year: int, what: str) -> Any:
        if year not in table:
            raise ArchiveError(self.folder, f"{what} for year {year}", f"one of the scanned years {list(self.years)}")
        return table[year]


@dataclass
class PatchRecord:
    """One 160×160 patch of one site and year, with its place in the site raster."""

    site: str
    country: str
    year: int
    patch: int
    row: int
    col: int
    site_height: int
    site_width: int
    image: np.ndarray  # uint16 (10, 160, 160)
    mask: np.ndarray  # uint8 (160, 160) in {0, 1}

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------------------------
# Layout and scanning


def _site_dirs(root: Path, what: str = "archive") -> list[Path]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    for d in dirs:
        if d.is_symlink():
            check_inside(root, d, what)
    return dirs


def _folder_layout(folder: Path) -> str | None:
    if (folder / "image").is_dir() or (folder / "label").is_dir():
        return LAYOUT_RAW
    if any(p.is_dir() and _YEAR_DIR.match(p.name) for p in folder.iterdir()):
        return LAYOUT_CROPPED
    return None


def detect_layout(root: str | Path) -> str:
    """``"raw"`` (GeoTIFF per site and year) or ``"cropped"`` (.npy patches) for an archive root."""
    root = Path(root)
    if not root.is_dir():
        raise ArchiveError(root, "archive root", "an existing folder holding one folder per site")
    layouts = {name for name in (_folder_layout(d) for d in _site_dirs(root)) if name}
    if len(layouts) == 1:
        return layouts.pop()
    if not layouts:
        raise ArchiveError(
            root, "layout", "site folders holding image/ and label/ (raw) or {YYYY}/image and {YYYY}/label (cropped)", "none"
        )
    raise ArchiveError(root, "layout", "one layout for all sites", "both raw and cropped site folders")


def _georef(src: Any) -> tuple[str | None, tuple[float, ...] | None]:
    crs = src.crs.to_wkt() if src.crs is not None else None
    transform = tuple(float(v) for v in tuple(src.transform)[:6])
    if crs is None and src.transform.is_identity:
        transform = None
    return crs, transform


def _open_raster(path: Path) -> Any:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except Exception as exc:  # rasterio raises RasterioIOError, CPLE_* and friends
        raise ArchiveError(path, "file", "a readable GeoTIFF", f"{type(exc).__name__}: {exc}") from exc


def _header(path: Path, kind: str) -> dict[str, Any]:
    """Band count, size, dtype and georeference of a GeoTIFF, checked without reading pixels."""
    with _open_raster(path) as src:
        crs, transform = _georef(src)
        info = {"count": src.count, "height": src.height, "width": src.width, "dtype": src.dtypes[0], "crs": crs, "transform": transform}
        want = NUM_BANDS if kind == "image" else 1
        if info["count"] != want:
            raise ArchiveError(path, "band count", f"{want} band{'s' if want > 1 else ''} ({kind})", info["count"])
        if kind == "image":
            check_image_dtype(path, info["dtype"])
            info["band_names"] = tuple(_published_band_indexes(path, src)[1])
    if not np.issubdtype(np.dtype(info["dtype"]), np.integer):
        raise ArchiveError(path, "dtype", f"integer {kind} data", info["dtype"])
    _check_size(path, info["height"], info["width"])
    return info


def _same_georef(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same CRS (equivalent WKT counts as equal) and the same affine transform up to float noise."""
    if (a["transform"] is None) != (b["transform"] is None):
        return False
    if a["transform"] is not None and not all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x, y in zip(a["transform"], b["transform"])
    ):
        return False
    if a["crs"] == b["crs"]:
        return True
    if a["crs"] is None or b["crs"] is None:
        return False
    from rasterio.crs import CRS

    return CRS.from_wkt(a["crs"]) == CRS.from_wkt(b["crs"])


def _describe_georef(info: dict[str, Any]) -> str:
    crs = info["crs"]
    if crs is not None:
        from rasterio.crs import CRS

        parsed = CRS.from_wkt(crs)
        crs = parsed.to_string() or parsed.name
    return f"CRS {crs}, transform {info['transform']}"


def _warn_unknown_years(found: Iterable[tuple[int, Path]]) -> None:
    for year, path in found:
        if year not in YEARS:
            warnings.warn(
                f"{path}: year {year} is outside the benchmark years {YEARS[0]}-{YEARS[-1]}; not read",
                ArchiveWarning, stacklevel=3,
            )


def _find_year_files(folder: Path, pattern: re.Pattern[str], what: str, root: Path | None = None) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    if root is not None:
        check_inside(root, folder, "prediction" if what == "prediction" else "archive")
    for p in sorted(folder.iterdir()):
        m = pattern.match(p.name)
        if not m or not p.is_file():
            continue
        if root is not None and p.is_symlink():
            check_inside(root, p, "prediction" if what == "prediction" else "archive")
        year = int(m.group(1))
        if year in found:
            raise ArchiveError(folder, f"{what} for year {year}", "exactly one file", f"{found[year].name} and {p.name}")
        found[year] = p
    return found


def _load_sidecar(root: Path) -> dict[str, tuple[int, int]]:
    path = root / SITES_SIDECAR
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArchiveError(path, "file", 'JSON {"Site": [height, width]}', f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ArchiveError(path, "content", 'an object {"Site": [height, width]}', type(raw).__name__)
    sizes: dict[str, tuple[int, int]] = {}
    for site, hw in raw.items():
        if not (isinstance(hw, list | tuple) and len(hw) == 2 and all(isinstance(v, int) and v > 0 for v in hw)):
            raise ArchiveError(path, f"size of {site}", "[height, width] as two positive integers", hw)
        sizes[site] = (int(hw[0]), int(hw[1]))
    return sizes


def _present_years(folder: Path, years: tuple[int, ...], present: Callable[[int], bool], allow_missing: bool) -> tuple[int, ...]:
    """The years to read: all of ``years``, or with ``allow_missing`` those ``present`` (at least one)."""
    if not allow_missing:
        return years
    kept = tuple(y for y in years if present(y))
    if not kept:
        raise ArchiveError(folder, "years", f"at least one of the years {list(years)}", "none of them")
    return kept


def _scan_raw_site(root: Path, folder: Path, years: tuple[int, ...], allow_missing: bool = False) -> SiteRecord:
    images = _find_year_files(folder / "image", _IMAGE_TIF, "image", root)
    labels = _find_year_files(folder / "label", _LABEL_TIF, "label", root)
    _warn_unknown_years((y, p) for table in (images, labels) for y, p in table.items() if y not in years)
    # a year is missing only when its image and its label are both absent; half a year is an error below
    years = _present_years(folder, years, lambda y: y in images or y in labels, allow_missing)
    image_paths: dict[int, Path] = {}
    label_paths: dict[int, Path] = {}
    band_orders: dict[int, tuple[str, ...]] = {}
    size: tuple[int, int] | None = None
    georef: tuple[str | None, Any] = (None, None)
    first: dict[str, Any] | None = None
    for year in years:
        if year not in images:
            raise ArchiveError(folder / "image", f"image for year {year}", f"Year{year}.tif", "no such file")
        if year not in labels:
            raise ArchiveError(folder / "label", f"label for year {year}", f"Year{year}.tif, Label{year}.tif or year{year}.tif", "no such file")
        img = _header(images[year], "image")
        lab = _header(labels[year], "label")
        img_size = (img["height"], img["width"])
        if (lab["height"], lab["width"]) != img_size:
            raise ArchiveError(labels[year], "size", f"{img_size[0]}x{img_size[1]} like {images[year].name}", f"{lab['height']}x{lab['width']}")
        if size is None or first is None:
            size = img_size
            georef = (img["crs"], img["transform"])
            first = {**img, "path": images[year]}
        elif img_size != size:
            raise ArchiveError(images[year], "size", f"{size[0]}x{size[1]} like the site's other years", f"{img_size[0]}x{img_size[1]}")
        elif not _same_georef(img, first):
            # Pairs and time series compare pixel (i, j) across years: it must be the same place.
            raise ArchiveError(
                images[year], "georeference", f"{_describe_georef(first)} like {first['path'].name} (every year of a site on one grid)",
                _describe_georef(img),
            )
        # A label without georeference is a plain mask of its image; one with a different one is not.
        if (lab["crs"] is not None or lab["transform"] is not None) and not _same_georef(lab, img):
            raise ArchiveError(labels[year], "georeference", f"{_describe_georef(img)} like {images[year].name}", _describe_georef(lab))
        image_paths[year] = images[year]
        label_paths[year] = labels[year]
        if img["band_names"] != BANDS:
            band_orders[year] = img["band_names"]
    height, width = size if size is not None else (-1, -1)
    return SiteRecord(
        name=folder.name, country=country_of(folder.name), layout=LAYOUT_RAW, root=root, years=years,
        height=height, width=width, crs=georef[0], transform=georef[1],
        image_paths=image_paths, label_paths=label_paths, band_orders=band_orders,
    )


def _patch_files(folder: Path, what: str, root: Path | None = None) -> dict[int, Path]:
    files: dict[int, Path] = {}
    if not folder.is_dir():
        return files
    kind = "prediction" if what == "prediction" else "archive"
    if root is not None:
        check_inside(root, folder, kind)
    for p in sorted(folder.iterdir()):
        m = _PATCH_FILE.match(p.name)
        if not m or not p.is_file():
            continue
        if root is not None and p.is_symlink():
            check_inside(root, p, kind)
        n = int(m.group(2))
        if n in files:
            raise ArchiveError(folder, f"{what} patch {n}", "exactly one file", f"{files[n].name} and {p.name}")
        files[n] = p
    return files


def _scan_cropped_site(root: Path, folder: Path, years: tuple[int, ...], size: tuple[int, int] | None,
                       allow_missing: bool = False) -> SiteRecord:
    numbers: tuple[int, ...] | None = None
    image_paths: dict[int, tuple[Path, ...]] = {}
    label_paths: dict[int, tuple[Path, ...]] = {}
    _warn_unknown_years((int(d.name), d) for d in sorted(folder.iterdir()) if d.is_dir() and _YEAR_DIR.match(d.name) and int(d.name) not in years)
    years = _present_years(folder, years, lambda y: (folder / str(y)).is_dir(), allow_missing)
    for year in years:
        year_dir = folder / str(year)
        if not year_dir.is_dir():
            raise ArchiveError(folder, f"year {year}", f"a folder {year}/ with image/ and label/", "no such folder")
        imgs = _patch_files(year_dir / "image", "image", root)
        labs = _patch_files(year_dir / "label", "label", root)
        if not imgs:
            raise ArchiveError(year_dir / "image", f"image patches for year {year}", f"Year{year}_Patch{{n}}.npy files", "none")
        if set(imgs) != set(labs):
            missing = sorted(set(imgs) ^ set(labs))[:5]
            raise ArchiveError(year_dir / "label", "patch numbers", "one label per image patch", f"unmatched patch numbers {missing}")
        these = tuple(sorted(imgs))
        if numbers is None:
            numbers = these
        elif these != numbers:
            raise ArchiveError(year_dir, "patch numbers", f"the same {len(numbers)} patches as the site's other years", f"{len(these)} patches")
        image_paths[year] = tuple(imgs[n] for n in these)
        label_paths[year] = tuple(labs[n] for n in these)
    numbers = numbers or ()
    height, width = size if size is not None else (-1, -1)
    if size is not None and numbers and len(numbers) != num_patches(height, width):
        raise ArchiveError(
            root / SITES_SIDECAR, f"size of {folder.name}",
            f"a size whose patch grid has {len(numbers)} patches (as on disk)",
            f"{height}x{width} ({num_patches(height, width)} patches)",
        )
    return SiteRecord(
        name=folder.name, country=country_of(folder.name), layout=LAYOUT_CROPPED, root=root, years=years,
        height=height, width=width, patch_image_paths=image_paths, patch_label_paths=label_paths, patch_numbers=numbers,
    )


def _is_empty(folder: Path) -> bool:
    """No entry but hidden ones (a ``.DS_Store`` does not make a site)."""
    return not any(not p.name.startswith(".") for p in folder.iterdir())


def _warn_band_orders(records: list[SiteRecord]) -> None:
    """One warning per scan naming the images read in another band order than the file's own."""
    found = [(site.image_paths[y], order) for site in records for y, order in sorted(site.band_orders.items())]
    if not found:
        return
    shown = "; ".join(f"{path} ({','.join(order)})" for path, order in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    warnings.warn(
        f"{len(found)} image(s) whose band descriptions give another band order are read reordered to the "
        f"published order {','.join(BANDS)}, as euromine predict reads them: {shown}{more}",
        ArchiveWarning, stacklevel=3,
    )


def scan_archive(root: str | Path, years: Iterable[int] = YEARS, sites: Iterable[str] | None = None,
                 allow_missing_years: bool = False) -> list[SiteRecord]:
    """Find every site of an archive and check its files are all there, reading headers only.

    Every requested year needs an image and a label (with ``allow_missing_years``, a year whose
    image and label are both absent is left out of that site's ``years``; each site needs one);
    images must have 10 integer bands of at least 16 bits in an order their band descriptions allow,
    labels one band, with matching sizes. An empty site folder is an error, as a site missing its
    files is. ``sites`` restricts the scan (an unknown name is an error). Sorted by name.
    """
    root = Path(root)
    layout = detect_layout(root)
    years = tuple(sorted({int(y) for y in years}))
    if not years:
        raise ArchiveError(root, "years", "at least one year")
    for d in _site_dirs(root):
        if _CONTROL.search(d.name):  # a newline would break every table the name is written into
            raise ArchiveError(root, f"site folder {d.name!r}", "a site name of printable characters (no newline, tab or other control character)")
    folders = {d.name: d for d in _site_dirs(root) if _folder_layout(d) == layout}
    wanted = None if sites is None else sorted(set(sites))
    for d in _site_dirs(root):
        if d.name in folders:
            continue
        if _is_empty(d) and (wanted is None or d.name in wanted):
            what = "image/ and label/ (raw layout)" if layout == LAYOUT_RAW else "{YYYY}/image and {YYYY}/label (cropped layout)"
            raise ArchiveError(d, "site files", f"{what}, as every site folder holds (remove the folder or name the sites to read)",
                               "an empty folder")
        logger.info("%s: not a %s site folder, skipped", d, layout)
    if wanted is not None:
        unknown = [s for s in wanted if s not in folders]
        if unknown:
            raise ArchiveError(root, "sites", "folders for every requested site", f"no folder for {unknown}")
        folders = {s: folders[s] for s in wanted}
    sidecar = _load_sidecar(root) if layout == LAYOUT_CROPPED else {}
    records = []
    for name in sorted(folders):
        if layout == LAYOUT_RAW:
            records.append(_scan_raw_site(root, folders[name], years, allow_missing_years))
        else:
            records.append(_scan_cropped_site(root, folders[name], years, sidecar.get(name), allow_missing_years))
    _warn_band_orders(records)
    return records


# --------------------------------------------------------------------------------------------
# Pixel readers (all validation of values happens here)


def _read_raster(
    path: Path, kind: str, count: int, shape: tuple[int, int] | None = None,
    check: Callable[[dict[str, Any]], None] | None = None, published_bands: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Pixels of a GeoTIFF after its header passed: ``count`` bands, ``shape`` (when given), the size
    limit, and ``check`` (called with the header's ``crs``, ``transform``, ``height``, ``width``).
    ``published_bands``: an image, checked for its pixel type and read in the published band order
    its band descriptions give."""
    path = Path(path)
    with _open_raster(path) as src:
        crs, transform = _georef(src)
        if src.count != count:
            raise ArchiveError(path, "band count", f"{count} band{'s' if count > 1 else ''} ({kind})", src.count)
        indexes = None
        if published_bands:
            check_image_dtype(path, src.dtypes[0])
            indexes = _published_band_indexes(path, src)[0]
        if check is not None:
            check({"crs": crs, "transform": transform, "height": src.height, "width": src.width})
        if shape is not None and (src.height, src.width) != tuple(shape):
            raise ArchiveError(path, "size", f"{shape[0]}x{shape[1]}", f"{src.height}x{src.width} declared in the header")
        _check_size(path, src.height, src.width)
        try:
            data = src.read(indexes)
        except Exception as exc:
            raise ArchiveError(path, "pixels", f"a complete, readable {kind} raster", f"{type(exc).__name__}: {exc}") from exc
    return data, {"crs": crs, "transform": transform, "height": data.shape[1], "width": data.shape[2], "nodata": src.nodata}


def _validate_image(data: np.ndarray, path: Path) -> np.ndarray:
    if data.ndim != 3 or data.shape[0] != NUM_BANDS:
        raise ArchiveError(path, "band count", f"{NUM_BANDS} bands as (bands, height, width)", f"shape {data.shape}")
    check_image_dtype(path, data.dtype)
    if data.dtype == np.uint16:
        return data
    if data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < 0:
            raise ArchiveError(path, "pixel values", "non-negative digital numbers", f"minimum {lo}")
        if hi > _UINT16_MAX:
            raise ArchiveError(path, "pixel values", f"digital numbers up to {_UINT16_MAX} (uint16)", f"maximum {hi}")
    return data.astype(np.uint16)  # exact: every value was checked to fit


def _validate_label(data: np.ndarray, path: Path) -> np.ndarray:
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ArchiveError(path, "band count", "a single-band (height, width) label", f"shape {data.shape}")
    if data.dtype == bool:
        return data.astype(np.uint8)
    if not np.issubdtype(data.dtype, np.integer):
        raise ArchiveError(path, "dtype", "integer label values (0/255 or 0/1)", data.dtype)
    if data.dtype == np.uint8:  # fast path: a 256-bin histogram instead of np.unique
        present = np.flatnonzero(np.bincount(data.ravel(), minlength=256))
    else:
        present = np.unique(data)
    values = {int(v) for v in present}
    if values <= {0, 1}:
        return data.astype(np.uint8, copy=data.dtype != np.uint8)
    if values <= {0, 255}:
        return (data == 255).astype(np.uint8)
    raise ArchiveError(path, "label values", "only {0, 255} (or only {0, 1})", sorted(values)[:10])


def read_image(path: str | Path, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A 10-band GeoTIFF as ``uint16 (10, H, W)`` in the published band order (the file's band
    descriptions say which band is which, see the module docstring) plus ``{"crs", "transform",
    "height", "width"}``.

    ``shape`` (H, W), when given, is checked from the header before pixels are read.
    """
    path = Path(path)
    data, georef = _read_raster(path, "image", NUM_BANDS, shape, published_bands=True)
    return _validate_image(data, path), georef


def read_label(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 1-band label or prediction GeoTIFF (0/255 or 0/1) as ``uint8 (H, W)`` in {0, 1}.

    ``shape`` (H, W), when given, is checked from the header before pixels are read.
    """
    path = Path(path)
    data, _ = _read_raster(path, "label", 1, shape)
    return _validate_label(data, path)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header, without reading the array."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:
        raise ArchiveError(path, "file", "a .npy file (format 1.0 or 2.0) with a readable header", f"{type(exc).__name__}: {exc}") from exc
    return tuple(int(n) for n in shape), dtype


def _load_npy(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A ``.npy`` array whose header declares ``shape`` (when given) and a plain numeric dtype."""
    declared, dtype = _npy_header(path)
    if dtype.hasobject:
        raise ArchiveError(path, "file", "a numeric .npy array (no pickled objects)", f"dtype {dtype}")
    if shape is not None and len(shape) == 3 and len(declared) == 3 and declared[0] != shape[0]:
        raise ArchiveError(path, "band count", f"{shape[0]} bands as {tuple(shape)}", f"{declared} declared in the header")
    if shape is not None and declared != tuple(shape):
        raise ArchiveError(path, "shape", str(tuple(shape)), f"{declared} declared in the header")
    if len(declared) >= 2:
        _check_size(path, declared[-2], declared[-1])
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # truncated (ValueError/EOFError), pickled objects, I/O errors
        raise ArchiveError(path, "file", "a complete .npy array (no pickled objects)", f"{type(exc).__name__}: {exc}") from exc


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """(height, width) from the PNG ``IHDR`` chunk (the first 33 bytes), before decoding."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
    except OSError as exc:
        raise ArchiveError(path, "file", "a readable PNG", f"{type(exc).__name__}: {exc}") from exc
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ArchiveError(path, "header", "a PNG file (signature and IHDR chunk)", f"{len(head)} bytes not starting like a PNG")
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return height, width


def _load_png(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    height, width = _png_size(path)
    if shape is not None and (height, width) != tuple(shape):
        raise ArchiveError(path, "shape", str(tuple(shape)), f"{(height, width)} declared in the PNG header")
    _check_size(path, height, width)
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow ships with matplotlib
        raise ArchiveError(path, "file", "Pillow installed to read PNG labels") from exc
    try:
        with Image.open(path) as img:
            img.load()
            data = np.asarray(img)
    except Exception as exc:
        raise ArchiveError(path, "file", "a complete, readable PNG", f"{type(exc).__name__}: {exc}") from exc
    if data.ndim == 3:  # grey stored as RGB(A): accept only if every colour channel is equal
        colour = data[..., :3] if data.shape[-1] >= 3 else data[..., :1]
        if not (colour == colour[..., :1]).all():
            raise ArchiveError(path, "colour channels", "a greyscale label (equal R, G, B)", f"{data.shape[-1]} differing channels")
        data = colour[..., 0]
    return data


def read_image_patch(path: str | Path) -> np.ndarray:
    """A cropped-layout image patch (``.npy``) as ``uint16 (10, 160, 160)``."""
    path = Path(path)
    data = _validate_image(_load_npy(path, (NUM_BANDS, PATCH_SIZE, PATCH_SIZE)), path)
    if data.shape[1:] != (PATCH_SIZE, PATCH_SIZE):
        raise ArchiveError(path, "shape", f"({NUM_BANDS}, {PATCH_SIZE}, {PATCH_SIZE})", data.shape)
    return data


def read_label_patch(path: str | Path) -> np.ndarray:
    """A 160×160 label or prediction patch (``.npy`` or ``.png``) as ``uint8`` in {0, 1}."""
    path = Path(path)
    raw = _load_png(path, (PATCH_SIZE, PATCH_SIZE)) if path.suffix.lower() == ".png" else _load_npy(path, (PATCH_SIZE, PATCH_SIZE))
    data = _validate_label(raw, path)
    if data.shape != (PATCH_SIZE, PATCH_SIZE):
        raise ArchiveError(path, "shape", f"({PATCH_SIZE}, {PATCH_SIZE})", data.shape)
    return data


def read_label_patches(site: SiteRecord, year: int) -> np.ndarray:
    """All label patches of a site and year, ``uint8 (N, 160, 160)`` in patch-index order."""
    if site.layout == LAYOUT_CROPPED:
        return np.stack([read_label_patch(p) for p in site._lookup(site.patch_label_paths, year, "label")])
    patches, _ = extract_patches(read_site_label(site, year))
    return patches


def _require_size(site: SiteRecord, what: str) -> None:
    if not site.size_known:
        raise ArchiveError(
            site.root / SITES_SIDECAR, f"size of {site.name}",
            f"[height, width] to reassemble the cropped site's {what} (add it to {SITES_SIDECAR})", "no entry",
        )


def read_site_label(site: SiteRecord, year: int) -> np.ndarray:
    """The whole-site label ``uint8 (H, W)`` in {0, 1} (cropped sites need their size known)."""
    if site.layout == LAYOUT_RAW:
        mask = read_label(site.label_path(year), (site.height, site.width))
        if mask.shape != (site.height, site.width):
            raise ArchiveError(site.label_path(year), "size", f"{site.height}x{site.width} (as scanned)", "x".join(map(str, mask.shape)))
        return mask
    _require_size(site, "label")
    return reconstruct(read_label_patches(site, year), site.offsets, site.height, site.width)


def read_site_year(site: SiteRecord, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-site ``(image uint16 (10,H,W), mask uint8 (H,W) in {0,1})`` for one year."""
    if site.layout == LAYOUT_RAW:
        image, _ = read_image(site.image_path(year), (site.height, site.width))
        mask = read_label(site.label_path(year), (site.height, site.width))
        if mask.shape != image.shape[1:]:
            raise ArchiveError(
                site.label_path(year), "size", f"{image.shape[1]}x{image.shape[2]} like {site.image_path(year).name}",
                f"{mask.shape[0]}x{mask.shape[1]}",
            )
        if image.shape[1:] != (site.height, site.width):
            raise ArchiveError(site.image_path(year), "size", f"{site.height}x{site.width} (as scanned)", f"{image.shape[1]}x{image.shape[2]}")
        return image, mask
    _require_size(site, "image")
    images = np.stack([read_image_patch(p) for p in site._lookup(site.patch_image_paths, year, "image")])
    return (
        reconstruct(images, site.offsets, site.height, site.width),
        read_site_label(site, year),
    )


def iter_site_patches(site: SiteRecord, year: int) -> Iterator[PatchRecord]:
    """Every 160×160 patch of a site and year, row-major, for either layout.

    Raw sites are read once and cut with the published rule (wrap padding for small sites);
    cropped sites are read patch by patch.
    """
    base = dict(site=site.name, country=site.country, year=int(year), site_height=site.height, site_width=site.width)
    if site.layout == LAYOUT_RAW:
        image, mask = read_site_year(site, year)
        images, offsets = extract_patches(image)
        masks, _ = extract_patches(mask)
        for i, (r, c) in enumerate(offsets):
            yield PatchRecord(patch=i, row=r, col=c, image=images[i], mask=masks[i], **base)
        return
    offsets = site.offsets
    img_paths = site._lookup(site.patch_image_paths, year, "image")
    lab_paths = site._lookup(site.patch_label_paths, year, "label")
    for i, (ip, lp) in enumerate(zip(img_paths, lab_paths)):
        r, c = offsets[i]
        yield PatchRecord(patch=i, row=r, col=c, image=read_image_patch(ip), mask=read_label_patch(lp), **base)


# --------------------------------------------------------------------------------------------
# Prediction folders: {pred}/{Site}/Year{YYYY}.tif or {pred}/{Site}/{YYYY}/Patch{n}.npy|png


def _warn_extra(paths: list[Path]) -> None:
    if paths:
        shown = ", ".join(str(p) for p in paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        warnings.warn(
            f"prediction folder: {len(paths)} file(s) that are not predictions, not read: {shown} (expected "
            "{Site}/Year{YYYY}.tif, {Site}/{YYYY}/Patch{n}.npy|png, Change{Y1}_{Y2}.tif or {Y1}_{Y2}/Patch{n})",
            ArchiveWarning, stacklevel=3,
        )


def scan_predictions(pred_dir: str | Path) -> dict[str, set[int]]:
    """Which years each site of a prediction folder has (whole-site rasters or patch folders).

    Symlinks leading out of the folder are refused; files nothing reads (a stray ``.txt``, a
    ``Year2015.jpg``) are named in one :class:`ArchiveWarning`. Hidden files are ignored.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise ArchiveError(pred_dir, "prediction folder", "an existing folder with one folder per site")
    found: dict[str, set[int]] = {}
    extra: list[Path] = [p for p in sorted(pred_dir.iterdir()) if not p.is_dir() and not p.name.startswith(".")]
    for folder in _site_dirs(pred_dir, "prediction"):
        years = set(_find_year_files(folder, _IMAGE_TIF, "prediction", pred_dir))
        for sub in sorted(folder.iterdir()):
            if sub.name.startswith("."):
                continue
            if sub.is_dir() and (_YEAR_DIR.match(sub.name) or _PAIR_DIR.match(sub.name)):
                patches = _patch_files(sub, "prediction", pred_dir)
                extra.extend(p for p in sorted(sub.iterdir()) if not p.name.startswith(".") and p not in patches.values())
                if patches and _YEAR_DIR.match(sub.name):
                    years.add(int(sub.name))
            elif not (sub.is_file() and (_IMAGE_TIF.match(sub.name) or _PRED_EXTRA_TIF.match(sub.name)
                                         or _GIS_SIDECAR.search(sub.name))):
                extra.append(sub)
            elif sub.is_symlink():
                check_inside(pred_dir, sub, "prediction")
        if years:
            found[folder.name] = years
    _warn_extra(extra)
    if not found:
        raise ArchiveError(pred_dir, "predictions", "{Site}/Year{YYYY}.tif or {Site}/{YYYY}/Patch{n}.npy|png", "none")
    return found


def _prediction_source(pred_dir: Path, site: SiteRecord, year: int) -> tuple[str, Any]:
    folder = pred_dir / site.name
    tifs = _find_year_files(folder, _IMAGE_TIF, "prediction", pred_dir) if folder.is_dir() else {}
    patches = _patch_files(folder / str(year), "prediction", pred_dir)
    if year in tifs and patches:
        raise ArchiveError(folder, f"prediction for year {year}", "either Year{YYYY}.tif or a {YYYY}/ patch folder", "both")
    if year in tifs:
        return "raster", tifs[year]
    if not patches:
        raise ArchiveError(folder, f"prediction for year {year}", f"Year{year}.tif or {year}/Patch{{n}}.npy|png", "no such file")
    n = site.num_patches
    if sorted(patches) != list(range(n)):
        got = sorted(patches)
        raise ArchiveError(folder / str(year), "patch files", f"Patch0..Patch{n - 1} ({n} patches of {site.name})", f"{len(got)} patches numbered {got[:3]}...{got[-1:]}")
    return "patches", [patches[i] for i in range(n)]


def read_prediction_patches(pred_dir: str | Path, site: SiteRecord, year: int) -> np.ndarray:
    """A prediction as patches ``uint8 (N, 160, 160)`` in {0, 1}, in the site's patch order.

    Works for sites of unknown size (cropped archives without ``sites.json``) when the prediction
    is given as patches; a whole-site raster is cut with the published rule.
    """
    kind, src = _prediction_source(Path(pred_dir), site, year)
    if kind == "patches":
        return np.stack([read_label_patch(p) for p in src])
    patches, _ = extract_patches(read_prediction_raster(src, site, f"year {year}"))
    return patches


def check_prediction_grid(path: str | Path, site: SiteRecord, key: str, header: dict[str, Any]) -> None:
    """Refuse a prediction raster that is not on the site raster's grid: same size, CRS and transform.

    Scores compare pixel (i, j) of the prediction with pixel (i, j) of the reference, so a map moved
    50 km or reprojected would be scored as if it lay on the site. ``key`` names what the raster
    predicts (``"year 2016"``, ``"years 2016-2017"``); ``header`` holds ``crs`` (WKT or ``None``),
    ``transform`` (6-tuple or ``None``), ``height`` and ``width``. A raster without any
    georeference is a plain mask of the site grid (as for labels) and is checked by size only, as
    are sites whose images carry none (cropped layout). Errors name the site, the key and the field.
    """
    path = Path(path)
    where = f"the site raster of {site.name} ({key})"
    if site.size_known and (header["height"], header["width"]) != (site.height, site.width):
        raise ArchiveError(path, "size", f"{site.height}x{site.width} like {where}", f"{header['height']}x{header['width']} declared in the header")
    if header["crs"] is None and header["transform"] is None:
        return
    if site.crs is None and site.transform is None:
        return
    if not _same_georef({"crs": header["crs"], "transform": None}, {"crs": site.crs, "transform": None}):
        raise ArchiveError(path, "CRS", f"{_describe_crs(site.crs)} like {where}", _describe_crs(header["crs"]))
    if not _same_georef({"crs": None, "transform": header["transform"]}, {"crs": None, "transform": site.transform}):
        raise ArchiveError(path, "transform", f"{site.transform} like {where}", header["transform"])


def _describe_crs(crs: str | None) -> str:
    if crs is None:
        return "no CRS"
    from rasterio.crs import CRS

    parsed = CRS.from_wkt(crs)
    return parsed.to_string() or parsed.name


def read_prediction_raster(path: str | Path, site: SiteRecord, key: str) -> np.ndarray:
    """A whole-site prediction raster (a year's mine map or a pair's change map) as {0, 1}, after
    :func:`check_prediction_grid` passed on its header.

    Pixels equal to the file's declared nodata (``euromine predict`` writes 255 where the input
    image was empty) count as "not mine": a prediction the model did not make can never earn a
    true positive, and the reference pixel is still scored."""
    path = Path(path)
    data, meta = _read_raster(path, "prediction", 1, check=lambda header: check_prediction_grid(path, site, key, header))
    nodata = meta.get("nodata")
    if nodata is not None and nodata not in (0, 1) and np.any(data == nodata):
        data = np.where(data == nodata, 0, data).astype(data.dtype)
    mask = _validate_label(data, path)
    if site.size_known and mask.shape != (site.height, site.width):
        raise ArchiveError(path, "size", f"{site.height}x{site.width} like site {site.name}", f"{mask.shape[0]}x{mask.shape[1]}")
    return mask


def read_prediction(pred_dir: str | Path, site: SiteRecord, year: int) -> np.ndarray:
    """A whole-site prediction ``uint8 (H, W)`` in {0, 1}: a raster as is, or patches reassembled
    (each pixel from the first patch covering it, as in scoring)."""
    kind, src = _prediction_source(Path(pred_dir), site, year)
    if kind == "raster":
        return read_prediction_raster(src, site, f"year {year}")
    _require_size(site, "prediction")
    patches = np.stack([read_label_patch(p) for p in src])
    return reconstruct(patches, site.offsets, site.height, site.width)
