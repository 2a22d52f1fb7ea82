"""``euromine synth``: write the synthetic EuroMineNet archive (the embedded default data)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DESCRIPTION = """Write a synthetic stand-in for the EuroMineNet archive, in the archive's own raw layout:

  OUT_DIR/{Site}/image/Year2015.tif ... Year2024.tif   10-band uint16 Sentinel-2 L2A GeoTIFFs
  OUT_DIR/{Site}/label/Year2015.tif ... Year2024.tif   1-band uint8 mine masks (0 / 255)
  OUT_DIR/synthetic.json                               what was generated (written last)

Scenes have plausible land covers and mines made of open pits, waste dumps and tailings ponds that
expand, appear, shrink and get revegetated, with footprint and change statistics close to the
paper's. Unlabelled look-alikes (quarries, construction sites, ploughed fields, industrial roofs,
turbid ponds) cover 15-20 % of each scene; the 20 m bands are blurred 2x2 blocks as in L2A; labels
are redrawn each year with 1-2 px boundary jitter; phenology varies per field and pixel. Scenes
are cloud-free, as the archive's annual composites are. The same --seed
gives byte-identical files. The data is synthetic: use it to try the tools, not to report results.

Examples:
  euromine synth outputs/archive                      # the default: 12 sites, 150-480 px
  euromine synth outputs/official --official-names    # all 133 official site names, small rasters
  euromine synth outputs/b04 --baseline-offset        # +1000 DN from 2022 (processing baseline 04.00)
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str = "synth", summary: str | None = None) -> argparse.ArgumentParser:
    """Create the ``synth`` subcommand's parser and set its ``func``."""
    from euromine_hf.options import POSITIVE, SEED

    parser = subparsers.add_parser(
        name, help=summary, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write the archive into (created if missing)")
    parser.add_argument("--sites", type=POSITIVE, default=12, metavar="N",
                        help="number of sites, named {Country}_{n} with n >= 101 (default: 12; ignored with --official-names)")
    parser.add_argument("--seed", type=SEED, default=0, metavar="S", help="random seed; same seed, same files (default: 0)")
    parser.add_argument("--official-names", action="store_true",
                        help="lay out the 133 official site names (train/val/test of the official split plus Greece_3) "
                             "as small rasters, to exercise the real split")
    parser.add_argument("--baseline-offset", action="store_true",
                        help="add the +1000 DN offset of processing baseline 04.00 to images from 2022 on")
    parser.add_argument("--min-size", type=POSITIVE, default=None, metavar="PX",
                        help="smallest raster side in pixels (default: 150, or 96 with --official-names)")
    parser.add_argument("--max-size", type=POSITIVE, default=None, metavar="PX",
                        help="largest raster side in pixels (default: 480, or 200 with --official-names)")
    parser.add_argument("--no-nuisance", action="store_true",
                        help="leave out gain/offset, haze, clouds and shadows (phenology and crop rotation stay)")
    parser.add_argument("--compress", default="deflate", choices=("deflate", "zstd", "lzw", "none"),
                        help="GeoTIFF compression (default: deflate, readable by every GDAL)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow writing into a non-empty OUT_DIR (site folders of the same name are replaced)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate the arguments, generate, and print a one-line summary."""
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    out_dir: Path = args.out_dir
    if out_dir.exists() and not out_dir.is_dir():
        print(f"euromine synth: {out_dir} exists and is not a folder", file=sys.stderr)
        return 2
    if out_dir.is_dir() and any(out_dir.iterdir()) and not args.overwrite:
        print(f"euromine synth: {out_dir} is not empty; pass --overwrite to write into it anyway", file=sys.stderr)
        return 2
    if args.min_size is not None and args.min_size < 16:
        print(f"euromine synth: error: argument --min-size: expected >= 16 pixels, got {args.min_size}", file=sys.stderr)
        return 2
    if args.min_size is not None and args.max_size is not None and args.min_size > args.max_size:
        print(f"euromine synth: error: argument --min-size: expected at most --max-size ({args.max_size}), got {args.min_size}",
              file=sys.stderr)
        return 2
    try:
        config = SyntheticConfig(
            seed=args.seed,
            num_sites=args.sites,
            official_names=args.official_names,
            min_size=args.min_size,
            max_size=args.max_size,
            baseline_offset=args.baseline_offset,
            nuisance=not args.no_nuisance,
            compress=args.compress,
        )
    except ValueError as err:
        print(f"euromine synth: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    sites = generate_archive(out_dir, config, overwrite=args.overwrite, progress=True)
    lo, hi = config.size_range
    print(f"wrote {len(sites)} synthetic sites ({lo}-{hi} px, years {config.years[0]}-{config.years[-1]}) "
          f"to {out_dir} in {time.perf_counter() - start:.1f} s")
    return 0
