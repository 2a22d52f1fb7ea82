"""Command-line arguments of ``train.py`` as ``HfArgumentParser`` dataclasses.

Defaults are the EuroMineNet paper's training recipe (Adam without weight decay, lr 1e-4, batch 32
per device, cosine decay to 1e-7, cross-entropy), so ``train.py --model X --data_dir D`` reproduces
the benchmark set-up; the CPU demo overrides a few of them explicitly (see ``demo.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from transformers import HfArgumentParser, TrainingArguments

from euromine_hf.bands import YEARS

#: What the paper fixes; ``tests/test_training.py`` checks the dataclass defaults against it.
PAPER_RECIPE: dict[str, Any] = {
    "optim": "adamw_torch",  # AdamW with weight_decay=0 is exactly Adam
    "weight_decay": 0.0,
    "learning_rate": 1e-4,
    "per_device_train_batch_size": 32,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr": 1e-7},
    "loss": "cross_entropy",
}

SAMPLINGS = ("per_year", "timeseries")
SIZES = ("paper", "tiny")


@dataclass
class ModelArguments:
    """Which zoo model to train and how to initialise it."""

    model: str = field(default="unet", metadata={"help": "Model zoo name (see euromine_hf.models.MODEL_ZOO)."})
    size: str = field(
        default="paper",
        metadata={"help": "Size preset: 'paper' (the benchmarked configuration) or 'tiny' (tests, CPU demo).",
                  "choices": list(SIZES)},
    )
    rgb_checkpoint: str | None = field(
        default=None,
        metadata={"help": "RGB checkpoint (local folder or Hub id) whose first layer is adapted to the 10 bands."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config overrides as 'key=value,key=value' (values parsed as JSON when they can be)."},
    )

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"--size must be one of {SIZES}; got {self.size!r}")

    def overrides(self) -> dict[str, Any]:
        """Parse ``config_overrides`` into a dict, failing with the offending item named."""
        return parse_overrides(self.config_overrides)


@dataclass
class DataArguments:
    """Where the data comes from and how it is sampled."""

    data_dir: str | None = field(
        default=None,
        metadata={"help": "EuroMineNet archive (raw GeoTIFF or cropped .npy layout). Default: the embedded "
                          "synthetic archive, generated on first use and cached."},
    )
    years: list[int] = field(default_factory=lambda: list(YEARS), metadata={"help": "Years to train and score on."})
    sampling: str = field(
        default="per_year",
        metadata={"help": "'per_year': one (patch, year) sample per row; 'timeseries': all years of a patch per "
                          "row, loss = mean over the years (the paper's Eq. 6).",
                  "choices": list(SAMPLINGS)},
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
        if not 0.0 <= self.radiometric_jitter < 1.0:
            raise ValueError(f"--radiometric_jitter must be in [0, 1); got {self.radiometric_jitter}")
        for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be a positive count; got {value}")


@dataclass
class RunArguments:
    """What happens around training: the demo preset, the baseline and the written reports."""

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


@dataclass
class EuroMineTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with the paper's recipe as defaults, plus the temporal-consistency term."""

    output_dir: str | None = field(default="outputs/train", metadata={"help": "Where everything is written."})
    learning_rate: float = field(default=PAPER_RECIPE["learning_rate"], metadata={"help": "Initial learning rate."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Batch size per device (paper: 32)."})
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Evaluation batch size per device."})
    optim: str = field(default=PAPER_RECIPE["optim"], metadata={"help": "Optimizer (AdamW with no decay = Adam)."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay (paper: none)."})
    lr_scheduler_type: str = field(default=PAPER_RECIPE["lr_scheduler_type"], metadata={"help": "LR schedule."})
    lr_scheduler_kwargs: dict | str | None = field(
        default_factory=lambda: dict(PAPER_RECIPE["lr_scheduler_kwargs"]),
        metadata={"help": "Schedule kwargs as JSON (paper: cosine down to 1e-7)."},
    )
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate on validation."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to checkpoint (matches eval_strategy)."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept (the best is always kept)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Reload the best checkpoint by OF1."})
    metric_for_best_model: str | None = field(default="OF1", metadata={"help": "Checkpoint selection metric."})
    greater_is_better: bool | None = field(default=True, metadata={"help": "OF1: higher is better."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep all columns: the collators pick what the model needs."}
    )
    label_names: list[str] | None = field(default_factory=lambda: ["labels"], metadata={"help": "Label key."})
    batch_eval_metrics: bool = field(
        default=True, metadata={"help": "Score evaluation batch by batch (no (N,160,160) arrays kept)."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log the training loss every N steps."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Experiment trackers."})
    loss: str = field(default="cross_entropy", metadata={"help": "Per-pixel loss (the paper: cross-entropy)."})
    temporal_consistency_weight: float = field(
        default=0.0,
        metadata={"help": "Weight of the temporal-consistency term (needs --sampling timeseries): mean squared "
                          "difference of mine probabilities between years where the ground truth did not change."},
    )

    def __post_init__(self) -> None:
        if self.loss != "cross_entropy":
            raise ValueError(f"--loss supports only 'cross_entropy' (the paper's loss); got {self.loss!r}")
        if self.temporal_consistency_weight < 0:
            raise ValueError(f"--temporal_consistency_weight must be >= 0; got {self.temporal_consistency_weight}")
        super().__post_init__()


ALL_ARGUMENTS = (ModelArguments, DataArguments, EuroMineTrainingArguments, RunArguments)


def make_parser() -> HfArgumentParser:
    """The parser ``train.py`` and ``euromine train`` share."""
    import argparse

    from euromine_hf.training.cli import DESCRIPTION

    return HfArgumentParser(ALL_ARGUMENTS, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)


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


def parse_arguments(
    argv: Sequence[str] | None = None,
) -> tuple[ModelArguments, DataArguments, EuroMineTrainingArguments, RunArguments]:
    """Parse a command line (or a single ``.json`` file of arguments, HF style)."""
    parser = make_parser()
    argv = list(argv or [])
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])  # type: ignore[return-value]
    return parser.parse_args_into_dataclasses(args=argv)  # type: ignore[return-value]
