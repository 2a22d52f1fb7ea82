#!/usr/bin/env python
"""Turn a EuroMineNet archive into what the Hub dataset repo holds: Parquet shards per config and
split, plus the dataset card rendered from ``dataset_card.md.jinja`` (packaged in euromine_hf/resources).

A thin wrapper around :func:`euromine_hf.data.export.export_parquet` (the same as
``euromine export``), kept here so the Hub repo's tooling lives next to its card template::

    python dataset_script/export_parquet.py ARCHIVE [OUT] [--configs mapping cd_pairs] [--max-shard-size 500MB]
    euromine push YOUR_NAME [--export OUT]     # -> the dataset repo YOUR_NAME/euromine

The result loads offline with ``datasets.load_dataset(OUT, "cd_pairs")``.
"""

from __future__ import annotations

import argparse
import sys

from euromine_hf.data.export import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_parquet.py")
    subparsers = parser.add_subparsers(dest="command")
    add_parser(subparsers, "export", "export Parquet shards and a dataset card")
    args = parser.parse_args(["export", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
