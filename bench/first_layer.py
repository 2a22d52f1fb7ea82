#!/usr/bin/env python
"""Band-aware vs random first layer: the same pretrained start, the same budget, two input layers.

The EuroMineNet authors re-initialised the pretrained RGB input layer at random for 10 bands
(``--first_layer random``); this package adapts it band by band by default (``--first_layer adapt``:
B04/B03/B02 take the R/G/B filters, the other bands their mean, ×3/C). For each model this trains
both variants from the model's paper checkpoint (``euromine_hf/models/paper_checkpoints.py``, through
the Hugging Face cache) on the same data, seed and number of steps, and prints the test scores.

It needs the real ImageNet / ADE20K checkpoints: run it where the Hub is reachable once (or with a
cache that holds them, ``HF_HOME``), ideally on a GPU. ``--checkpoint NAME=SOURCE`` replaces a
model's checkpoint (a Hub id, ``REPO@REVISION`` or a local folder).

    python bench/first_layer.py                       # the default models on the embedded default
    python bench/first_layer.py --models bit,tinycd --max_steps 2000 --seeds 0 1 2 --data_dir /data/EuroMineNet
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

#: Small and mid-size models with a pretrained start, both tasks (the budget stays the same per model).
DEFAULT_MODELS = ("deeplabv3plus-mobilenetv2", "deeplabv3plus-resnet101", "bit", "tinycd")
MODES = ("adapt", "random")


def train_once(name: str, mode: str, seed: int, args: argparse.Namespace, source: str | None) -> dict[str, Any]:
    """One training run; its test metrics and wall time."""
    from euromine_hf.models.registry import get_spec
    from euromine_hf.training.arguments import parse_arguments
    from euromine_hf.training.run import run_training

    task = get_spec(name).task
    out = Path(args.output_dir) / f"{name}-{mode}-seed{seed}"
    argv = [
        "--task", task, "--model", name, "--size", args.size, "--first_layer", mode,
        "--output_dir", str(out), "--max_steps", str(args.max_steps), "--seed", str(seed),
        "--per_device_train_batch_size", str(args.batch_size), "--learning_rate", str(args.learning_rate),
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--num_qualitative", "0", "--baseline", "false", "--disable_tqdm", "true", "--report_to", "none",
    ]
    if source is not None:
        argv += ["--pretrained", source]
    if args.data_dir:
        argv += ["--data_dir", args.data_dir]
    start = time.perf_counter()
    result = run_training(*parse_arguments(argv))
    return {"metrics": result.test_metrics, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated zoo names with a checkpoint")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=SOURCE",
                        help="replace a model's checkpoint (Hub id, REPO@REVISION or folder); repeatable")
    parser.add_argument("--size", choices=("paper", "tiny"), default="paper",
                        help="preset (the published checkpoints fit 'paper'; 'tiny' needs --checkpoint)")
    parser.add_argument("--data_dir", default=None, help="archive (default: the embedded synthetic default)")
    parser.add_argument("--max_steps", type=int, default=300)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--output_dir", default="outputs/bench_first_layer")
    parser.add_argument("--metric", default="OF1", help="test metric to tabulate (default: OF1)")
    args = parser.parse_args(argv)

    from euromine_hf.models.registry import get_spec

    overrides = dict(item.split("=", 1) for item in args.checkpoint)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for name in names:
        if not get_spec(name).pretrained and name not in overrides:
            parser.error(f"{name} trained from scratch in the paper (no checkpoint); give --checkpoint {name}=SOURCE")
    rows = []
    for name in names:
        for mode in MODES:
            runs = [train_once(name, mode, seed, args, overrides.get(name)) for seed in args.seeds]
            scores = [run["metrics"].get(args.metric, float("nan")) for run in runs]
            rows.append((name, mode, scores, statistics.median(run["seconds"] for run in runs)))
    source = {name: overrides.get(name) or ", ".join(c.label for c in get_spec(name).pretrained) for name in names}
    print(f"\n{args.max_steps} steps × batch {args.batch_size}, lr {args.learning_rate}, seeds {args.seeds}, "
          f"{args.size} presets, data: {args.data_dir or 'embedded default'}")
    print(f"| model | checkpoint | first layer | test {args.metric} (mean) | per seed | s per run |")
    print("|---|---|---|---:|---|---:|")
    for name, mode, scores, seconds in rows:
        per_seed = ", ".join(f"{s:.4f}" for s in scores)
        print(f"| {name} | `{source[name]}` | {mode} | {statistics.fmean(scores):.4f} | {per_seed} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
