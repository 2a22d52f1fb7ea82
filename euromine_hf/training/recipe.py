"""The paper's training recipe, the defaults of ``EuroMineTrainingArguments`` (a leaf both argument
modules read: ``arguments`` stays light, ``training_arguments`` subclasses transformers')."""

from __future__ import annotations

from typing import Any

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
