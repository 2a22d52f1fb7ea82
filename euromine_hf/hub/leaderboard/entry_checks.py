"""A local result entry read back, checked again: it may have been edited by hand since ``submit`` wrote it.

The metadata a submitter controls is checked by the very rules ``submit`` applies to ``submission.json``
(:func:`~euromine_hf.hub.leaderboard.submission.check_meta_fields`); the fields ``submit`` adds (task,
scores, archive, hash) by their own. An entry that fails is shown apart with every reason, never ranked.
"""

from __future__ import annotations

from typing import Any

from euromine_hf.hub.leaderboard.entries import RESULT_FORMAT
from euromine_hf.hub.leaderboard.submission import META_KEYS, check_meta_fields
from euromine_hf.hub.leaderboard.tasks import HUB_TASK_IDS, TASKS
from euromine_hf.hub.leaderboard.text import CONTROL, SHA256

#: What ``submit`` stores beside the columns: the scorer's pooled scores over every unit
#: (``metrics.mapping.confusion_scores``; its F1 is the column OF1). Shown nowhere, so not range-checked.
POOLED_SCORES = ("precision", "recall", "IoU")


def _found(value: Any) -> str:
    return f"{value!r:.80}"


def check_entry(entry: Any, where: str, task: str | None) -> list[str]:
    """Every reason the entry read from ``where`` cannot be ranked (``[]`` when it can).

    ``task`` is the task its folder names (``entries/TASK/``), or ``None`` for an entry handed over
    by a program (which need not carry ``format``: the call says what it is); the entry's own ``task`` must be that one, its ``hub_task_id`` that task's, and
    its score keys the task's columns (or some of them) and :data:`POOLED_SCORES`. Score values are checked by the rows
    (:func:`~euromine_hf.hub.leaderboard.values.check_scores`).
    """
    if not isinstance(entry, dict):
        return [f"{where}: content: expected a JSON object, found {type(entry).__name__}"]
    problems: list[str] = []
    if task is not None and entry.get("format") != RESULT_FORMAT:  # a file must say what it is; a program's dict is one by its call
        problems.append(f"{where}: field 'format': expected {RESULT_FORMAT!r}, found {_found(entry.get('format'))}")
    check_meta_fields({k: v for k, v in entry.items() if k in META_KEYS}, where, None, problems)
    declared = entry.get("task")
    if task is None:  # no folder to say: the entry's own task, by its name (as entry_path files it)
        task = declared if declared in TASKS else None
        if declared in HUB_TASK_IDS:
            problems.append(f"{where}: field 'task': expected one of {sorted(TASKS)} (not the Hub's task id), found {_found(declared)}")
    elif declared != task and (declared in TASKS or declared in HUB_TASK_IDS):
        problems.append(f"{where}: field 'task': expected {task!r} (the folder it is in), found {_found(declared)}")
    if task is None:
        return problems
    spec = TASKS[task]
    for key, expected in (("hub_task_id", spec.hub_task_id), ("primary_metric", spec.primary), ("protocol", "site"), ("split", "test")):
        if key in entry and entry[key] != expected:
            problems.append(f"{where}: field {key!r}: expected {expected!r}, found {_found(entry[key])}")
    scores = entry.get("scores")
    if not isinstance(scores, dict):
        problems.append(f"{where}: field 'scores': expected an object of column -> value, found {_found(scores)}")
    elif set(scores) - set(spec.columns) - set(POOLED_SCORES):
        problems.append(f"{where}: field 'scores': expected only {task} columns {list(spec.columns)} (and the scorer's "
                        f"{', '.join(POOLED_SCORES)}), found {_found(sorted(set(scores) - set(spec.columns) - set(POOLED_SCORES)))}")
    archive = entry.get("archive")
    name = archive.get("name") if isinstance(archive, dict) else None
    if not isinstance(archive, dict) or not isinstance(archive.get("synthetic"), bool) or not isinstance(name, str) \
            or not 0 < len(name) <= 255 or CONTROL.search(name) or not _str_list(archive.get("test_sites", [])):
        problems.append(f"{where}: field 'archive': expected an object with synthetic (true/false), name (1-255 printable "
                        f"characters) and test_sites (names), found {_found(archive)}")
    sha = entry.get("submission_sha256")
    if sha is not None and not (isinstance(sha, str) and SHA256.match(sha)):
        problems.append(f"{where}: field 'submission_sha256': expected 64 lowercase hex digits or null, found {_found(sha)}")
    if entry.get("hub") is not None and not isinstance(entry["hub"], dict):
        problems.append(f"{where}: field 'hub': expected an object or null, found {_found(entry['hub'])}")
    return problems


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and not CONTROL.search(v) for v in value)
