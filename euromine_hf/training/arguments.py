"""Command-line arguments of ``train.py`` as ``HfArgumentParser`` dataclasses.

Defaults are the EuroMineNet paper's training recipe (``recipe.PAPER_RECIPE``: Adam without weight
decay, lr 1e-4, batch 32 per device, cosine decay to 1e-7, cross-entropy), so ``train.py --model X --data_dir D`` reproduces
the benchmark set-up; the CPU demo overrides a few of them explicitly (see ``demo.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from euromine_hf.bands import YEARS
from euromine_hf.training.tasks import TASKS as _TASK_REGISTRY
from euromine_hf.training.tasks import get_task

SAMPLINGS = ("per_year", "timeseries", "pairs")
SIZES = ("paper", "tiny")
#: ``--first_layer``: as ``models.band_adaptation.FIRST_LAYER_MODES`` (not imported: this module stays light).
FIRST_LAYER_MODES = ("adapt", "random")
#: What ``--task`` trains (the task registry, ``training/tasks/``): a mine segmenter per image, or a
#: change detector per pair of dates.
TASKS = tuple(_TASK_REGISTRY)
#: ``--model`` when none is given, per task.
DEFAULT_MODELS = {name: task.default_model for name, task in _TASK_REGISTRY.items()}

DESCRIPTION = """Train a EuroMineNet mapping model with the Hugging Face Trainer.

With no arguments (or only --output_dir) this is the embedded demo: it builds the synthetic default
archive, trains a tiny Segformer for a few CPU minutes, tests it, compares it with a spectral-index
threshold baseline and writes tables, a model card, qualitative maps and footprint plots.

Paper set-up on a real archive, e.g.:
  euromine train --model segformer --data_dir /data/EuroMineNet --output_dir outputs/segformer
Change detection (pairs of years, scored by F1 per interval and OF1 like the paper's Table 5):
  euromine train --task change_detection --model fc-siam-diff --data_dir /data/EuroMineNet
  (Eq. 7 loss over each patch's series: add --sampling timeseries [--pairs_per_series k])
One model for the whole series (yearly masks + every pair's change, Eq. 6 + Eq. 7):
  euromine train --task multitemporal --model utae-series --data_dir /data/EuroMineNet [--pairs_per_series k]
Several devices:  accelerate launch --config_file configs/ddp.yaml train.py --model unet ...
Every option of train.py is accepted; `--help` shows the common ones by group, `--help-all` every one."""


@dataclass
class ModelArguments:
    """Which zoo model to train and how to initialise it."""

    _argument_group_name = "Task and model"  # HfArgumentParser's group title

    task: str = field(
        default="segmentation",
        metadata={"help": " or ".join(f"'{name}' ({task.description})" for name, task in _TASK_REGISTRY.items()) + ".",
                  "choices": list(TASKS)},
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Model zoo name for the task (default: unet / fc-siam-diff / utae-series); the list is in --help."},
    )
    size: str = field(
        default="paper",
        metadata={"help": "Size preset: 'paper' (the benchmarked configuration) or 'tiny' (tests, CPU demo).",
                  "choices": list(SIZES)},
    )
    pretrained: str | None = field(
        default=None,
        metadata={"help": "Where the weights start: by default, with --size paper, the Hub checkpoint(s) the "
                          "paper run started from (downloaded through the Hugging Face cache; the zoo lists them), "
                          "with --size tiny none; 'none' trains from scratch; a Hub id (REPO or REPO@REVISION) "
                          "or a local folder / safetensors file replaces the checkpoint."},
    )
    first_layer: str = field(
        default="adapt",
        metadata={"help": "The pretrained RGB input layer on 10 bands: 'adapt' (band-aware: B04/B03/B02 take "
                          "the R/G/B filters, the other bands their mean, scaled 3/C) or 'random' (re-initialised "
                          "at random, as the paper's authors did).", "choices": list(FIRST_LAYER_MODES)},
    )
    rgb_checkpoint: str | None = field(
        default=None,
        metadata={"help": "Alias of --pretrained REPO_OR_FOLDER (kept for earlier command lines)."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config overrides as 'key=value,key=value' (values parsed as JSON when they can be)."},
    )

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"--size must be one of {SIZES}; got {self.size!r}")
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {TASKS}; got {self.task!r}")
        if self.model is None:
            self.model = DEFAULT_MODELS[self.task]
        if self.first_layer not in FIRST_LAYER_MODES:
            raise ValueError(f"--first_layer must be one of {FIRST_LAYER_MODES}; got {self.first_layer!r}")
        if self.rgb_checkpoint:  # the older name of an explicit --pretrained
            if self.pretrained not in (None, self.rgb_checkpoint):
                raise ValueError(f"--rgb_checkpoint {self.rgb_checkpoint} and --pretrained {self.pretrained} name two "
                                 "starts; give only --pretrained")
            self.pretrained = self.rgb_checkpoint
        if self.pretrained is not None and not str(self.pretrained).strip():
            raise ValueError("--pretrained: expected 'none', a Hub id or a local folder; got an empty value")

    def overrides(self) -> dict[str, Any]:
        """Parse ``config_overrides`` into a dict, failing with the offending item named."""
        return parse_overrides(self.config_overrides)


@dataclass
class DataArguments:
    """Where the data comes from and how it is sampled."""

    _argument_group_name = "Data"

    data_dir: str | None = field(
        default=None,
        metadata={"help": "EuroMineNet archive (raw GeoTIFF or cropped .npy layout). Default: the embedded "
                          "synthetic archive, generated on first use and cached."},
    )
    years: list[int] = field(default_factory=lambda: list(YEARS), metadata={"help": "Years to train and score on."})
    sampling: str = field(
        default="per_year",
        metadata={"help": "Segmentation: 'per_year' (one (patch, year) sample per row) or 'timeseries' (all years "
                          "of a patch per row, loss = mean over the years, the paper's Eq. 6). Change detection: "
                          "'pairs' (one year pair per sample; 'per_year' means the same there) or 'timeseries' "
                          "(a patch's series per sample, loss = mean over its year pairs, the paper's Eq. 7).",
                  "choices": list(SAMPLINGS)},
    )
    intervals: list[int] | None = field(
        default=None,
        metadata={"help": "Change detection: train on year pairs of these intervals t2 - t1 only "
                          "(default: all, 45 pairs per patch over 10 years). Evaluation always scores every pair."},
    )
    pairs_per_series: int | None = field(
        default=None,
        metadata={"help": "Change detection with --sampling timeseries, or --task multitemporal: year pairs "
                          "drawn per series and step for Eq. 7 (default: all pairs of the series)."},
    )
    split_scheme: str | None = field(
        default=None,
        metadata={"help": "Site split: 'official' (the published lists) or 'random' (seeded 70/10/20). "
                          "Default: the builder's choice for the archive."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache directory."})
    augment: bool = field(default=True, metadata={"help": "Random flips/rotations on training batches."})
    radiometric_jitter: float = field(
        default=0.0,
        metadata={"help": "Random per-sample gain in [1-r, 1+r] on training images (0 = off), for "
                          "robustness to acquisition / processing-baseline differences between sites and years."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training split (debugging)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate the validation split."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Truncate the test split."})

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"--sampling must be one of {SAMPLINGS}; got {self.sampling!r}")
        bad = [y for y in self.years if int(y) not in YEARS]
        if bad:
            raise ValueError(f"--years must lie in {YEARS[0]}..{YEARS[-1]}; got {bad}")
        if len(set(self.years)) != len(self.years):
            raise ValueError(f"--years lists a year twice: {self.years}")
        self.years = sorted(int(y) for y in self.years)
        if self.intervals is not None:
            bad = [k for k in self.intervals if not 1 <= int(k) <= len(YEARS) - 1]
            if bad or not self.intervals:
                raise ValueError(f"--intervals must be year gaps in 1..{len(YEARS) - 1}; got {self.intervals}")
            self.intervals = sorted({int(k) for k in self.intervals})
        if self.pairs_per_series is not None and self.pairs_per_series < 1:
            raise ValueError(f"--pairs_per_series must be a positive count; got {self.pairs_per_series}")
        available = sum(1 for i, a in enumerate(self.years) for b in self.years[i + 1:]
                        if self.intervals is None or b - a in self.intervals)
        if self.pairs_per_series is not None and self.pairs_per_series > available:
            # drawing more pairs than a series has would train on all of them while the run records k
            raise ValueError(f"--pairs_per_series must be at most {available}, the year pairs of --years"
                             f"{' and --intervals' if self.intervals is not None else ''}; got {self.pairs_per_series}")
        if not 0.0 <= self.radiometric_jitter < 1.0:
            raise ValueError(f"--radiometric_jitter must be in [0, 1); got {self.radiometric_jitter}")
        for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be a positive count; got {value}")
        if self.cache_dir is not None and Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise ValueError(f"--cache_dir {self.cache_dir}: expected a folder (the datasets cache), found a file")


@dataclass
class RunArguments:
    """What happens around training: the demo preset, the baseline and the written reports."""

    _argument_group_name = "Run (demo, baseline, reports)"

    demo: bool = field(
        default=False,
        metadata={"help": "Run the embedded CPU demo preset (what `python train.py` with no arguments does)."},
    )
    baseline: bool = field(
        default=True, metadata={"help": "Also score the spectral-index threshold baseline on the test split."}
    )
    baseline_index: str = field(
        default="auto",
        metadata={"help": "Baseline spectral index: 'bsi', 'ndvi', 'ndwi', 'nbr', or 'auto' (best on train)."},
    )
    num_qualitative: int = field(default=4, metadata={"help": "Test site-years drawn as qualitative PNG maps."})
    metric_protocol: str = field(
        default="site", metadata={"help": "Scoring protocol: 'site' (paper), 'micro' or 'patch'."}
    )

    def __post_init__(self) -> None:
        # checked here, at parse time: otherwise a typo surfaces after the data is built (or, for
        # --num_qualitative -1, silently draws nothing)
        from euromine_hf.metrics.scores import PROTOCOLS
        from euromine_hf.training.baseline import INDICES

        if self.num_qualitative < 0:
            raise ValueError(f"--num_qualitative must be a count >= 0; got {self.num_qualitative}")
        if self.metric_protocol not in PROTOCOLS:
            raise ValueError(f"--metric_protocol must be one of {tuple(PROTOCOLS)}; got {self.metric_protocol!r}")
        if self.baseline_index != "auto" and self.baseline_index not in INDICES:
            raise ValueError(f"--baseline_index must be 'auto' or one of {tuple(sorted(INDICES))}; got {self.baseline_index!r}")


def __getattr__(name: str) -> Any:
    """``EuroMineTrainingArguments`` (and ``ALL_ARGUMENTS``, which holds it) subclass transformers'
    ``TrainingArguments``: imported on first use so this module, and ``train --help``, stay light."""
    if name == "EuroMineTrainingArguments":
        from euromine_hf.training.training_arguments import EuroMineTrainingArguments

        return EuroMineTrainingArguments
    if name == "ALL_ARGUMENTS":
        from euromine_hf.training.training_arguments import EuroMineTrainingArguments

        return (ModelArguments, DataArguments, EuroMineTrainingArguments, RunArguments)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def zoo_help() -> str:
    """``--model`` help naming the registered models of each task (read at parser creation, so
    models registered later, e.g. by a plug-in, are listed too)."""
    from euromine_hf.models.registry import zoo_names

    parts = []
    for task in TASKS:
        names = zoo_names(task)
        parts.append(f"--task {task}: {', '.join(names) if names else '(none registered)'}")
    return f"Model zoo name (default: {DEFAULT_MODELS['segmentation']} / {DEFAULT_MODELS['change_detection']}). " + "; ".join(parts) + "."


def make_parser() -> Any:
    """The full parser (an ``HfArgumentParser``, every TrainingArguments option) that ``train.py`` and
    ``euromine train`` share; one argument group per dataclass."""
    import argparse

    from transformers import HfArgumentParser

    from euromine_hf.training.training_arguments import EuroMineTrainingArguments

    all_arguments = (ModelArguments, DataArguments, EuroMineTrainingArguments, RunArguments)
    parser = HfArgumentParser(all_arguments, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    for action in parser._actions:
        if "--model" in action.option_strings:
            action.help = zoo_help()
    return parser


#: Training options shown in the short help, with a line each (all are EuroMineTrainingArguments
#: fields; tests/test_startup.py checks).
COMMON_TRAINING_OPTIONS: dict[str, str] = {
    "output_dir": "where everything is written (default: outputs/train)",
    "num_train_epochs": "epochs to train",
    "max_steps": "stop after this many optimiser steps (overrides epochs)",
    "per_device_train_batch_size": "batch size per device (paper: 32)",
    "learning_rate": "initial learning rate (paper: 1e-4)",
    "optim": "optimizer (paper: adamw_torch with no weight decay = Adam)",
    "lr_scheduler_type": "learning-rate schedule (paper: cosine_with_min_lr down to 1e-7)",
    "seed": "random seed",
    "push_to_hub": "push the trained model (weights, code, image processor, card) to the Hub",
    "hub_model_id": "the Hub repo to push to, NAMESPACE/NAME",
    "temporal_consistency_weight": "weight of the temporal-consistency term (segmentation, --sampling timeseries)",
}
HELP_ALL = "--help-all"


def zoo_help_static() -> str:
    """``--model`` help from the written-out zoo list (no torch): the short help's listing."""
    from euromine_hf.training.zoo_list import ZOO_NAMES

    lines = [f"Model zoo name (default: {DEFAULT_MODELS['segmentation']} for segmentation, "
             f"{DEFAULT_MODELS['change_detection']} for change detection)."]
    for task in TASKS:
        lines.append(f"--task {task}: {', '.join(ZOO_NAMES.get(task, ())) or '(none)'}")
    return "\n".join(lines)


def make_short_help_parser(prog: str = "train.py") -> Any:
    """The grouped ``--help`` parser, built from the light dataclasses without importing transformers.

    Used only to print help: parsing goes through :func:`make_parser` (every TrainingArguments option).
    """
    import argparse
    import dataclasses


    class Formatter(argparse.RawTextHelpFormatter):
        def __init__(self, prog: str) -> None:
            super().__init__(prog, max_help_position=32, width=100)

    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=Formatter, add_help=False,
        usage=f"{prog} [--task {{{','.join(TASKS)}}}] [--model NAME] [--size {{{','.join(SIZES)}}}] [options]",
        epilog=f"Every transformers TrainingArguments option is accepted too: `{prog} {HELP_ALL}` lists them all.",
    )
    parser.add_argument("-h", "--help", action="help", help="show this help (the common options) and exit")
    parser.add_argument(HELP_ALL, action="store_true", help="show every option, transformers' TrainingArguments included")
    import textwrap

    def add_group(cls: type, only: Sequence[str] | None = None) -> None:
        group = parser.add_argument_group(getattr(cls, "_argument_group_name", cls.__name__))
        for f in dataclasses.fields(cls):
            if only is not None and f.name not in only:
                continue
            text = zoo_help_static() if f.name == "model" else f.metadata.get("help", "")
            if f.default is not dataclasses.MISSING and f.default is not None and f.name != "model":
                text += f" (default: {f.default})"
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                text += f" (default: {f.default_factory()})"  # type: ignore[misc]
            text = "\n".join(textwrap.fill(line, 66) for line in text.split("\n"))
            choices = f.metadata.get("choices")
            kind = str(f.type)
            if choices:
                metavar = "{" + ",".join(map(str, choices)) + "}"
            elif f.name == "model":
                metavar = "NAME"
            elif kind == "bool":
                metavar = "{true,false}"
            elif kind.startswith("list[int]"):
                metavar = "N [N ...]"
            else:
                metavar = f.name.upper()
            group.add_argument(f"--{f.name}", metavar=metavar, help=text)

    add_group(ModelArguments)
    add_group(DataArguments)
    training = parser.add_argument_group(
        "Training (transformers TrainingArguments, the paper's recipe as defaults; all of them: " + HELP_ALL + ")"
    )
    for name, text in COMMON_TRAINING_OPTIONS.items():
        training.add_argument(f"--{name}", metavar=name.upper(), help=text)
    add_group(RunArguments)
    return parser


def check_task_arguments(model_args: ModelArguments, data_args: DataArguments, training_args: Any = None) -> None:
    """Cross-checks between the dataclasses that depend on ``--task`` (in place; idempotent): the
    task's own (``Task.check_arguments``), e.g. the model must be a zoo model of the task."""
    get_task(model_args.task).check_arguments(model_args, data_args, training_args)


def parse_overrides(text: str | None) -> dict[str, Any]:
    """``"a=1,b=[2,3],c=x"`` → ``{"a": 1, "b": [2, 3], "c": "x"}`` (JSON values where they parse)."""
    import json

    if not text:
        return {}
    result: dict[str, Any] = {}
    # split on commas that are not inside brackets, so list values survive
    depth, start, items = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    for item in (it.strip() for it in items):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"--config_overrides item {item!r} is not 'key=value'")
        key, value = (s.strip() for s in item.split("=", 1))
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def check_command_line(argv: Sequence[str], what: str = "train.py option") -> None:
    """Parse ``argv`` as ``train.py`` would, with every check it makes before training (the task's
    included), raising a ValueError naming the first unknown or bad option instead of argparse's exit:
    for callers that launch ``train.py`` later (``euromine benchmark``) and must fail before that."""
    parser = make_parser()

    def fail(message: str) -> None:
        raise ValueError(f"{what}s: {message} (python train.py --help-all lists them)")

    parser.error = fail  # type: ignore[method-assign]
    _, unknown = parser.parse_known_args(list(argv))
    if unknown:
        raise ValueError(f"{what} {unknown[0]}: not an option of train.py (python train.py --help-all lists them)")
    parse_arguments(argv)


def parse_arguments(
    argv: Sequence[str] | None = None,
) -> tuple[ModelArguments, DataArguments, EuroMineTrainingArguments, RunArguments]:
    """Parse a command line (or a single ``.json`` file of arguments, HF style)."""
    parser = make_parser()
    argv = list(argv or [])
    if len(argv) == 1 and argv[0].endswith(".json"):
        parsed = parser.parse_json_file(argv[0])
    else:
        parsed = parser.parse_args_into_dataclasses(args=argv)
    check_task_arguments(parsed[0], parsed[1], parsed[2])
    return parsed  # type: ignore[return-value]
