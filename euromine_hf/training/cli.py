"""``euromine train``: the same entry point as ``train.py`` (all its arguments pass through)."""

from __future__ import annotations

import argparse

DESCRIPTION = """Train a EuroMineNet mapping model with the Hugging Face Trainer.

With no arguments (or only --output_dir) this is the embedded demo: it builds the synthetic default
archive, trains a tiny Segformer for a few CPU minutes, tests it, compares it with a spectral-index
threshold baseline and writes tables, a model card, qualitative maps and footprint plots.

Paper set-up on a real archive, e.g.:
  euromine train --model segformer --data_dir /data/EuroMineNet --output_dir outputs/segformer
Change detection (pairs of years, scored by F1 per interval and OF1 like the paper's Table 5):
  euromine train --task change_detection --model fc-siam-diff --data_dir /data/EuroMineNet
  (Eq. 7 loss over each patch's series: add --sampling timeseries [--pairs_per_series k])
Several devices:  accelerate launch --config_file configs/ddp.yaml train.py --model unet ...
Every option of train.py is accepted; `--help` shows the common ones by group, `--help-all` every one."""


def add_parser(subparsers: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
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
