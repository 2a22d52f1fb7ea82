"""Scores read back (entries, cards, ``.eval_results``) checked: finite fractions in the task's columns."""

from __future__ import annotations

import math
from typing import Any, Mapping

from euromine_hf.hub.leaderboard.tasks import TASKS


def _shown_value(value: Any) -> str:
    """A read value for a message: short, whatever it is (a 300-digit number is cut)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}... ({len(text)} characters)"


def check_scores(task: str, scores: Any) -> tuple[dict[str, float | None], list[str]]:
    """The task's columns read from ``scores`` (others are ignored), and why any is unusable.

    Every column is an F1 or IoU score, so a usable value is a finite number in [0, 1]; a value
    that is not is ``None`` with a problem naming the column and what was found. The ranking
    column must be there: a row without it cannot be ranked.
    """
    spec = TASKS[task]
    if not isinstance(scores, Mapping):
        return dict.fromkeys(spec.columns), [f"scores: expected a mapping of column -> value, found {type(scores).__name__}"]
    values: dict[str, float | None] = {}
    problems = []
    for column in spec.columns:
        v = scores.get(column)
        values[column] = None
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.append(f"{column}: expected a number in [0, 1], found {_shown_value(v)}")
        elif not (0 <= v <= 1) or (isinstance(v, float) and not math.isfinite(v)):  # NaN fails 0 <= v
            problems.append(f"{column}: expected a finite value in [0, 1] (an F1/IoU score), found {_shown_value(v)}")
        else:
            values[column] = float(v)
    if scores.get(spec.primary) is None:
        problems.insert(0, f"{spec.primary}: expected the ranking score, found none")
    return values, problems
