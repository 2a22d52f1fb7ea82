"""The training tasks, by ``--task`` name: what the one run function (``training/run.py``) drives.

Adding a task: a module here with a :class:`~euromine_hf.training.tasks.base.Task` subclass, and its
line in :data:`TASKS`. Light to import (the task modules import torch inside their methods), since
``train --help`` reads the names.
"""

from __future__ import annotations

from euromine_hf.training.tasks.base import Task
from euromine_hf.training.tasks.change_detection import ChangeDetectionTask
from euromine_hf.training.tasks.multitemporal import MultitemporalTask
from euromine_hf.training.tasks.segmentation import SegmentationTask

#: ``--task`` name → the task (the order is the ``--help`` order).
TASKS: dict[str, Task] = {
    "segmentation": SegmentationTask(),
    "change_detection": ChangeDetectionTask(),
    "multitemporal": MultitemporalTask(),
}

__all__ = ["TASKS", "Task", "get_task"]


def get_task(name: str) -> Task:
    """The task named by ``--task``; an unknown name is a ``ValueError`` listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"--task: expected one of {', '.join(TASKS)}, got {name!r}") from None
