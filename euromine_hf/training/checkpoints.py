"""Which checkpoint ``--resume_from_checkpoint`` names (``last``/``true``: the newest *complete*
``checkpoint-*`` of the output folder), checked before anything is built so a wrong value fails in one line.

A run killed while it saved leaves a ``checkpoint-N`` folder without the ``trainer_state.json`` the
Trainer writes last (after weights, optimizer, scheduler and RNG state); resuming from it fails or
restarts the schedule. transformers' ``get_last_checkpoint`` takes the highest number whatever it holds,
so "last" here skips such a folder and says so.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: Written last by ``Trainer._save_checkpoint``: its presence marks a checkpoint as complete.
STATE_FILE = "trainer_state.json"


def is_complete(checkpoint: Path) -> bool:
    try:
        return isinstance(json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def checkpoint_folders(folder: str | Path) -> list[Path]:
    """Every ``checkpoint-N`` folder of ``folder``, oldest (smallest N) first, complete or not."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _CHECKPOINT.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))


def complete_checkpoints(folder: str | Path) -> list[Path]:
    """The complete ``checkpoint-N`` folders of ``folder``, oldest first."""
    return [p for p in checkpoint_folders(folder) if is_complete(p)]


def resume_path(training_args: Any) -> str | None:
    """The checkpoint folder to resume from, or None for a fresh run."""
    value = training_args.resume_from_checkpoint
    if value is None or value in ("", "false", "False"):
        return None
    if value in ("true", "True", "last"):
        folder = Path(training_args.output_dir)
        every, complete = checkpoint_folders(folder), complete_checkpoints(folder)
        if not complete:
            found = f" ({len(every)} without {STATE_FILE}: cut while saving)" if every else ""
            raise FileNotFoundError(f"--resume_from_checkpoint {value}: no complete checkpoint-* folder in {folder}{found}")
        skipped = [p.name for p in every if p not in complete and every.index(p) > every.index(complete[-1])]
        if skipped:
            logger.warning("--resume_from_checkpoint %s: %s: no %s (cut while saving); resuming from %s",
                           value, ", ".join(skipped), STATE_FILE, complete[-1].name)
        return str(complete[-1])
    if not Path(value).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    return value
