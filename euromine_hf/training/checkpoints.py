"""Which checkpoint ``--resume_from_checkpoint`` names (``last``/``true``: the newest ``checkpoint-*``
of the output folder), checked before anything is built so a wrong value fails in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resume_path(training_args: Any) -> str | None:
    """The checkpoint folder to resume from, or None for a fresh run."""
    value = training_args.resume_from_checkpoint
    if value is None or value in ("", "false", "False"):
        return None
    if value in ("true", "True", "last"):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(training_args.output_dir) if Path(training_args.output_dir).is_dir() else None
        if last is None:
            raise FileNotFoundError(f"--resume_from_checkpoint {value}: no checkpoint-* folder in {training_args.output_dir}")
        return last
    if not Path(value).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    return value
