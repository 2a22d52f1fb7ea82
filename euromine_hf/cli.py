"""The ``euromine`` command: one subcommand per workflow step.

Each subcommand lives beside the code it drives and exposes ``add_parser(subparsers)``; this module
only collects them, importing each lazily so ``euromine --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module that defines ``add_parser``, one-line summary for ``--help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("euromine_hf.data.synthetic_cli", "write the synthetic EuroMineNet archive (raw GeoTIFF layout)"),
    "build": ("euromine_hf.data.build_cli", "build the Hugging Face datasets (mapping / timeseries / cd_pairs) from an archive"),
    "export": ("euromine_hf.data.export", "export Parquet shards and a dataset card for the Hub"),
    "stats": ("euromine_hf.data.statistics_cli", "footprint and change statistics (paper Tables 1-3) with plots"),
    "predict": ("euromine_hf.inference", "predict yearly mine maps of whole scenes with a trained model (GeoTIFF)"),
    "evaluate": ("euromine_hf.metrics.evaluate_cli", "score a folder of predictions against a split of the data"),
    "train": ("euromine_hf.training.cli", "train a model (same arguments as train.py)"),
}

DESCRIPTION = """EuroMineNet tools: Sentinel-2 mine mapping and change detection on the Hugging Face stack.

Typical first run on the embedded synthetic data:
  euromine synth outputs/archive            # write a small synthetic archive
  euromine build outputs/archive outputs/ds # build mapping / timeseries / cd_pairs datasets
  euromine stats outputs/archive            # footprint / change tables and plots
Run `euromine COMMAND --help` for the options of one step."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="euromine", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        if only is not None and name != only:
            subparsers.add_parser(name, help=summary)
            continue
        module = importlib.import_module(module_name)
        module.add_parser(subparsers, name, summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
