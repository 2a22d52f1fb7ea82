"""The two leaderboard tasks: CLI name, Hub task id, the scorer behind each and the columns shown."""

from __future__ import annotations

from dataclasses import dataclass

from euromine_hf.bands import YEARS


@dataclass(frozen=True)
class TaskSpec:
    """One leaderboard task: its CLI name, its ``eval.yaml`` task id, the scorer behind it and
    the columns shown (the first is the ranking metric, the value the Hub's leaderboard ranks)."""

    name: str
    hub_task_id: str
    title: str
    evaluate_task: str  # ``euromine evaluate --task``
    columns: tuple[str, ...]
    #: (paper_results.json section, table number, label) of the reference rows
    paper_tables: tuple[tuple[str, int, str], ...]
    unit: str  # what one submitted mask covers

    @property
    def primary(self) -> str:
        return self.columns[0]


TASKS: dict[str, TaskSpec] = {
    "mapping": TaskSpec(
        name="mapping",
        hub_task_id="multitemporal-mapping",
        title="Multitemporal mine mapping",
        evaluate_task="mapping",
        columns=("OF1", "GCA-TIoU", "LCA-TIoU", *(f"F1_{y}" for y in YEARS)),
        paper_tables=(("mapping", 4, "Table 4"),),
        unit="site and year",
    ),
    "change_detection": TaskSpec(
        name="change_detection",
        hub_task_id="change-detection",
        title="Mine change detection",
        evaluate_task="change",
        columns=("OF1", *(f"F1_interval_{k}" for k in range(1, 10))),
        paper_tables=(("change_detection", 5, "Table 5"), ("post_classification", 6, "Table 6, post-classification")),
        unit="site and year pair",
    ),
}
HUB_TASK_IDS: dict[str, str] = {spec.hub_task_id: name for name, spec in TASKS.items()}


def task_spec(task: str) -> TaskSpec:
    """The spec of a task given by CLI name (``mapping``) or Hub task id (``multitemporal-mapping``)."""
    name = HUB_TASK_IDS.get(task, task)
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)} (or {sorted(HUB_TASK_IDS)}), found {task!r}")
    return TASKS[name]
