"""The paper's dataset statistics (Tables 1–3) for any set of yearly masks, with plots.

Works for ground truth (an archive) and predictions (a prediction folder) alike, site by site: a
site's yearly masks are folded into one small integer per pixel (bit ``i`` = mine in year ``i``),
a histogram of those codes gives every year's footprint and every year pair's expanded /
decreased pixel counts at once, and the masks are dropped before the next site. Memory stays at
one site.

Definitions (pixel area = GSD², 100 m² at 10 m):

* footprint (km², fraction) per year: mine pixels × pixel area, and mine pixels / site pixels;
* for a year pair ``t1 < t2``: expanded = 0→1 pixels, decreased = 1→0 pixels, total = both
  (the change label ``|G_t2 − G_t1|``);
* per consecutive year step: the pairs ``(t, t+1)``;
* per interval ``k``: summed over *all* pairs with ``t2 − t1 = k`` (10 − k pairs per site with ten
  years); changed fraction = changed pixels / (site pixels × pairs); expansion share =
  expanded / total change.

Everything is given per country and for all sites. Sites of unknown size (cropped archives
without ``sites.json``) are counted over their patches (see :mod:`euromine_hf.data.archive`).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.bands import GSD_M, YEARS, load_resource
from euromine_hf.data.archive import (
    ArchiveError,
    SiteRecord,
    read_label_patches,
    read_prediction,
    read_prediction_patches,
    read_site_label,
    scan_archive,
    scan_predictions,
)

__all__ = [
    "ALL",
    "SiteMasks",
    "SiteCounts",
    "DatasetStatistics",
    "count_site",
    "compute_statistics",
    "archive_masks",
    "prediction_masks",
    "prediction_sites",
    "paper_dataset_statistics",
    "write_statistics",
    "archive_statistics",
]

logger = logging.getLogger(__name__)

#: Row label of the all-sites aggregate.
ALL = "All"
_MAX_CODE_YEARS = 16  # 2**16 histogram bins; more years fall back to pairwise counting


@dataclass
class SiteMasks:
    """How to get one site's masks: ``load(year)`` returns a {0,1} array of the same shape for
    every year (a whole-site raster or a stack of patches; counting only needs pixels aligned)."""

    name: str
    country: str
    years: tuple[int, ...]
    load: Callable[[int], np.ndarray]


@dataclass
class SiteCounts:
    """Pixel counts of one site: its size, mine pixels per year, (expanded, decreased) per pair."""

    name: str
    country: str
    pixels: int
    mine: dict[int, int]
    pairs: dict[tuple[int, int], tuple[int, int]]


def count_site(site: SiteMasks) -> SiteCounts:
    """Count footprint and change of one site, holding one yearly mask at a time."""
    years = tuple(sorted(site.years))
    if not years:
        raise ValueError(f"site {site.name}: expected at least one year of masks")
    if len(years) > _MAX_CODE_YEARS:
        return _count_pairwise(site, years)
    code: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    for i, year in enumerate(years):
        mask = np.asarray(site.load(year))
        if shape is None:
            shape = mask.shape
            code = np.zeros(mask.size, dtype=np.uint16)
        elif mask.shape != shape:
            raise ValueError(f"site {site.name}: mask of {year} has shape {mask.shape}, expected {shape} like the site's other years")
        code |= (mask.reshape(-1) != 0).astype(np.uint16) << np.uint16(i)
    assert code is not None
    hist = np.bincount(code, minlength=1 << len(years)).astype(np.int64)
    codes = np.arange(hist.size)
    bits = [(codes >> i) & 1 for i in range(len(years))]
    mine = {y: int(hist[bits[i] == 1].sum()) for i, y in enumerate(years)}
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    for i, j in combinations(range(len(years)), 2):
        expanded = int(hist[(bits[i] == 0) & (bits[j] == 1)].sum())
        decreased = int(hist[(bits[i] == 1) & (bits[j] == 0)].sum())
        pairs[(years[i], years[j])] = (expanded, decreased)
    return SiteCounts(site.name, site.country, int(code.size), mine, pairs)


def _count_pairwise(site: SiteMasks, years: tuple[int, ...]) -> SiteCounts:
    masks = {y: np.asarray(site.load(y)).reshape(-1) != 0 for y in years}
    pixels = {m.size for m in masks.values()}
    if len(pixels) != 1:
        raise ValueError(f"site {site.name}: yearly masks differ in size ({sorted(pixels)} pixels)")
    mine = {y: int(m.sum()) for y, m in masks.items()}
    pairs = {
        (a, b): (int((~masks[a] & masks[b]).sum()), int((masks[a] & ~masks[b]).sum())) for a, b in combinations(years, 2)
    }
    return SiteCounts(site.name, site.country, pixels.pop(), mine, pairs)


@dataclass
class DatasetStatistics:
    """Accumulated counts per country, and the derived tables (rows as dicts)."""

    gsd_m: float = GSD_M
    sites: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: country -> year -> [mine pixels, site pixels]
    footprint: dict[str, dict[int, np.ndarray]] = field(default_factory=lambda: defaultdict(dict))
    #: country -> (t1, t2) -> [expanded, decreased, site pixels, site pairs]
    pairs: dict[str, dict[tuple[int, int], np.ndarray]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def km2_per_pixel(self) -> float:
        return self.gsd_m * self.gsd_m / 1e6

    def add(self, counts: SiteCounts) -> None:
        for country in (counts.country, ALL):
            self.sites[country].append(counts.name)
            for year, mine in counts.mine.items():
                acc = self.footprint[country].setdefault(year, np.zeros(2, dtype=np.int64))
                acc += (mine, counts.pixels)
            for pair, (exp, dec) in counts.pairs.items():
                acc = self.pairs[country].setdefault(pair, np.zeros(4, dtype=np.int64))
                acc += (exp, dec, counts.pixels, 1)

    @property
    def countries(self) -> list[str]:
        """Countries in alphabetical order, the all-sites aggregate last."""
        return sorted(c for c in self.sites if c != ALL) + ([ALL] if ALL in self.sites else [])

    @property
    def years(self) -> list[int]:
        return sorted(self.footprint.get(ALL, {}))

    # ---- tables ------------------------------------------------------------------------------
    def footprint_rows(self) -> list[dict[str, Any]]:
        rows = []
        for country in self.countries:
            for year, (mine, pixels) in sorted(self.footprint[country].items()):
                rows.append({
                    "country": country, "year": year, "sites": len(self.sites[country]),
                    "mine_pixels": int(mine), "pixels": int(pixels),
                    "footprint_km2": mine * self.km2_per_pixel,
                    "footprint_fraction": mine / pixels if pixels else float("nan"),
                })
        return rows

    def _change_row(self, acc: np.ndarray) -> dict[str, Any]:
        exp, dec, pixels, n = (int(v) for v in acc)
        total = exp + dec
        return {
            "pairs": n, "expanded_pixels": exp, "decreased_pixels": dec, "changed_pixels": total, "pixels": pixels,
            "expanded_km2": exp * self.km2_per_pixel, "decreased_km2": dec * self.km2_per_pixel,
            "total_change_km2": total * self.km2_per_pixel,
            "changed_fraction": total / pixels if pixels else float("nan"),
            "expansion_share": exp / total if total else float("nan"),
        }

    def step_rows(self) -> list[dict[str, Any]]:
        """Consecutive-year steps ``(t, t+1)``."""
        rows = []
        for country in self.countries:
            for (t1, t2), acc in sorted(self.pairs[country].items()):
                if t2 == t1 + 1:
                    rows.append({"country": country, "year_t1": t1, "year_t2": t2, **self._change_row(acc)})
        return rows

    def interval_rows(self) -> list[dict[str, Any]]:
        """All pairs of each interval ``t2 − t1`` pooled."""
        rows = []
        for country in self.countries:
            by_interval: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(4, dtype=np.int64))
            for (t1, t2), acc in self.pairs[country].items():
                by_interval[t2 - t1] += acc
            for k in sorted(by_interval):
                rows.append({"country": country, "interval": k, **self._change_row(by_interval[k])})
        return rows

    # ---- rendering ----------------------------------------------------------------------------
    def to_markdown(self, title: str = "Dataset statistics", paper: dict[str, Any] | None = None) -> str:
        paper = paper_dataset_statistics() if paper is None else paper
        years = self.years
        out = io.StringIO()
        n_sites = len(self.sites.get(ALL, []))
        out.write(f"# {title}\n\n{n_sites} sites, {len(self.countries) - 1} countries, years {years[0]}–{years[-1]}; "
                  f"pixel = {self.gsd_m:g} m × {self.gsd_m:g} m.\n\n" if years else f"# {title}\n\nNo masks.\n")
        if not years:
            return out.getvalue()
        fp = {(r["country"], r["year"]): r for r in self.footprint_rows()}
        out.write("## Table 1. Mine footprint by year (km²)\n\n")
        out.write(_md_table(
            ["Country", "Sites", *map(str, years)],
            [[c, len(self.sites[c]), *[_km2(fp[(c, y)]["footprint_km2"]) if (c, y) in fp else "–" for y in years]] for c in self.countries]
            + [["All, fraction of pixels", n_sites, *[_fmt(fp[(ALL, y)]["footprint_fraction"], 4) for y in years]]]
            + [["Paper, fraction of pixels", 133, *[_fmt(paper.get("footprint_fraction_by_year", {}).get(str(y)), 4) for y in years]]]
        ))
        steps = [r for r in self.step_rows() if r["country"] == ALL]
        out.write("\n## Table 2. Change between consecutive years (all sites)\n\n")
        out.write(_md_table(
            ["Step", "Expanded km²", "Decreased km²", "Total change km²", "Changed fraction", "Expansion share"],
            [[f"{r['year_t1']}→{r['year_t2']}", _km2(r["expanded_km2"]), _km2(r["decreased_km2"]),
              _km2(r["total_change_km2"]), _fmt(r["changed_fraction"], 4), _fmt(r["expansion_share"], 3)] for r in steps]
        ))
        step_keys = [(r["year_t1"], r["year_t2"]) for r in steps]
        by_country_step = {(r["country"], r["year_t1"], r["year_t2"]): r for r in self.step_rows()}
        out.write("\n### Table 2b. Total change between consecutive years by country (km²)\n\n")
        out.write(_md_table(
            ["Country", *[f"{a}→{b}" for a, b in step_keys]],
            [[c, *[_km2(by_country_step[(c, a, b)]["total_change_km2"]) if (c, a, b) in by_country_step else "–" for a, b in step_keys]]
             for c in self.countries]
        ))
        intervals = [r for r in self.interval_rows() if r["country"] == ALL]
        p_frac = paper.get("changed_fraction_by_interval", {})
        p_share = paper.get("expanded_share_by_interval", {})
        out.write("\n## Table 3. Change by interval (all year pairs of each interval, all sites)\n\n")
        out.write(_md_table(
            ["Interval (years)", "Site pairs", "Expanded km²", "Decreased km²", "Total change km²",
             "Changed fraction", "Paper", "Expansion share", "Paper"],
            [[r["interval"], r["pairs"], _km2(r["expanded_km2"]), _km2(r["decreased_km2"]), _km2(r["total_change_km2"]),
              _fmt(r["changed_fraction"], 4), _fmt(p_frac.get(str(r["interval"])), 4),
              _fmt(r["expansion_share"], 3), _fmt(p_share.get(str(r["interval"])), 3)] for r in intervals]
        ))
        ks = [r["interval"] for r in intervals]
        by_country_k = {(r["country"], r["interval"]): r for r in self.interval_rows()}
        out.write("\n### Table 3b. Changed fraction by interval and country\n\n")
        out.write(_md_table(
            ["Country", *map(str, ks)],
            [[c, *[_fmt(by_country_k[(c, k)]["changed_fraction"], 4) if (c, k) in by_country_k else "–" for k in ks]]
             for c in self.countries]
        ))
        return out.getvalue()


def _km2(value: Any) -> str:
    """Areas: two decimals from 10 km² up, four below (small sites and single steps)."""
    return _fmt(value, 2 if value is not None and abs(float(value)) >= 10 else 4)


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "–"
    value = float(value)
    return "–" if np.isnan(value) else f"{value:.{digits}f}"


def _md_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def paper_dataset_statistics() -> dict[str, Any]:
    """``dataset_statistics`` from the paper (``resources/paper_results.json``)."""
    return dict(load_resource("paper_results.json").get("dataset_statistics", {}))


def compute_statistics(sites: Iterable[SiteMasks], progress: bool = False, total: int | None = None) -> DatasetStatistics:
    """Count every site (one at a time) into a :class:`DatasetStatistics`."""
    from tqdm.auto import tqdm

    stats = DatasetStatistics()
    for site in tqdm(sites, total=total, desc="statistics", unit="site", disable=not progress):
        stats.add(count_site(site))
    return stats


# ---- mask sources ---------------------------------------------------------------------------


def archive_masks(sites: Sequence[SiteRecord], years: Iterable[int] | None = None) -> Iterator[SiteMasks]:
    """Ground-truth masks of scanned archive sites (whole-site rasters, or patches when the size of
    a cropped site is unknown)."""
    for site in sites:
        ys = tuple(sorted(set(site.years) & set(years))) if years is not None else tuple(site.years)

        def load(year: int, site: SiteRecord = site) -> np.ndarray:
            return read_site_label(site, year) if site.size_known else read_label_patches(site, year)

        yield SiteMasks(site.name, site.country, ys, load)


def prediction_masks(pred_dir: str | Path, sites: Sequence[SiteRecord], years: Iterable[int] | None = None) -> Iterator[SiteMasks]:
    """Predicted masks for the given sites, over the years each site has in the prediction folder.

    Sites with no predictions are skipped (logged), so a folder for the test split only works
    with the whole archive given.
    """
    found = scan_predictions(pred_dir)
    wanted = set(years) if years is not None else None
    for site in sites:
        ys = found.get(site.name, set())
        if wanted is not None:
            ys &= wanted
        if not ys:
            logger.info("%s: no predictions for site %s; skipped", pred_dir, site.name)
            continue

        def load(year: int, site: SiteRecord = site) -> np.ndarray:
            if site.size_known:
                return read_prediction(pred_dir, site, year)
            return read_prediction_patches(pred_dir, site, year)

        yield SiteMasks(site.name, site.country, tuple(sorted(ys)), load)


def missing_predictions(pred_dir: str | Path, sites: Sequence[SiteRecord], years: Iterable[int] | None = None) -> dict[str, tuple[int, ...]]:
    """The years each of ``sites`` lacks in a prediction folder: against the years any of them has
    (within ``years``), so a folder made for fewer years is not partial, but a site short of some
    (or with none) is. Statistics of such a folder silently cover fewer sites or years."""
    import warnings

    from euromine_hf.data.archive import ArchiveWarning

    with warnings.catch_warnings():  # prediction_masks reports stray files once
        warnings.simplefilter("ignore", ArchiveWarning)
        found = scan_predictions(pred_dir)
    wanted = set(years) if years is not None else None
    have = {s.name: found.get(s.name, set()) & wanted if wanted is not None else found.get(s.name, set()) for s in sites}
    expected = set().union(*have.values())
    return {name: tuple(sorted(expected - ys)) for name, ys in sorted(have.items()) if expected - ys}


def prediction_sites(pred_dir: str | Path) -> list[SiteRecord]:
    """Site records for a prediction folder of whole-site rasters read on its own (no archive):
    sizes come from the rasters' headers. Patch predictions need the archive for their offsets."""
    from euromine_hf.bands import country_of
    from euromine_hf.data.archive import LAYOUT_RAW, _header, _IMAGE_TIF, _find_year_files

    pred_dir = Path(pred_dir)
    records = []
    for name, ys in sorted(scan_predictions(pred_dir).items()):
        tifs = _find_year_files(pred_dir / name, _IMAGE_TIF, "prediction")
        if not tifs:
            raise ArchiveError(pred_dir / name, "predictions", "whole-site Year{YYYY}.tif rasters (patch predictions need --archive for their site sizes)", "patch folders")
        head = _header(next(iter(tifs.values())), "label")
        records.append(SiteRecord(name=name, country=country_of(name), layout=LAYOUT_RAW, root=pred_dir,
                                  years=tuple(sorted(ys)), height=head["height"], width=head["width"],
                                  crs=head["crs"], transform=head["transform"]))
    return records


# ---- writing --------------------------------------------------------------------------------


def _atomic_write(path: Path, writer: Callable[[Path], None]) -> Path:
    from euromine_hf.io import atomic_path

    with atomic_path(path) as tmp:
        writer(tmp)
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    def writer(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["country"])
            w.writeheader()
            w.writerows({k: round(v, 8) if isinstance(v, float) else v for k, v in row.items()} for row in rows)

    return _atomic_write(path, writer)


#: tab20 with its strong colours first, then their light partners.
_TAB20_ORDER = [*range(0, 20, 2), *range(1, 20, 2)]


def _plot_footprint(stats: DatasetStatistics, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    countries = [c for c in stats.countries if c != ALL]  # the total dwarfs the countries; it is in Table 1
    colours = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, country in enumerate(countries):
        series = sorted(stats.footprint[country].items())
        ax.plot(
            [y for y, _ in series], [m * stats.km2_per_pixel for y, (m, _) in series],
            color=colours(_TAB20_ORDER[i % 20]), linestyle=("-", "--", ":")[(i // 20) % 3], marker="o", markersize=3, linewidth=1.4, label=country,
        )
    ax.set_xlabel("Year")
    ax.set_ylabel("Mine footprint (km²)")
    ax.set_title("Mine footprint over the years by country")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=1 + len(countries) // 25, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    try:
        return _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


def _plot_changed_fraction(stats: DatasetStatistics, path: Path, paper: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = stats.interval_rows()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for country in stats.countries:
        pts = [(r["interval"], r["changed_fraction"]) for r in rows if r["country"] == country]
        if not pts:
            continue
        if country == ALL:
            ax.plot(*zip(*pts), color="black", linewidth=2.5, marker="o", label="All sites (these masks)", zorder=3)
        else:
            ax.plot(*zip(*pts), color="grey", linewidth=0.8, alpha=0.5, label="_country")
    ref = paper.get("changed_fraction_by_interval", {})
    if ref:
        ks = sorted(int(k) for k in ref)
        ax.plot(ks, [ref[str(k)] for k in ks], color="tab:red", linestyle="--", marker="s", label="Paper (EuroMineNet)")
    ax.plot([], [], color="grey", linewidth=0.8, alpha=0.5, label="One country")
    ax.set_xlabel("Interval t2 − t1 (years)")
    ax.set_ylabel("Changed fraction of pixels")
    ax.set_title("Changed fraction against interval")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        return _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


#: the files :func:`write_statistics` writes (the PNGs only with plots)
STATISTICS_FILES = ("statistics.md", "footprint_by_year.csv", "change_by_step.csv", "change_by_interval.csv",
                    "footprint_by_country.png", "changed_fraction_by_interval.png")


def write_statistics(stats: DatasetStatistics, out_dir: str | Path, title: str = "Dataset statistics", plots: bool = True) -> dict[str, Path]:
    """Write ``statistics.md``, three CSV tables and (optionally) two PNG plots, each atomically."""
    out_dir = Path(out_dir)
    paper = paper_dataset_statistics()
    written = {
        "markdown": _atomic_write(out_dir / "statistics.md", lambda tmp: tmp.write_text(stats.to_markdown(title, paper), encoding="utf-8")),
        "footprint_csv": _write_csv(out_dir / "footprint_by_year.csv", stats.footprint_rows()),
        "steps_csv": _write_csv(out_dir / "change_by_step.csv", stats.step_rows()),
        "intervals_csv": _write_csv(out_dir / "change_by_interval.csv", stats.interval_rows()),
    }
    if plots and stats.years:
        written["footprint_png"] = _plot_footprint(stats, out_dir / "footprint_by_country.png")
        written["changed_fraction_png"] = _plot_changed_fraction(stats, out_dir / "changed_fraction_by_interval.png", paper)
    return written


def archive_statistics(root: str | Path, years: Iterable[int] = YEARS, sites: Iterable[str] | None = None, progress: bool = False) -> DatasetStatistics:
    """Statistics of an archive's ground truth (convenience over scan + compute)."""
    records = scan_archive(root, years=years, sites=sites)
    return compute_statistics(archive_masks(records), progress=progress, total=len(records))
