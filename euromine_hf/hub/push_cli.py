"""``euromine push`` (the dataset export) and ``euromine push-metrics`` (the evaluate modules as Spaces).

Both use the token huggingface_hub finds (``HF_TOKEN`` or ``hf auth login``) and the endpoint it
is configured for (``HF_ENDPOINT``); user errors (no token, not an export, unknown module) exit 2
with one line through :mod:`euromine_hf.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "dataset_repo_id"]

_DATASET_NAME = "euromine"


def dataset_repo_id(target: str, name: str = _DATASET_NAME) -> str:
    """``NAMESPACE`` -> ``NAMESPACE/euromine``; ``NAMESPACE/NAME`` is kept."""
    parts = target.split("/")
    if not target or len(parts) > 2 or not all(parts):
        raise ValueError(f"repository {target!r}: expected NAMESPACE or NAMESPACE/NAME")
    return target if len(parts) == 2 else f"{target}/{name}"


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    if name == "push-metrics":
        return _add_metrics_parser(subparsers, name, summary)
    return _add_dataset_parser(subparsers, name, summary)


def _add_dataset_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=summary, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Upload a dataset export (`euromine export ARCHIVE`, which writes ./euromine) to the Hub as the\n"
            "dataset repo NAMESPACE/euromine (whatever the folder's name), in one commit; the card's snippets are\n"
            "rewritten to name the repo. Then, anywhere: datasets.load_dataset('NAMESPACE/euromine', CONFIG) for\n"
            "each config the export holds (its README `configs:`; push prints them).\n\n"
            "Example:\n"
            "  euromine export outputs/archive        # -> ./euromine\n"
            "  euromine push YOUR_NAME                # -> YOUR_NAME/euromine"
        ),
    )
    parser.add_argument("repo", help="NAMESPACE (the repo is NAMESPACE/euromine) or NAMESPACE/NAME")
    parser.add_argument("--export", type=Path, default=Path(_DATASET_NAME),
                        help=f"the export folder (default: ./{_DATASET_NAME})")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", default=None, help="branch to commit to (default: main)")
    parser.set_defaults(func=_run_dataset)
    return parser


def _run_dataset(args: argparse.Namespace) -> int:
    from euromine_hf.hub.push import dataset_config_names, push_dataset_folder

    repo_id = dataset_repo_id(args.repo)
    if not args.export.is_dir():
        raise FileNotFoundError(f"{args.export}: export folder not found (write it with `euromine export ARCHIVE`)")
    configs = dataset_config_names(args.export)  # the configs it holds, not a fixed one
    url = push_dataset_folder(args.export, repo_id, private=args.private, revision=args.revision)
    print(f"pushed {args.export} -> dataset {repo_id}: {url}")
    others = f"   (configs: {', '.join(configs)})" if len(configs) > 1 else ""
    print(f"load it with: datasets.load_dataset({repo_id!r}, {configs[0]!r}){others}")
    return 0


def _add_metrics_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.metrics.modules import MODULE_NAMES

    parser = subparsers.add_parser(
        name, help=summary, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Publish the evaluate modules shipped in euromine_hf as Hub Spaces NAMESPACE/<module> (app.py,\n"
            "<module>.py, README.md metric card, requirements.txt naming euromine-hf). Then:\n"
            "  evaluate.load('NAMESPACE/ca_tiou')\n"
            f"Modules: {', '.join(MODULE_NAMES)}. Offline, without the Hub: euromine_hf.metrics.load('ca_tiou')."
        ),
    )
    parser.add_argument("namespace", help="user or organisation that owns the Spaces")
    parser.add_argument("--modules", nargs="+", choices=MODULE_NAMES, default=list(MODULE_NAMES), metavar="NAME",
                        help="which modules (default: all)")
    parser.add_argument("--private", action="store_true", help="create the Spaces private")
    parser.add_argument("--requirement", default="euromine-hf",
                        help="the pip requirement the Spaces install for euromine_hf (default: euromine-hf)")
    parser.set_defaults(func=_run_metrics)
    return parser


def _run_metrics(args: argparse.Namespace) -> int:
    from euromine_hf.hub.push import push_metric_spaces

    urls = push_metric_spaces(args.namespace, args.modules, private=args.private, requirement=args.requirement)
    for name, url in urls.items():
        print(f"{args.namespace}/{name}: {url}   evaluate.load({f'{args.namespace}/{name}'!r})")
    return 0
