"""``euromine stats``: the paper's footprint / change tables (Tables 1–3) and plots for any masks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from euromine_hf.bands import YEARS

DESCRIPTION = """Footprint and change statistics of yearly mine masks, as in the EuroMineNet paper (Tables 1-3).

Give an archive to describe its ground truth:
  euromine stats outputs/archive
or a prediction folder ({Site}/Year{YYYY}.tif, or {Site}/{YYYY}/Patch{n}.npy|png) with the archive
it predicts, to describe what a model mapped:
  euromine stats outputs/predictions --archive outputs/archive --split test

Writes statistics.md (printed too), footprint_by_year.csv, change_by_step.csv,
change_by_interval.csv, footprint_by_country.png and changed_fraction_by_interval.png to --out.
Sites are read one at a time, so any archive size fits in memory."""


def add_parser(subparsers: argparse._SubParsersAction, name: str = "stats", summary: str = "") -> argparse.ArgumentParser:
    from euromine_hf.options import SEED

    parser = subparsers.add_parser(
        name, help=summary or "footprint and change statistics with plots", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="ARCHIVE_OR_PRED_DIR", help="an archive (raw or cropped layout) or a prediction folder")
    parser.add_argument("--archive", default=None, help="the archive a prediction folder belongs to: gives site sizes (needed for patch predictions) and the site list")
    parser.add_argument("--split", default="all", choices=["all", "train", "validation", "test"], help="only the sites of one split (default: all sites)")
    parser.add_argument("--split-scheme", default="auto", choices=["auto", "official", "random"],
                        help="how sites are split: official lists, seeded random 70/10/20, or auto (official when every site is a published name)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random site split")
    parser.add_argument("--years", type=int, nargs="+", default=list(YEARS), help="years to include (default 2015..2024)")
    parser.add_argument("--sites", nargs="+", default=None, help="only these site folders")
    parser.add_argument("--out", default="outputs/stats", help="folder for the tables and plots (default: outputs/stats)")
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no table on stdout")
    parser.set_defaults(func=run)
    return parser


def _looks_like_predictions(path: Path) -> bool:
    import warnings

    from euromine_hf.data.archive import ArchiveError, ArchiveWarning, scan_predictions

    try:
        with warnings.catch_warnings():  # a probe: an archive is not a prediction folder with extra files
            warnings.simplefilter("ignore", ArchiveWarning)
            scan_predictions(path)
    except ArchiveError:
        return False
    return True


def _warn_partial(path: Path, missing: dict[str, tuple[int, ...]], limit: int = 6) -> None:
    """One stderr line naming the sites and years a prediction folder lacks (statistics still run on the rest)."""
    if not missing:
        return
    parts = [f"{name} ({', '.join(map(str, years))})" for name, years in list(missing.items())[:limit]]
    more = f" and {len(missing) - limit} more sites" if len(missing) > limit else ""
    print(f"euromine stats: warning: {path}: partial predictions, the statistics leave out {len(missing)} site(s) or "
          f"years with no mask: {'; '.join(parts)}{more}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits
    from euromine_hf.data.statistics import (
        archive_masks, compute_statistics, missing_predictions, prediction_masks, prediction_sites, write_statistics,
    )

    from euromine_hf import owned_outputs
    from euromine_hf.data.statistics import STATISTICS_FILES

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    path = Path(args.path)
    # never into (or around) what it reads, never over a file it did not write: checked before reading
    owned_outputs.check(args.out, "stats", STATISTICS_FILES, reads=[path, args.archive], option="--out")
    predictions = args.archive is not None or _looks_like_predictions(path)
    if args.archive is not None:
        records = scan_archive(args.archive, years=args.years, sites=args.sites)
    elif predictions:
        records = prediction_sites(path)
        if args.sites:
            records = [r for r in records if r.name in set(args.sites)]
    else:
        records = scan_archive(path, years=args.years, sites=args.sites)
    if args.split != "all":
        chosen = set(assign_splits([r.name for r in records], scheme=args.split_scheme, seed=args.seed,
                                   partial=bool(args.sites))[args.split])
        records = [r for r in records if r.name in chosen]
    if not records:
        raise ValueError(f"{path}: no sites to describe (check --split / --sites)")
    if predictions:
        _warn_partial(path, missing_predictions(path, records, args.years))
    source = prediction_masks(path, records, args.years) if predictions else archive_masks(records, args.years)
    stats = compute_statistics(source, progress=not args.quiet, total=len(records))
    what = "predictions" if predictions else "ground truth"
    title = f"Statistics of {what}: {path.name}" + ("" if args.split == "all" else f" ({args.split} split)")
    written = write_statistics(stats, args.out, title=title, plots=not args.no_plots)
    owned_outputs.record(args.out, "stats", written.values())
    if not args.quiet:
        print(written["markdown"].read_text(encoding="utf-8"))
        print("wrote " + ", ".join(str(p) for p in written.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    from euromine_hf.cli import main as euromine

    return euromine(["stats", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
