"""A synthetic EuroMineNet: the embedded default data, written in the archive's raw layout.

The real archive (133 sites, ~11,000 km²) cannot ship with the package, yet every part of the
suite — readers, patching, datasets, metrics, training — needs data that behaves like it. This
module draws a small archive that is a *fair stand-in*, not noise — and, as importantly, not
easier than the real thing: a model that learns "non-vegetated blob = mine" must fail here as it
fails on real scenes (``bench/calibration.py`` measures it: a per-pixel classifier on the 10 bands
stays near OF1 0.6-0.7, well below a spatial model).

* **Land cover** (grassland, forest, crops and meadows in warped Voronoi fields, built-up) with
  Sentinel-2 L2A reflectance spectra per band (DN = reflectance × 10000) and spatial texture;
  a fixed per-band path radiance and gain put the archive's per-band means within a few % of the
  published normalisation constants, ordering included (B02 > B03 > B04).
* **Confusers**, unlabelled, on 15-20 % of the scene and sharing the mines' end members: quarries
  in the site's own rock, construction sites of grey spoil (a few years, then buildings),
  industrial roofs and car parks, sand and gravel yards, lakes and turbid ponds, and crop parcels
  that are ploughed or harvested in the year (dump-like soil). Inside the mines, the reverse:
  grassed (rehabilitated) dumps, vegetated benches and water in the deepest benches of pits.
* **Mines** made of open pits (bright rock or dark coal), waste dumps and tailings ponds. Each
  component is a level set of its own smooth "distance" field inside its own territory, so masks
  are spatially coherent and grow at an irregular front. Pits are cut in irregular benches that
  follow the pit's own outline (not rings), with terrain: bench faces lit or shaded by a
  south-easterly sun, dumps as heaps. Components expand, appear, shrink (revegetation, drained
  ponds) and fluctuate (pond levels), tuned so the labels match the paper's statistics
  (`dataset_statistics` in ``paper_results.json``): footprint ≈ 19-21 % of pixels, changed
  fraction ≈ 1 % at a 1-year interval rising to ≈ 5.5 % at 9 years, ≈ 60-67 % of change being
  expansion. Pixels that leave a mine keep a trace in the image (revegetating spoil, drying mud).
* **Sensor**: a point-spread blur on the 10 m bands; the 20 m bands (B05 B06 B07 B8A B11 B12)
  averaged over 2×2 blocks, blurred and noised at 20 m, then resampled to the 10 m grid as the
  archive's L2A exports are (mixed pixels at every edge); per-band noise.
* **Annotation**: each year's label is drawn anew from the true extent: outline generalised,
  shifted by 1-2 px on part of its length independently each year (spurious one-year changes,
  as real multi-year annotation has), features under a 0.25 ha minimum mapping unit left out.
* **Year-to-year nuisance**: radiometric gain/offset per year and band, thin residual haze
  (strongest in blue), phenology per year, per field (mown, grazed, dry meadows; crop states) and
  per pixel, with dry grass reaching the spoil's index range, and as an option the +1000 DN offset
  that processing baseline 04.00 added to L2A products from 2022 on.
* **No clouds.** EuroMineNet gives one image per site and year, composited from the year's
  Sentinel-2 L2A acquisitions to be cloud-free: the paper presents annual observations with an
  expert label on every pixel of every year, which a cloud or its shadow would make impossible,
  and its task is mapping and change, not cloud robustness. Version 1 of this generator put
  cumulus into 38 % of site-years and it changed nothing (test F1 0.849 with, 0.850 without); what
  composites do leave — thin residual haze and year-to-year radiometric differences — is kept.

Values are clipped to ``[1, 65535]`` before the cast to uint16 — deliberately: bright rock plus
the baseline offset must saturate, never wrap around to a dark value, and 0 is the L2A no-data
value, which real land pixels never carry.

Everything is drawn from generators seeded by ``(seed, site name)``, so the same seed gives
byte-identical arrays whatever the number or order of sites. Each site is written to a hidden
temporary folder and renamed into place; ``synthetic.json`` (the archive's description) is written
last and atomically, so a folder that has it is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine
from scipy import ndimage

from euromine_hf.bands import BANDS, GSD_M, LABEL_MINE_VALUE, YEARS, country_of, load_resource
from euromine_hf.data.geotiff import write_geotiff
from euromine_hf.io import atomic_write_json, make_temp_dir, replace_folder

#: Bump when the generator's output changes, so cached archives are regenerated.
SYNTHETIC_VERSION = 2
DESCRIPTION_FILE = "synthetic.json"
#: Site-name prefix of temporary folders; readers skip names starting with ".".
_TMP_PREFIX = ".synth-tmp-"

# --------------------------------------------------------------------------------------------
# Spectra. Bands in the published order B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 (checked below);
# values are L2A surface reflectance × 10000, from typical library/field spectra of each cover.
# Each material has two end members A and B; a per-pixel weight w in [0, 1] mixes them
# (phenology, crop state, pit benches, pond shore, revegetation age...). Confusers outside the
# mines reuse the mine materials themselves (quarries = pit rock, construction sites = spoil,
# turbid ponds = tailings water) or near twins (ploughed fields, industrial roofs), because on
# the ground they *are* the same surfaces: only their context says "not a mine".
# --------------------------------------------------------------------------------------------
_SPECTRA_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Central wavelengths (nm) of the bands, for the wavelength dependence of haze.
WAVELENGTH_NM = np.array([490, 560, 665, 705, 740, 783, 842, 865, 1610, 2190], dtype=np.float32)

#: material -> (end member A, end member B, per-pixel albedo texture strength)
MATERIALS: dict[str, tuple[list[int], list[int], float]] = {
    # natural / agricultural land; A = vigorous green vegetation, B = dry / senescent grass, whose
    # NDVI and bare-soil index lie in the range of grassed spoil
    "grassland": ([380, 720, 480, 1180, 2700, 3300, 3450, 3550, 2200, 1200],
                  [1000, 1200, 1450, 1620, 1880, 2050, 2150, 2250, 2750, 2150], 0.08),
    "forest": ([230, 460, 270, 760, 2150, 2700, 2850, 2950, 1500, 680],
               [300, 500, 400, 830, 1750, 2100, 2200, 2300, 1650, 840], 0.10),
    # A = green crop, B = ploughed / harvested field: bare soil with the spectrum of grey spoil
    "crops": ([320, 660, 360, 1120, 3050, 3950, 4150, 4250, 2150, 1050],
              [1200, 1380, 1560, 1720, 1880, 1990, 2080, 2140, 2850, 2450], 0.07),
    # bare soil: A = brown soil, B = light sandy soil (rises into SWIR)
    "bare_soil": ([1050, 1350, 1650, 1850, 2050, 2250, 2350, 2450, 3100, 2500],
                  [1500, 1850, 2200, 2400, 2600, 2750, 2850, 2950, 3600, 3000], 0.07),
    # water: A = clear lake, B = turbid; dark in NIR and SWIR
    "water": ([560, 620, 360, 290, 230, 210, 190, 170, 90, 60],
              [720, 920, 820, 720, 460, 410, 360, 330, 130, 90], 0.03),
    # built-up: A = dense town (roofs / asphalt / concrete), B = suburban mix with gardens
    "built_up": ([1150, 1250, 1350, 1500, 1750, 1900, 2000, 2050, 2400, 2100],
                 [700, 860, 860, 1220, 2100, 2500, 2600, 2700, 2250, 1550], 0.12),
    # industrial estates: A = concrete roofs and car parks (bright rock's twin), B = asphalt / dark
    # roofs (coal's twin)
    "industrial": ([1700, 2000, 2300, 2500, 2700, 2850, 2950, 3050, 3450, 3000],
                   [600, 650, 700, 760, 820, 870, 920, 950, 1050, 950], 0.12),
    # --- mine materials ---
    # open pit in rock: A = bright freshly exposed rock, B = shaded bench faces
    "pit_rock": ([1750, 2050, 2350, 2550, 2750, 2900, 3000, 3100, 3550, 3050],
                 [950, 1100, 1250, 1350, 1450, 1530, 1600, 1650, 2150, 1850], 0.10),
    # open pit in coal / lignite: A = dark coal seam, B = sandy overburden
    "pit_coal": ([560, 610, 660, 710, 760, 810, 860, 890, 1000, 900],
                 [1250, 1450, 1650, 1800, 1950, 2050, 2150, 2200, 2700, 2400], 0.10),
    # waste dump: A = grey spoil, B = partly grassed spoil
    "dump": ([1250, 1400, 1550, 1700, 1850, 1950, 2050, 2100, 2850, 2500],
             [620, 860, 820, 1320, 2200, 2600, 2750, 2850, 2500, 1650], 0.08),
    # tailings ponds: A = open water (turquoise / brownish), B = wet tailings on the shore
    "pond_turquoise": ([1000, 1300, 850, 650, 460, 410, 380, 360, 180, 130],
                       [1400, 1600, 1650, 1650, 1700, 1750, 1800, 1820, 1950, 1550], 0.03),
    "pond_brown": ([720, 920, 1060, 1060, 960, 900, 860, 830, 420, 260],
                   [1400, 1600, 1650, 1650, 1700, 1750, 1800, 1820, 1950, 1550], 0.03),
    # grassed spoil (rehabilitated dumps, vegetated benches; still mining land) and land that
    # left the mine: A = bare spoil / drying mud, B = the grassland it becomes (w = years since)
    "revegetating": ([1200, 1350, 1500, 1650, 1800, 1900, 2000, 2050, 2800, 2450],
                     [420, 740, 540, 1200, 2550, 3100, 3250, 3350, 2250, 1250], 0.08),
    "drained_pond": ([1100, 1250, 1300, 1350, 1400, 1450, 1500, 1520, 1700, 1400],
                     [420, 740, 540, 1200, 2550, 3100, 3250, 3350, 2250, 1250], 0.05),
}
_MAT_NAMES = tuple(MATERIALS)
_MAT = {name: i for i, name in enumerate(_MAT_NAMES)}
#: Materials that, outside the mine polygons, count as confusers (see :func:`render_site`).
CONFUSER_MATERIALS = ("pit_rock", "pit_coal", "dump", "industrial", "bare_soil", "water", "pond_brown", "pond_turquoise")

#: Per-band path radiance (DN) and gain that carry the tabulated single-cover spectra to the
#: archive's published per-band means, ordering included (B02 > B03 > B04: L2A over Europe keeps
#: some residual aerosol path radiance, strongest in blue, and the red-edge/NIR bands of the
#: composites sit where the published means put them). Fitted once on the default archive.
_PATH_DN = np.array([256, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
_BAND_GAIN = np.array([1.0, 0.951, 0.911, 0.832, 0.876, 0.892, 0.832, 0.921, 0.870, 0.774], dtype=np.float32)

#: Sentinel-2 bands acquired at 20 m (B05 B06 B07 B8A B11 B12); the rest are 10 m.
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
_I20 = np.array([_SPECTRA_BANDS.index(b) for b in BANDS_20M])
_I10 = np.array([i for i in range(len(_SPECTRA_BANDS)) if i not in _I20])
#: Per-band sensor noise (DN, standard deviation at the band's own resolution): the L2A noise
#: floor, somewhat higher in the 10 m visible bands than in the 20 m bands.
NOISE_SD_DN = np.array([28, 24, 24, 16, 16, 16, 26, 16, 14, 14], dtype=np.float32)
#: Off-centre weight of the 3-tap point-spread blur [a, 1-2a, a] per axis: an MTF of 1 - 4a at
#: Nyquist (0.2 at 10 m, as Sentinel-2's 10 m bands roughly have; 0.4 for the 20 m bands at 20 m).
PSF_TAP_10M = 0.2
PSF_TAP_20M = 0.15

#: Annotation: boundaries are generalised (Gaussian of sigma px, re-thresholded), jittered on
#: part of the outline by up to ~2 px each year, and features under the minimum mapping unit
#: (pixels; 0.25 ha) are dropped.
LABEL_SIGMA_PX = 1.2
LABEL_JITTER_SHARE = 0.12
MIN_MAPPING_UNIT_PX = 25

#: Rough centre (latitude, longitude) of each country's mining regions, for a plausible UTM zone.
COUNTRY_CENTRES: dict[str, tuple[float, float]] = {
    "Austria": (47.4, 14.6), "Bulgaria": (42.6, 25.3), "Czechia": (50.4, 13.6),
    "Finland": (63.5, 27.0), "Germany": (51.2, 12.0), "Greece": (40.3, 21.8),
    "Hungary": (47.5, 19.8), "Italy": (42.8, 12.4), "Poland": (51.3, 19.2),
    "Portugal": (38.9, -7.8), "Romania": (45.4, 23.4), "Slovakia": (48.7, 19.6),
    "Spain": (40.0, -4.5), "Sweden": (64.0, 18.5),
}
#: Country order of the default archive (most mining sites first, as in the real archive).
DEFAULT_COUNTRIES = (
    "Spain", "Bulgaria", "Poland", "Germany", "Greece", "Romania", "Sweden", "Finland",
    "Hungary", "Portugal", "Czechia", "Italy", "Slovakia", "Austria",
)
#: Default per-side raster sizes (pixels) of the two modes.
DEFAULT_SIZES = {"default": (150, 480), "official": (96, 200)}

# Dynamics, as fractions of a site's 2015 footprint (tuned against paper_results.json):
_POND_LEVEL_SD = 0.03      # year-to-year relative area noise of tailings ponds (reversible change)
_GROWTH_RATE = 0.028       # mean yearly relative growth of pits and active dumps
_REVEG_RATE = 0.1          # yearly shrink of a rehabilitated dump, relative to its area when it starts
#: Offset that processing baseline 04.00 adds to L2A digital numbers (products from 25 January 2022).
BASELINE_OFFSET_DN = 1000.0


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. ``min_size``/``max_size`` default per mode (``DEFAULT_SIZES``)."""

    seed: int = 0
    num_sites: int = 12
    #: Lay out the 133 official site names (train + val + test once each, plus Greece_3).
    official_names: bool = False
    min_size: int | None = None
    max_size: int | None = None
    years: tuple[int, ...] = YEARS
    #: Add +1000 DN to images from 2022 on (processing baseline 04.00).
    baseline_offset: bool = False
    #: Radiometric gain/offset, haze, clouds and shadows (phenology and crop rotation always vary).
    nuisance: bool = True
    #: Name one or two sites' labels ``Label{YYYY}.tif`` / ``year{YYYY}.tif`` as parts of the archive do.
    alternative_label_names: bool = True
    compress: str = "deflate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "years", tuple(int(y) for y in self.years))
        lo, hi = self.size_range
        if lo < 16 or hi < lo:
            raise ValueError(f"SyntheticConfig: min_size/max_size must satisfy 16 <= min_size <= max_size, got {lo}/{hi}")
        if not self.official_names and self.num_sites < 1:
            raise ValueError(f"SyntheticConfig: num_sites must be >= 1, got {self.num_sites}")
        if len(self.years) < 2 or list(self.years) != sorted(set(self.years)):
            raise ValueError(f"SyntheticConfig: years must be at least two increasing distinct years, got {self.years}")
        if self.compress.lower() not in ("zstd", "deflate", "lzw", "none"):
            raise ValueError(f"SyntheticConfig: compress must be zstd, deflate, lzw or none, got {self.compress!r}")

    @property
    def size_range(self) -> tuple[int, int]:
        lo_d, hi_d = DEFAULT_SIZES["official" if self.official_names else "default"]
        lo = self.min_size if self.min_size is not None else lo_d
        hi = self.max_size if self.max_size is not None else hi_d
        if self.min_size is None:
            lo = min(lo, hi)
        if self.max_size is None:
            hi = max(hi, lo)
        return int(lo), int(hi)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["years"] = list(self.years)
        out["min_size"], out["max_size"] = self.size_range
        return out


@dataclass(frozen=True)
class SitePlan:
    """Where and how big one site is; derived from the config alone (no pixels)."""

    name: str
    country: str
    height: int
    width: int
    epsg: int
    origin: tuple[float, float]  # upper-left corner (easting, northing), metres
    label_stem: str = "Year"     # "Year", "Label" or "year"

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    @property
    def transform(self) -> Affine:
        # == rasterio.transform.from_origin(x, y, GSD_M, GSD_M), without its deprecation warning
        return Affine(GSD_M, 0.0, self.origin[0], 0.0, -GSD_M, self.origin[1])


# --------------------------------------------------------------------------------------------
# Planning: names, sizes and georeferencing
# --------------------------------------------------------------------------------------------
def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent generator per (seed, keys): stable whatever else is generated."""
    words = [int(seed) & 0xFFFFFFFF]
    for key in keys:
        words.append(zlib.crc32(str(key).encode()) if isinstance(key, str) else int(key) & 0xFFFFFFFF)
    return np.random.default_rng(words)


def official_site_names() -> list[str]:
    """The 133 benchmark sites: train + val + test of the official split (its duplicate Germany_13
    once) plus the unlisted Greece_3; the excluded sites are not part of the benchmark."""
    split = load_resource("euromine_official_split.json")
    names: list[str] = []
    for key in ("train", "val", "test", "unlisted_sites"):
        for name in split[key]:
            if name not in names and name not in split["excluded_sites"]:
                names.append(name)
    return names


def _default_site_names(num_sites: int) -> list[str]:
    counters = {c: 100 for c in DEFAULT_COUNTRIES}
    names = []
    for i in range(num_sites):
        country = DEFAULT_COUNTRIES[i % len(DEFAULT_COUNTRIES)]
        counters[country] += 1
        names.append(f"{country}_{counters[country]}")
    return names


def plan_sites(config: SyntheticConfig) -> list[SitePlan]:
    """Names, sizes, UTM zones and origins of the sites the config describes."""
    names = official_site_names() if config.official_names else _default_site_names(config.num_sites)
    lo, hi = config.size_range
    plans = []
    for i, name in enumerate(names):
        rng = _rng(config.seed, "plan", name)
        height, width = (int(v) for v in rng.integers(lo, hi + 1, size=2))
        if i == 1 and lo < 160:  # the archive has sites under one patch: keep one in every archive
            height = int(rng.integers(lo, min(hi, 159) + 1))
        country = country_of(name)
        lat0, lon0 = COUNTRY_CENTRES.get(country, (48.0, 15.0))
        lat = lat0 + rng.uniform(-1.2, 1.2)
        lon = lon0 + rng.uniform(-1.8, 1.8)
        zone = int((lon + 180.0) // 6.0) + 1
        central = -183.0 + 6.0 * zone
        easting = 500000.0 + (lon - central) * 111320.0 * np.cos(np.radians(lat))
        northing = lat * 110574.0
        origin = (round(easting / GSD_M) * GSD_M, round(northing / GSD_M) * GSD_M)
        stem = "Year"
        if config.alternative_label_names and not config.official_names:
            stem = {3: "Label", 7: "year"}.get(i, "Year")
        elif config.alternative_label_names:
            stem = {"Germany_1": "Label", "Spain_2": "year"}.get(name, "Year")
        plans.append(SitePlan(name, country, height, width, 32600 + zone, (float(origin[0]), float(origin[1])), stem))
    return plans


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------
def _bspline_taps(n_out: int, n_grid: int, scale: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n_out, 4) and weights (n_out, 4) of cubic B-spline interpolation of a grid at
    positions ``shift + i / scale``."""
    pos = shift + np.arange(n_out, dtype=np.float64) / scale + 1.0
    base = np.floor(pos).astype(np.intp)
    t = pos - base
    weights = np.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3], axis=1) / 6.0
    index = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, n_grid - 1)
    return index, weights.astype(np.float32)


def _upsample(grid: np.ndarray, shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Separable cubic B-spline upsampling by gathers (no BLAS: multi-threaded BLAS stalls badly
    on a busy machine, and four taps per axis are cheap anyway)."""
    (iy, wy), (ix, wx) = (_bspline_taps(n, g, scale, float(rng.uniform(0, 1))) for n, g in zip(shape, grid.shape))
    rows = sum(wy[:, k, None] * grid[iy[:, k], :] for k in range(4))
    return sum(wx[None, :, k] * rows[:, ix[:, k]] for k in range(4))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float, octaves: int = 3) -> np.ndarray:
    """Fractal value noise: random grids at spacing scale, scale/2, ... upsampled with cubic
    B-splines and summed (amplitude halving per octave); zero mean, unit std.

    Separable upsampling (two small matrix products) gives the look of a wide Gaussian filter at a
    fraction of its cost, which matters because these fields dominate a site's generation time.
    """
    h, w = shape
    out = np.zeros(shape, dtype=np.float32)
    amp = 1.0
    for _ in range(octaves):
        if scale < 4.0:  # fine grain: a small Gaussian filter of white noise is cheaper
            octave = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 0.5 * max(scale, 1.0), mode="wrap")
        else:
            gh, gw = int(np.ceil(h / scale)) + 4, int(np.ceil(w / scale)) + 4
            grid = rng.standard_normal((gh, gw), dtype=np.float32)
            octave = _upsample(grid, shape, scale, rng)
        sd = float(octave.std())
        out += (amp / sd if sd > 0 else amp) * octave
        amp *= 0.5
        scale /= 2.0
    out -= out.mean()
    sd = float(out.std())
    return out / sd if sd > 0 else out


def _top(field_: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the ``fraction`` of pixels where the field is highest (a linear-time partition,
    so a land cover gets an exact share of the scene whatever the field's distribution)."""
    k = int(round(fraction * field_.size))
    if k <= 0:
        return np.zeros(field_.shape, dtype=bool)
    threshold = np.partition(field_.ravel(), field_.size - k)[field_.size - k]
    return field_ >= threshold


# --------------------------------------------------------------------------------------------
# Scene: static land cover, confusers and mine components
# --------------------------------------------------------------------------------------------
@dataclass
class _Component:
    kind: str            # "pit", "dump" or "pond"
    material: str
    behaviour: str       # "expand", "revegetate", "fluctuate", "appear", "drain"
    areas: np.ndarray    # pixel count per year index


@dataclass
class _Scene:
    cover: np.ndarray             # int8 material index of the land cover (confusers included)
    cover_w: np.ndarray           # float32 static part of the land cover's mixing weight
    dry_coef: np.ndarray          # float32 how much the year's dryness moves the weight (vegetation)
    water: np.ndarray             # bool natural water (its turbidity varies by year)
    parcel: np.ndarray            # int32 crop parcel id (-1 elsewhere)
    n_parcels: int
    field: np.ndarray             # int32 Voronoi field id of every pixel (meadows are mown by parcel too)
    n_fields: int
    site_id: np.ndarray           # int32 construction-site id (-1 elsewhere)
    site_years: np.ndarray        # int (n_sites, 2): first and after-last year index of works
    territory: np.ndarray         # intp component index owning each pixel
    rank: np.ndarray              # int32 order in which the owning component covers the pixel
    phi: np.ndarray               # float32 normalised distance to the owning component's centre
    tex: np.ndarray               # float32 fine albedo texture
    tex_coarse: np.ndarray        # float32
    components: list[_Component] = field(default_factory=list)


def _voronoi(rng: np.random.Generator, h: int, w: int, spacing: float) -> tuple[np.ndarray, int]:
    """Label image of Voronoi-like cells: one seed jittered inside each ``spacing`` grid cell
    (plus a ring of cells around the raster), each pixel taking the nearest seed among the 3x3
    grid cells around it — exact except in rare corners, and far cheaper than a KD-tree query
    for every pixel."""
    gh, gw = int(np.ceil(h / spacing)) + 2, int(np.ceil(w / spacing)) + 2
    seeds = (np.stack(np.mgrid[-1 : gh - 1, -1 : gw - 1], axis=0) + rng.uniform(0.0, 1.0, size=(2, gh, gw))) * spacing
    sy, sx = seeds[0].astype(np.float32).ravel(), seeds[1].astype(np.float32).ravel()
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    base = (np.floor(y / spacing).astype(np.intp) + 1) * gw + (np.floor(x / spacing).astype(np.intp) + 1)
    offsets = np.array([oy * gw + ox for oy in (-1, 0, 1) for ox in (-1, 0, 1)], dtype=np.intp)
    dist = np.empty((offsets.size, h, w), dtype=np.float32)
    for i, off in enumerate(offsets):
        idx = base + off
        dist[i] = (y - sy[idx]) ** 2 + (x - sx[idx]) ** 2
    cell = base + offsets[np.argmin(dist, axis=0)]
    return cell.astype(np.int32), gh * gw


def _edges(label: np.ndarray) -> np.ndarray:
    edge = np.zeros(label.shape, dtype=bool)
    edge[1:] |= label[1:] != label[:-1]
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    return edge


def _land_cover(rng: np.random.Generator, h: int, w: int, n_years: int, tex_coarse: np.ndarray, tex: np.ndarray,
                keep_out: np.ndarray):
    """Land cover, with confusers placed outside ``keep_out`` (the mines' reach plus a margin).

    Confusers (``CONFUSER_MATERIALS`` outside the mines, plus ploughed fields in a year) take
    15-20 % of the scene: quarries in the site's own rock, construction sites of grey spoil that
    come and go, industrial estates, sand and gravel yards, lakes and turbid ponds, and crop
    parcels that are bare (ploughed or harvested) in the year — about a third of the cropland.
    """
    size = float(np.sqrt(h * w))
    g, fo, cr, ba, wa, bu, ind = (_MAT[m] for m in ("grassland", "forest", "crops", "bare_soil", "water", "built_up", "industrial"))
    free = ~keep_out
    cover = np.full((h, w), g, dtype=np.int8)

    def blobs(scale: float, fraction: float) -> np.ndarray:
        noise = _smooth_noise(rng, (h, w), scale)
        noise[keep_out] = -np.inf
        return _top(noise, fraction) & free

    # field boundaries bent by a smooth warp (hedges, tracks and streams are not straight lines)
    field_id, n_fields = _voronoi(rng, h, w, rng.uniform(25.0, 45.0))
    field_id = _warp_labels(rng, field_id, 4.0, max(6.0, size / 12.0))
    crops = _top(_smooth_noise(rng, (h, w), size / 2.5), rng.uniform(0.3, 0.45))
    forest = (_top(_smooth_noise(rng, (h, w), size / 5.0), rng.uniform(0.15, 0.35))) & ~crops
    cover[crops] = cr
    cover[forest] = fo
    built = _top(_smooth_noise(rng, (h, w), max(6.0, size / 14.0)), rng.uniform(0.02, 0.045))
    cover[built] = bu
    industrial = blobs(max(5.0, size / 22.0), rng.uniform(0.015, 0.03))
    cover[industrial] = ind
    bare = blobs(max(5.0, size / 18.0), rng.uniform(0.01, 0.025))
    cover[bare] = ba  # sand and gravel yards, eroded slopes
    quarry = blobs(max(5.0, size / 16.0), rng.uniform(0.015, 0.03))
    cover[quarry] = _MAT["pit_rock"]
    water = blobs(max(6.0, size / 12.0), rng.uniform(0.012, 0.03))
    if rng.random() < 0.5:  # a river crossing the scene
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        meander = _smooth_noise(rng, (h, w), size / 3.0) * size * 0.08
        centre = rng.uniform(0.2, 0.8) * h + (xx - w / 2) * rng.uniform(-0.4, 0.4) + meander
        water |= (np.abs(yy - centre) < rng.uniform(1.5, 3.5)) & free
    cover[water] = wa
    lakes, n_lakes = ndimage.label(water)
    # turbid ponds and flooded quarries: the tailings ponds' twins, brownish or turquoise
    kind = np.concatenate([[0.0], rng.random(n_lakes)])[lakes]
    turbid = (kind > 0.0) & (kind < 0.45)
    cover[turbid] = np.where(kind[turbid] < 0.25, _MAT["pond_brown"], _MAT["pond_turquoise"])
    # construction sites: grey spoil for two to four years, then buildings
    works = blobs(max(4.0, size / 28.0), rng.uniform(0.015, 0.03)) & ~water & ~quarry
    site_id, n_sites = ndimage.label(works)
    start = rng.integers(-2, n_years, size=n_sites)
    site_years = np.stack([start, start + rng.integers(2, 5, size=n_sites)], axis=1)
    if n_sites == 0:  # a small scene may have no works: one never-active row keeps lookups valid
        site_years = np.zeros((1, 2), dtype=np.int64)

    # crop parcels: fields 250-450 m across; margins read as grassland
    crop_land = cover == cr
    cover[crop_land & _edges(field_id) & (rng.random((h, w)) < 0.6)] = g
    parcel = np.where(cover == cr, field_id, -1)

    # static part of each land cover's mixing weight, and its sensitivity to the year's dryness
    cover_w = np.zeros((h, w), dtype=np.float32)
    dry_coef = np.zeros((h, w), dtype=np.float32)
    sel = cover == g
    cover_w[sel], dry_coef[sel] = 0.2 * tex_coarse[sel], 1.0
    sel = cover == fo
    cover_w[sel], dry_coef[sel] = 0.15 * tex_coarse[sel], 0.5
    sel = cover == bu
    cover_w[sel] = 0.4 + 0.3 * tex_coarse[sel]
    cover_w[industrial] = 0.35 + 0.35 * tex_coarse[industrial]
    cover_w[bare] = 0.5 + 0.3 * tex_coarse[bare]
    cover_w[quarry] = 0.25 + 0.3 * tex_coarse[quarry]
    sel = cover == wa
    cover_w[sel] = 0.2 * tex_coarse[sel]
    cover_w[turbid] = 0.1 + 0.1 * tex_coarse[turbid]
    sel = parcel >= 0
    cover_w[sel] = 0.08 * tex[sel]
    return cover, cover_w, dry_coef, cover == wa, parcel, n_fields, field_id, n_fields, site_id - 1, site_years


def _warp_labels(rng: np.random.Generator, label: np.ndarray, amplitude: float, scale: float) -> np.ndarray:
    """Resample a label image at smoothly displaced positions (nearest), bending straight edges."""
    h, w = label.shape
    dy = np.rint(amplitude * _smooth_noise(rng, (h, w), scale, octaves=2)).astype(np.intp)
    dx = np.rint(amplitude * _smooth_noise(rng, (h, w), scale, octaves=2)).astype(np.intp)
    yy = np.clip(np.arange(h)[:, None] + dy, 0, h - 1)
    xx = np.clip(np.arange(w)[None, :] + dx, 0, w - 1)
    return label[yy, xx]


def _schedules(rng: np.random.Generator, n_pixels: int, n_years: int) -> list[tuple[str, str, str, np.ndarray]]:
    """Mine components with their area per year in pixels: (kind, material, behaviour, areas).

    Shares are of the site's first-year footprint. Pits and active dumps grow (monotone),
    rehabilitated dumps shrink from some year on (monotone), ponds fluctuate (reversible change,
    which keeps the changed fraction sub-linear in the interval as in the paper), and now and then
    a dump appears or a pond is drained.
    """
    footprint = rng.uniform(0.15, 0.24) * n_pixels
    n_complexes = int(rng.integers(1, 4))
    comps: list[tuple[str, str, str, float]] = []
    coal = rng.random() < 0.35
    for _ in range(n_complexes):
        comps.append(("pit", "pit_coal" if coal else "pit_rock", "expand", rng.uniform(0.25, 0.45)))
        for _ in range(int(rng.integers(1, 3))):
            comps.append(("dump", "dump", "expand", rng.uniform(0.1, 0.25)))
        comps.append(("dump", "dump", "revegetate", rng.uniform(0.12, 0.3)))
        for _ in range(int(rng.integers(1, 3))):
            comps.append(("pond", "pond_turquoise" if rng.random() < 0.5 else "pond_brown", "fluctuate", rng.uniform(0.06, 0.14)))
    if rng.random() < 0.8:
        comps.append(("dump", "dump", "appear", 0.0))
    if rng.random() < 0.3:
        comps.append(("pond", "pond_brown", "drain", rng.uniform(0.04, 0.1)))
    shares = np.array([c[3] for c in comps])
    shares = shares / shares.sum()

    out = []
    k = np.arange(n_years)
    for (kind, material, behaviour, _), share in zip(comps, shares):
        a0 = share * footprint
        if behaviour == "expand":
            steps = rng.gamma(2.0, _GROWTH_RATE / 2.0, size=n_years) * (rng.random(n_years) > 0.15)
            steps[0] = 0.0
            areas = a0 * np.cumprod(1.0 + steps)
        elif behaviour == "revegetate":
            start = int(rng.integers(0, max(1, n_years - 3)))
            areas = a0 * np.clip(1.0 - _REVEG_RATE * rng.uniform(0.7, 1.3) * np.clip(k - start, 0, None), 0.15, 1.0)
        elif behaviour == "fluctuate":
            areas = a0 * (1.0 + _POND_LEVEL_SD * np.clip(rng.standard_normal(n_years), -2.0, 2.0))
        elif behaviour == "appear":
            start = int(rng.integers(1, n_years))
            final = footprint * rng.uniform(0.03, 0.07)
            areas = np.where(k >= start, final * np.minimum(1.0, (k - start + 1) / 3.0), 0.0)
        else:  # drain
            start = int(rng.integers(min(2, n_years - 1), n_years))
            areas = np.where(k < start, a0, np.where(k == start, 0.4 * a0, 0.0))
        out.append((kind, material, behaviour, np.round(areas).astype(np.int64)))
    return out


def _mines(rng: np.random.Generator, h: int, w: int, n_years: int, warp: tuple[np.ndarray, np.ndarray]):
    """Place mine components and fix the order in which each covers its pixels.

    Components own weighted-Voronoi territories around centres clustered into one to three mine
    complexes (pits beside their dumps and ponds). Inside a territory, pixels are ordered by small
    Voronoi cells (~6 px, dump lobes / pit benches) sorted by their warped elliptical distance to
    the centre plus jitter, then by distance inside a cell. A component of area A is its first A
    pixels, so growth and shrinkage come in coherent chunks at an irregular front, never as
    scattered pixels.
    """
    n = h * w
    specs = _schedules(rng, n, n_years)
    n_comp = len(specs)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    max_area = np.array([max(float(s[3].max()), 1.0) for s in specs])
    radius = np.maximum(np.sqrt(max_area / np.pi), 1.0)
    spread = 0.9 * np.sqrt(max_area.sum() / np.pi)
    centre = np.array([rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w])
    best = np.full((h, w), np.inf, dtype=np.float32)
    territory = np.zeros((h, w), dtype=np.intp)
    for c in range(n_comp):
        if c > 0 and rng.random() < 0.25:  # another complex elsewhere in the scene
            centre = np.array([rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w])
        cy, cx = np.clip(centre + rng.normal(0.0, 1.0, 2) * spread, 0, [h - 1, w - 1])
        angle, ratio = rng.uniform(0, np.pi), rng.uniform(0.45, 1.0)
        dy, dx = yy - cy, xx - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = (-dy * np.sin(angle) + dx * np.cos(angle)) / ratio
        d = np.sqrt(u * u + v * v) * np.exp(rng.uniform(0.15, 0.35) * warp[0] + rng.uniform(0.05, 0.2) * warp[1])
        d /= radius[c]
        closer = d < best
        best[closer] = d[closer]
        territory[closer] = c
    phi = best

    cell, n_cells = _voronoi(rng, h, w, 6.0)
    key = territory.ravel() * n_cells + cell.ravel()
    uniq, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse)
    cell_phi = np.bincount(inverse, weights=phi.ravel()) / counts
    cell_phi += rng.normal(0.0, 1.0, size=uniq.size) * (4.0 / radius[uniq // n_cells])
    order = np.lexsort((phi.ravel(), cell_phi[inverse], territory.ravel()))
    terr_sorted = territory.ravel()[order]
    starts = np.searchsorted(terr_sorted, np.arange(n_comp))
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32) - starts[terr_sorted]
    comps = [_Component(kind, material, behaviour, areas) for kind, material, behaviour, areas in specs]
    return territory, rank.reshape(h, w), phi, comps


def _build_scene(rng: np.random.Generator, h: int, w: int, n_years: int) -> _Scene:
    size = float(np.sqrt(h * w))
    tex = _smooth_noise(rng, (h, w), 3.0, octaves=2)
    tex_coarse = _smooth_noise(rng, (h, w), max(4.0, size / 10.0))
    warp = (_smooth_noise(rng, (h, w), max(4.0, size / 6.0)), _smooth_noise(rng, (h, w), max(3.0, size / 16.0)))
    territory, rank, phi, comps = _mines(rng, h, w, n_years, warp)
    reach = rank < np.array([max(int(c.areas.max()), 0) for c in comps])[territory]
    keep_out = ndimage.binary_dilation(reach, iterations=3)
    cover, cover_w, dry_coef, water, parcel, n_parcels, field_id, n_fields, site_id, site_years = _land_cover(
        rng, h, w, n_years, tex_coarse, tex, keep_out)
    return _Scene(cover, cover_w, dry_coef, water, parcel, n_parcels, field_id, n_fields, site_id, site_years,
                  territory, rank, phi, tex, tex_coarse, comps)


# --------------------------------------------------------------------------------------------
# Rendering one year: surface, terrain, sensor, annotation
# --------------------------------------------------------------------------------------------
def _site_spectra(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """End members with a per-site brightness and spectral tilt per material (geology, soils)."""
    a = np.array([MATERIALS[m][0] for m in _MAT_NAMES], dtype=np.float32)
    b = np.array([MATERIALS[m][1] for m in _MAT_NAMES], dtype=np.float32)
    tex = np.array([MATERIALS[m][2] for m in _MAT_NAMES], dtype=np.float32)
    gain = rng.normal(1.0, 0.1, size=(len(_MAT_NAMES), 1)).astype(np.float32)
    tilt = rng.normal(0.0, 0.06, size=(len(_MAT_NAMES), 1)).astype(np.float32) * np.linspace(-1, 1, len(BANDS), dtype=np.float32)
    return a * (gain + tilt), b * (gain + tilt), tex


def _hillshade(z: np.ndarray, azimuth_deg: float = 150.0, elevation_deg: float = 40.0) -> np.ndarray:
    """Illumination factor of a height field (pixels), 1 on flat ground: direct light on the
    slope over direct light on the flat, plus a diffuse floor, so bench faces turned from the
    sun (south-east, late morning) are dark and faces towards it bright."""
    dz_drow, dz_dcol = np.gradient(z)
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    sun = np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], dtype=np.float32)  # east, north, up
    # surface normal (-dz/dx_east, -dz/dy_north, 1), with north = -row
    nx, ny = -dz_dcol, dz_drow
    direct = (nx * sun[0] + ny * sun[1] + sun[2]) / np.sqrt(nx * nx + ny * ny + 1.0)
    return (0.25 + 0.75 * np.clip(direct, 0.0, None) / sun[2]).astype(np.float32)


def _blur3(x: np.ndarray, a: float) -> np.ndarray:
    """Separable 3-tap blur [a, 1-2a, a] over the last two axes (edges replicated)."""
    for axis in (-1, -2):
        y = x * (1.0 - 2.0 * a)
        lo = [slice(None)] * x.ndim
        hi = [slice(None)] * x.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        y[tuple(hi)] += a * x[tuple(lo)]
        y[tuple(lo)] += a * x[tuple(hi)]
        first = [slice(None)] * x.ndim
        last = [slice(None)] * x.ndim
        first[axis], last[axis] = slice(0, 1), slice(-1, None)
        y[tuple(first)] += a * x[tuple(first)]
        y[tuple(last)] += a * x[tuple(last)]
        x = y
    return x


def _uniform_noise(rng: np.random.Generator, shape: tuple[int, ...], sd: np.ndarray) -> np.ndarray:
    """Zero-mean uniform noise with per-band standard deviation (cheaper than normal draws)."""
    noise = rng.random(shape, dtype=np.float32)
    noise -= 0.5
    noise *= (sd * np.float32(np.sqrt(12.0)))[:, None, None]
    return noise


def _sensor(refl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the L2A product makes of a 10 m surface: the 10 m bands through a point-spread blur
    plus noise; the 20 m bands averaged over 2x2 blocks (their own pixels), blurred and noised at
    20 m, then brought back to the 10 m grid by nearest-neighbour resampling (each 20 m pixel
    covers exactly four 10 m pixels; the archive's exports keep the 20 m blocks)."""
    _, h, w = refl.shape
    out = np.empty_like(refl)
    ten = _blur3(refl[_I10], PSF_TAP_10M)
    ten += _uniform_noise(rng, ten.shape, NOISE_SD_DN[_I10])
    out[_I10] = ten
    coarse = refl[_I20]
    if h % 2 or w % 2:
        coarse = np.pad(coarse, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    coarse = (coarse[:, 0::2, 0::2] + coarse[:, 1::2, 0::2] + coarse[:, 0::2, 1::2] + coarse[:, 1::2, 1::2]) * 0.25
    coarse = _blur3(coarse, PSF_TAP_20M)
    coarse += _uniform_noise(rng, coarse.shape, NOISE_SD_DN[_I20])
    out[_I20] = np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2)[:, :h, :w]
    return out


def _inner_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of each ``mask`` pixel to the nearest pixel outside it (0 outside),
    computed on the mask's bounding box only (mines cover a fifth of a scene)."""
    out = np.zeros(mask.shape, dtype=np.float64)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
        c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
        out[r0:r1, c0:c1] = ndimage.distance_transform_edt(mask[r0:r1, c0:c1])
    return out


def _remove_small(mask: np.ndarray, min_px: int) -> np.ndarray:
    """``mask`` without its 4-connected components smaller than ``min_px`` pixels."""
    label, n = ndimage.label(mask)
    if n == 0:
        return mask
    small = np.bincount(label.ravel(), minlength=n + 1) < min_px
    small[0] = False
    return mask & ~small[label]


def _annotate(mine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The year's label as an annotator draws it anew over the image: the outline generalised
    (smoothed, corners rounded), shifted by up to ~2 px in or out on about
    ``LABEL_JITTER_SHARE`` of its length (independently each year, so unchanged land yields
    small spurious one-year changes, as in real multi-year annotation), and features smaller than
    the minimum mapping unit — specks and holes — left out."""
    h, w = mine.shape
    soft = ndimage.gaussian_filter(mine.astype(np.float32), LABEL_SIGMA_PX, mode="nearest", truncate=3.0)
    shift = _smooth_noise(rng, (h, w), 8.0, octaves=1)
    where = _smooth_noise(rng, (h, w), 14.0, octaves=1)
    cut = float(np.quantile(where[:: 4, :: 4], 1.0 - LABEL_JITTER_SHARE))
    level = 0.5 + 0.4 * np.tanh(shift) * (where > cut)
    label = soft > level
    # a drawn outline has no one-pixel notches or spikes: 3x3 majority
    label = ndimage.uniform_filter(label.astype(np.float32), 3, mode="nearest") > 0.5
    label = _remove_small(label, MIN_MAPPING_UNIT_PX)
    return ~_remove_small(~label, MIN_MAPPING_UNIT_PX)


@dataclass
class RenderedYear:
    """One year of one site: what is written (``image``, ``label``) and the truth behind it."""

    year: int
    image: np.ndarray      # uint16 (10, H, W)
    label: np.ndarray      # uint8 (H, W) in {0, 255}: the annotation
    mine: np.ndarray       # bool (H, W): the mine's true extent on the ground
    confuser: np.ndarray   # bool (H, W): non-mine land with a mine material's spectrum this year


def render_site(plan: SitePlan, config: SyntheticConfig) -> Iterator[RenderedYear]:
    """Render every year of one site (deterministic in ``(config.seed, plan.name)``)."""
    rng = _rng(config.seed, "site", plan.name)
    h, w = plan.height, plan.width
    size = float(np.sqrt(h * w))
    scene = _build_scene(rng, h, w, len(config.years))
    spec_a, spec_b, tex_amp = _site_spectra(rng)
    spec_a_t, spec_d_t = np.ascontiguousarray(spec_a.T), np.ascontiguousarray((spec_b - spec_a).T)  # (bands, materials)
    comps = scene.components
    terr = scene.territory
    areas = np.stack([c.areas for c in comps], axis=1)  # (years, components)
    kind = np.array([c.kind for c in comps])[terr]
    is_pit, is_pond, is_dump = kind == "pit", kind == "pond", kind == "dump"
    grassed = np.array([c.behaviour == "revegetate" for c in comps])[terr]
    # static look of mine pixels: spoil from grey to partly grassed; rehabilitated dumps grassed
    # over (still mining land); pits get benches per year from the terrain below
    mine_mat = np.array([_MAT[c.material] for c in comps], dtype=np.int8)[terr]
    mine_mat[grassed] = _MAT["revegetating"]
    mine_w = np.where(grassed, 0.55 + 0.3 * scene.tex_coarse, 0.25 + 0.4 * scene.tex_coarse).astype(np.float32)
    left_material = np.where(is_pond, _MAT["drained_pond"], _MAT["revegetating"]).astype(np.int8)
    pit_lake = rng.random() < 0.5  # water in the deepest benches of this site's pits
    bench_px = rng.uniform(3.0, 6.0)  # bench width
    bench_dz = rng.uniform(1.0, 2.0)  # bench height, in pixels (10-20 m)
    bench_warp = _smooth_noise(rng, (h, w), 5.0, octaves=2) * 1.2
    veg_field = _smooth_noise(rng, (h, w), 7.0, octaves=2)
    crop = scene.parcel >= 0
    parcel = np.where(crop, scene.parcel, 0)
    confuser_static = np.isin(scene.cover, [_MAT[m] for m in CONFUSER_MATERIALS])
    haze_pattern = 1.0 + 0.3 * _smooth_noise(rng, (h, w), max(6.0, size / 4.0))
    haze_spectrum = (WAVELENGTH_NM[0] / WAVELENGTH_NM) ** 2.0
    last_mine = np.full((h, w), -1, dtype=np.int32)
    ever_mine = np.zeros((h, w), dtype=bool)
    g_mat, bu_mat, dump_mat, water_mat = _MAT["grassland"], _MAT["built_up"], _MAT["dump"], _MAT["water"]

    for t, year in enumerate(config.years):
        yr = _rng(config.seed, "year", plan.name, year)  # the year's own draws: nuisance, phenology
        mine = scene.rank < areas[t][terr]
        # phenology: a site-wide date effect, per field (mown, grazed, dry meadows) and per pixel
        dryness = float(np.clip(yr.normal(0.3, 0.15), 0.0, 0.8))
        dry = dryness + yr.normal(0.0, 0.2, size=scene.n_fields).astype(np.float32)[scene.field]
        dry += 0.15 * _smooth_noise(yr, (h, w), max(6.0, size / 8.0), octaves=2)
        turbidity = float(yr.uniform(0.0, 0.6))
        # crop state per parcel and year: green, ripening / sparse, ploughed or harvested
        state = yr.choice(np.array([0.05, 0.45, 0.97], dtype=np.float32), size=scene.n_parcels, p=[0.42, 0.23, 0.35])
        wmix = scene.cover_w + scene.dry_coef * dry + scene.water * turbidity + crop * state[parcel]
        mat = scene.cover.copy()
        confuser = confuser_static | (crop & (state[parcel] > 0.9))
        # construction sites: spoil while works run, buildings after, the old cover before
        works = scene.site_id >= 0
        sid = np.where(works, scene.site_id, 0)
        start, stop = scene.site_years[sid, 0], scene.site_years[sid, 1]
        active = works & (start <= t) & (t < stop)
        done = works & (t >= stop)
        mat[active], mat[done] = dump_mat, bu_mat
        wmix = np.where(active, 0.1 + 0.25 * scene.tex_coarse, np.where(done, 0.3, wmix))
        confuser |= active
        confuser &= ~done
        # pixels that left a mine keep a trace (bare spoil, drying mud) fading into grassland
        gone = ever_mine & ~mine
        mat[gone] = left_material[gone]
        wmix = np.where(gone, np.maximum(np.where(grassed, mine_w, 0.0), (t - last_mine) / 6.0) + 0.1 * scene.tex, wmix)
        # mines; the terrain: pits cut in irregular benches following the pit's own outline
        # (faces, flat floors, grass on some old benches, a lake in the deepest), dumps as heaps
        pit = mine & is_pit
        depth = _inner_distance(pit) + bench_warp
        steps = np.maximum(depth, 0.0) / bench_px
        level = np.floor(steps)
        face = (steps - level) > 0.7
        z = -bench_dz * (level + np.clip((steps - level - 0.7) / 0.3, 0.0, 1.0)) * pit
        dump = mine & is_dump
        z += (2.0 * (1.0 - np.exp(-_inner_distance(dump) / 4.0))) * dump
        shore = (scene.rank / np.maximum(areas[t][terr], 1) - 0.7) / 0.3
        mat[mine] = mine_mat[mine]
        wmix = np.where(mine, np.where(is_pond, shore, mine_w), wmix)
        pit_w = np.where(face, 0.9, 0.1 + 0.2 * scene.tex_coarse)
        wmix = np.where(pit, pit_w, wmix)
        veg = pit & (level >= 1) & (level <= 3) & (veg_field > 0.2)
        mat[veg], wmix = _MAT["revegetating"], np.where(veg, 0.6 + 0.2 * scene.tex_coarse, wmix)
        if pit_lake:
            lake = pit & (steps >= 4.0)
            mat[lake], wmix = water_mat, np.where(lake, 0.3, wmix)
        np.clip(wmix, 0.0, 1.0, out=wmix)
        wmix = wmix.astype(np.float32, copy=False)
        last_mine[mine] = t
        ever_mine |= mine
        confuser &= ~mine

        mat_index = mat.astype(np.intp)
        refl = spec_a_t[:, mat_index]  # (bands, H, W) in one gather
        refl += spec_d_t[:, mat_index] * wmix
        refl *= 1.0 + tex_amp[mat_index] * scene.tex  # albedo texture
        refl *= _hillshade(z)
        refl *= _BAND_GAIN[:, None, None]
        refl += _PATH_DN[:, None, None]
        if config.nuisance:
            # residual haze of the composite (no clouds: see the module docstring), gain/offset per
            # year and band (calibration, sun angle, composite dates)
            haze = yr.gamma(1.5, 60.0)  # DN in B02
            gain = np.exp(yr.normal(0.0, 0.035) + yr.normal(0.0, 0.015, size=len(BANDS))).astype(np.float32)
            offset = yr.normal(0.0, 25.0, size=len(BANDS)).astype(np.float32)
            refl *= gain[:, None, None]
            refl += (gain * haze * haze_spectrum)[:, None, None] * haze_pattern + offset[:, None, None]
        refl = _sensor(refl, yr)
        np.rint(refl, out=refl)  # whole DN first, so the baseline offset adds exactly 1000
        if config.baseline_offset and year >= 2022:
            refl += BASELINE_OFFSET_DN
        # clip deliberately (saturate, never wrap); 0 is L2A no-data, so land starts at 1
        np.clip(refl, 1.0, 65535.0, out=refl)
        label = _annotate(mine, yr).astype(np.uint8) * np.uint8(LABEL_MINE_VALUE)
        yield RenderedYear(year, refl.astype(np.uint16), label, mine, confuser)


def _render_years(plan: SitePlan, config: SyntheticConfig) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(year, image uint16 (10,H,W), label uint8 (H,W) in {0,255})`` for every year."""
    for r in render_site(plan, config):
        yield r.year, r.image, r.label


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _write_site(out_dir: Path, plan: SitePlan, config: SyntheticConfig) -> None:
    """Write one site into a hidden temp folder and rename it into place (replacing an old one)."""
    tmp = make_temp_dir(out_dir, f"{_TMP_PREFIX}{plan.name}-")
    compress = None if config.compress.lower() == "none" else config.compress.lower()
    try:
        for year, image, label in _render_years(plan, config):
            write_geotiff(tmp / "image" / f"Year{year}.tif", image, plan.crs, plan.transform, compress=compress)
            write_geotiff(tmp / "label" / f"{plan.label_stem}{year}.tif", label, plan.crs, plan.transform, compress=compress)
        replace_folder(tmp, out_dir / plan.name, aside_prefix=f"{_TMP_PREFIX}old-{plan.name}-")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def describe(config: SyntheticConfig, plans: list[SitePlan] | None = None) -> dict[str, Any]:
    """The content of ``synthetic.json``: enough to know whether an archive matches a config."""
    plans = plan_sites(config) if plans is None else plans
    return {
        "generator": "euromine_hf.data.synthetic",
        "version": SYNTHETIC_VERSION,
        "config": config.to_json(),
        "bands": list(BANDS),
        "years": list(config.years),
        "sites": [p.name for p in plans],
        "note": "Synthetic stand-in for EuroMineNet; not real Sentinel-2 data.",
    }


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_json(path, payload, indent=2)


#: Peak memory of synthesising one site, per pixel of its raster: 350 B measured with tracemalloc
#: at 256 and 512 px (the ten years' layers, land cover and mine fields), rounded up for GDAL.
BYTES_PER_PIXEL = 400


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable``, capped by a cgroup v2 limit; None
    where neither can be read (then nothing is checked)."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(plans: Sequence[SitePlan]) -> None:
    """Refuse sites too large for this machine's memory before allocating anything: a
    ``--max-size 100000`` site would need terabytes and end in a ``MemoryError`` (or the OOM killer)."""
    if not plans:
        return
    largest = max(plans, key=lambda p: p.height * p.width)
    need = largest.height * largest.width * BYTES_PER_PIXEL
    have = available_memory()
    if have is not None and need > have:
        side = int((have / BYTES_PER_PIXEL) ** 0.5)
        raise ValueError(
            f"SyntheticConfig: max_size: a {largest.height}x{largest.width} px site needs about {need / 2**30:.1f} GiB "
            f"of memory, {have / 2**30:.1f} GiB is available; expected a max_size (--max-size) of at most {side}"
        )


def generate_archive(
    out_dir: str | Path,
    config: SyntheticConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> list[str]:
    """Write the synthetic archive's raw layout into ``out_dir``; return the site names written.

    Refuses a non-empty ``out_dir`` unless ``overwrite``. With ``overwrite`` the old description
    is removed first (the folder reads as incomplete until the new one lands), each site folder is
    replaced atomically, and sites that an earlier synthetic archive listed but this config does
    not are removed; files the generator did not write are left alone.
    """
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir}: folder is not empty (pass overwrite=True / --overwrite to replace it)")
    plans = plan_sites(config)
    check_memory(plans)  # before anything is created or allocated
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{_TMP_PREFIX}*"):  # leftovers of a killed run
        shutil.rmtree(stale, ignore_errors=True)
    desc_path = out_dir / DESCRIPTION_FILE
    previous: list[str] = []
    if desc_path.exists():
        with contextlib.suppress(ValueError, OSError):
            previous = list(json.loads(desc_path.read_text(encoding="utf-8")).get("sites", []))
        desc_path.unlink()
    names = {p.name for p in plans}
    for name in previous:
        if name not in names and "/" not in name and (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name)

    iterator: Any = plans
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(plans, desc="synthesising sites", unit="site")
    for plan in iterator:
        _write_site(out_dir, plan, config)
    _write_json_atomic(desc_path, describe(config, plans))
    return [p.name for p in plans]


def archive_matches(out_dir: str | Path, config: SyntheticConfig) -> bool:
    """True when ``out_dir`` holds a complete synthetic archive generated from ``config``."""
    out_dir = Path(out_dir)
    try:
        found = json.loads((out_dir / DESCRIPTION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = json.loads(json.dumps(describe(config)))
    if found != expected:
        return False
    n_years = len(config.years)
    for name in expected["sites"]:
        for sub in ("image", "label"):
            folder = out_dir / name / sub
            if not folder.is_dir() or sum(1 for p in folder.iterdir() if p.suffix == ".tif") != n_years:
                return False
    return True


def default_cache_root() -> Path:
    """``$EUROMINE_CACHE`` or ``~/.cache/euromine_hf``."""
    env = os.environ.get("EUROMINE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "euromine_hf"


def is_default_archive(path: str | Path) -> bool:
    """Whether ``path`` is :func:`default_archive`'s folder (without generating anything): a card may call
    only that one "the synthetic default"; another synthetic archive is named by its path."""
    return Path(path).resolve() == (default_cache_root() / f"synthetic-v{SYNTHETIC_VERSION}-seed0").resolve()


def default_archive(cache_root: Path | None = None, config: SyntheticConfig | None = None) -> Path:
    """The default synthetic archive, generated once into ``{cache_root}/synthetic-v{SYNTHETIC_VERSION}-seed0``
    (the version in the name, and in ``synthetic.json``, keeps a stale generator's archive from being reused).

    Reused while its ``synthetic.json`` matches; regenerated otherwise. A file lock keeps
    concurrent callers (parallel tests, several processes) from writing it twice.
    """
    config = config or SyntheticConfig()
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    target = root / f"synthetic-v{SYNTHETIC_VERSION}-seed{config.seed}"
    if config.to_json() != SyntheticConfig(seed=config.seed).to_json():  # not the default: own folder
        digest = zlib.crc32(json.dumps(config.to_json(), sort_keys=True).encode())
        target = target.with_name(f"{target.name}-{digest:08x}")
    if archive_matches(target, config):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{target.name}.lock"):
        if not archive_matches(target, config):
            generate_archive(target, config, overwrite=True)
    return target


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


if tuple(BANDS) != _SPECTRA_BANDS:  # pragma: no cover - guards the spectra table against a band-order change
    raise RuntimeError(f"synthetic spectra are tabulated for {_SPECTRA_BANDS}, package bands are {BANDS}")
