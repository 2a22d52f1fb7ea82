"""The benchmark's tasks as the Hub's ``eval.yaml`` declares them (the file at a dataset repo's root
that makes the dataset a *benchmark* which can hold a leaderboard).

Model repos report scores in ``.eval_results/*.yaml`` entries (``huggingface_hub.EvalResultEntry``)
whose ``dataset.task_id`` must name a task ``id`` of this file; the Hub then aggregates them into
the dataset's leaderboard (``HfApi.get_dataset_leaderboard``). The Hub documents ``eval.yaml`` as
Inspect-AI based with top-level ``name``, ``description``, ``evaluation_framework`` and a
``tasks`` list whose entries carry ``id``, ``config`` and ``split``; the other task fields here
(``metrics`` with their evaluate module, ``primary_metric``, ``protocol``, ``submission``) are
EuroMineNet's own and say how a score is computed, so a leaderboard can be rebuilt from them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVAL_FILE", "TASK_IDS", "TASKS", "eval_yaml", "render_eval_yaml", "task"]

#: Where the spec lives in the dataset repo (and in an export folder).
EVAL_FILE = "eval.yaml"

_HIGHER = True
TASKS: tuple[dict[str, Any], ...] = (
    {
        "id": "multitemporal-mapping",
        "name": "Multitemporal mining-footprint mapping",
        "description": "A mine / non-mine mask for every site and year; scored per year (F1), overall (OF1) "
                       "and for temporal consistency (LCA-TIoU over consecutive years, GCA-TIoU over all year pairs).",
        "config": "mapping",
        "split": "test",
        "protocol": "site",
        "primary_metric": "OF1",
        "metrics": [
            {"name": "OF1", "module": "yearly_f1", "higher_is_better": _HIGHER},
            {"name": "GCA-TIoU", "module": "ca_tiou", "higher_is_better": _HIGHER},
            {"name": "LCA-TIoU", "module": "ca_tiou", "higher_is_better": _HIGHER},
        ],
        "submission": "one mask per test site and year: {Site}/Year{YYYY}.tif (the site raster's size) or {Site}/{YYYY}/Patch{n}.npy|png (160x160), values 0/1 or 0/255, plus submission.json; see `euromine leaderboard format`",
    },
    {
        "id": "change-detection",
        "name": "Cross-temporal change detection",
        "description": "The change mask |G_t2 - G_t1| for every year pair t1 < t2; scored by F1 per interval "
                       "t2 - t1 (1..9) and overall (OF1).",
        "config": "cd_pairs",
        "split": "test",
        "protocol": "site",
        "primary_metric": "OF1",
        "metrics": [
            {"name": "OF1", "module": "interval_f1", "higher_is_better": _HIGHER},
            *({"name": f"F1_interval_{k}", "module": "interval_f1", "higher_is_better": _HIGHER} for k in range(1, 10)),
        ],
        "submission": "one change mask per test site and year pair: {Site}/Change{Y1}_{Y2}.tif or {Site}/{Y1}_{Y2}/Patch{n}.npy|png, values 0/1 or 0/255, plus submission.json; see `euromine leaderboard format`",
    },
)
TASK_IDS: tuple[str, ...] = tuple(t["id"] for t in TASKS)


def task(task_id: str) -> dict[str, Any]:
    """The declaration of one task (a copy); a ``ValueError`` names the known ids."""
    for entry in TASKS:
        if entry["id"] == task_id:
            return {**entry, "metrics": [dict(m) for m in entry["metrics"]]}
    raise ValueError(f"task_id {task_id!r}: expected one of {list(TASK_IDS)}")


def eval_yaml(configs: Any = None, *, synthetic: bool = False) -> dict[str, Any]:
    """The ``eval.yaml`` content; only tasks whose config is among ``configs`` (all when ``None``)."""
    tasks = [task(t["id"]) for t in TASKS if configs is None or t["config"] in configs]
    name = "EuroMineNet (synthetic stand-in)" if synthetic else "EuroMineNet"
    return {
        "name": name,
        "description": "Multitemporal Sentinel-2 benchmark of EU mining sites (2015-2024): mining-footprint "
                       "mapping and cross-temporal change detection, scored at site level with the "
                       "euromine-hf evaluate modules.",
        "evaluation_framework": "euromine-hf",
        "tasks": tasks,
    }


def render_eval_yaml(configs: Any = None, *, synthetic: bool = False) -> str:
    import yaml

    return yaml.safe_dump(eval_yaml(configs, synthetic=synthetic), sort_keys=False, allow_unicode=True, width=1000)
