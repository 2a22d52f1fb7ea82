"""``EuroMineTrainingArguments``: transformers' ``TrainingArguments`` with the paper's recipe as defaults.

In its own module because it imports transformers (and torch): :mod:`euromine_hf.training.arguments`
holds the light dataclasses that ``train --help`` reads, and re-exports this class lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from euromine_hf.training.recipe import PAPER_RECIPE


@dataclass
class EuroMineTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with the paper's recipe as defaults, plus the temporal-consistency term."""

    _argument_group_name = "Training (transformers TrainingArguments; the paper's recipe as defaults)"

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
        # Pinned memory only helps host-to-accelerator copies; without an accelerator torch warns once
        # per DataLoader (every epoch and evaluation), burying the training log in repeats.
        import torch

        accelerator = getattr(torch, "accelerator", None)
        has_accelerator = accelerator.is_available() if accelerator is not None else torch.cuda.is_available()
        if self.use_cpu or not has_accelerator:
            self.dataloader_pin_memory = False
