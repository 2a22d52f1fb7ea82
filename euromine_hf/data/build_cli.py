"""``euromine build ARCHIVE``: build the Hugging Face datasets of an archive and print their sizes.

Runs :class:`~euromine_hf.data.builder.EuroMineNet` for each requested config into a datasets
cache folder (reused on the next run while the archive is unchanged) and prints the rows of each
split, so a newcomer sees at once what training and evaluation will get.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from euromine_hf.data.config_names import CONFIG_NAMES

__all__ = ["add_parser", "build_all"]


def build_all(
    archive: str | Path,
    configs: list[str] | tuple[str, ...] = CONFIG_NAMES,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    **config_kwargs: Any,
) -> dict[str, dict[str, int]]:
    """Build each config (or reuse its cache); return ``{config: {split: rows}}``."""
    from euromine_hf.data.builder import load_euromine

    counts: dict[str, dict[str, int]] = {}
    for name in configs:
        kwargs = {k: v for k, v in config_kwargs.items() if k != "intervals" or name == "cd_pairs"}
        ds = load_euromine(archive, name, cache_dir=cache_dir, num_proc=num_proc, **kwargs)
        counts[name] = {split: len(d) for split, d in ds.items()}
    return counts


def add_parser(subparsers: Any, name: str = "build", summary: str = "build the Hugging Face datasets from an archive") -> argparse.ArgumentParser:
    from euromine_hf.data.export import _add_config_options

    parser = subparsers.add_parser(
        name,
        help=summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Build the EuroMineNet datasets (Arrow files in a datasets cache) from an archive and print the\n"
            "rows per split. Configs: mapping (site, patch, year), timeseries (site, patch, all years),\n"
            "cd_pairs (site, patch, year pair t1 < t2 with the change mask). Splits are by site.\n\n"
            "Example:\n"
            "  euromine synth outputs/archive\n"
            "  euromine build outputs/archive outputs/hf-cache --configs mapping\n\n"
            "In Python the same datasets come from euromine_hf.data.builder.load_euromine(ARCHIVE, 'mapping',\n"
            "cache_dir=...). A rerun with an unchanged archive reuses the cache. cd_pairs stores every image\n"
            "up to nine times; training reads pairs from mapping instead (euromine_hf.data.pairs.PairDataset)."
        ),
    )
    parser.add_argument("archive", type=Path, help="archive folder (raw GeoTIFF or cropped .npy layout)")
    parser.add_argument(
        "cache", type=Path, nargs="?", default=None,
        help="datasets cache folder (same as --cache-dir; default: the datasets library's cache)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="datasets cache folder")
    _add_config_options(parser)
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:

    if args.cache is not None and args.cache_dir is not None and args.cache != args.cache_dir:
        print("euromine build: error: give the cache folder once (positional or --cache-dir)", file=sys.stderr)
        return 2
    cache_dir = args.cache_dir or args.cache
    if cache_dir is not None:  # the cache is datasets' folder: never in, at or around the archive it reads
        from euromine_hf import owned_outputs

        owned_outputs.check_apart(cache_dir, [args.archive], option="cache folder")
        if Path(cache_dir).exists() and not Path(cache_dir).is_dir():
            raise ValueError(f"{cache_dir}: cache folder: expected a folder, found a file (kept, nothing written)")
    kwargs: dict[str, Any] = {"split_scheme": args.split_scheme, "seed": args.seed}
    for key in ("years", "intervals", "sites"):
        if getattr(args, key) is not None:
            kwargs[key] = tuple(getattr(args, key))
    # user errors (ArchiveError, ValueError, …) become one line and exit 2 in euromine_hf.cli
    counts = build_all(args.archive, args.configs, cache_dir=cache_dir, num_proc=args.num_proc, **kwargs)
    splits = ("train", "validation", "test")
    print(f"{'config':<11} " + " ".join(f"{s:>10}" for s in splits) + f" {'total':>10}")
    for name, per_split in counts.items():
        cells = " ".join(f"{per_split.get(s, 0):>10}" for s in splits)
        print(f"{name:<11} {cells} {sum(per_split.values()):>10}")
    if cache_dir is not None:
        print(f"cache: {Path(cache_dir).resolve()}")
    return 0
