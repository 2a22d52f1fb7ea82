"""``euromine train``: the same entry point as ``train.py`` (all its arguments pass through)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.training.arguments import DESCRIPTION

    parser = subparsers.add_parser(
        name, help=summary, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False, prefix_chars="+",  # every --option (--help too) goes through to train.py's parser
    )
    parser.add_argument("train_args", nargs="*", help="arguments for train.py (see its --help)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from euromine_hf.training.main import main

    return main(list(args.train_args), prog="euromine train")
