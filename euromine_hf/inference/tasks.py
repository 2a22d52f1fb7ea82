"""Which :class:`~euromine_hf.inference.jobs.PredictionTask` runs a model: the one dispatch point.

A model's config names its task (``config.task``); anything not listed here is mapped as a
segmenter, as ``predict`` always has. A new kind of model adds its task module's constant to
:data:`TASKS` and nothing else in the package changes.
"""

from __future__ import annotations

from typing import Any

from euromine_hf.inference.change_detection import CHANGE_DETECTION
from euromine_hf.inference.jobs import PredictionTask
from euromine_hf.inference.multitemporal import MULTITEMPORAL
from euromine_hf.inference.segmentation import SEGMENTATION

__all__ = ["TASKS", "task_of", "task_of_config"]

TASKS: dict[str, PredictionTask] = {task.name: task for task in (SEGMENTATION, CHANGE_DETECTION, MULTITEMPORAL)}


def task_of_config(config: Any) -> PredictionTask:
    """The prediction task of a model config (its ``task`` field; segmentation by default)."""
    return TASKS.get(str(getattr(config, "task", SEGMENTATION.name)), SEGMENTATION)


def task_of(model: Any) -> PredictionTask:
    """The prediction task of a loaded model."""
    return task_of_config(model.config)
