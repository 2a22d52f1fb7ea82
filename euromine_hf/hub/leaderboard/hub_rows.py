"""Leaderboard rows read from the Hub: model cards' ``model-index`` and the dataset's leaderboard."""

from __future__ import annotations

from typing import Any, Iterable

from euromine_hf.hub.leaderboard.hub_refusal import HubRefusal
from euromine_hf.hub.leaderboard.rows import make_row
from euromine_hf.hub.leaderboard.tasks import HUB_TASK_IDS, TASKS


def rows_from_model_cards(model_repos: Iterable[str], dataset_repo: str | None = None, token: str | None = None) -> list[dict[str, Any]]:
    """Rows from the ``model-index`` of each model's card: its results whose task name is ours, on the
    test split or on no named split (as ``.eval_results`` entries), on ``dataset_repo`` when given; one
    row per task and dataset. A card with none is an error naming
    it: the user asked for that repo, and an empty answer would hide why it is missing."""
    from huggingface_hub import ModelCard

    rows = []
    for repo in model_repos:
        with HubRefusal(f"model repo {repo}"):
            card = ModelCard.load(repo, token=token)
        per_task: dict[tuple[str, str], dict[str, float]] = {}
        for r in card.data.eval_results or []:
            if r.task_name in HUB_TASK_IDS and r.dataset_split in (None, "test") and (dataset_repo is None or r.dataset_type == dataset_repo):
                per_task.setdefault((HUB_TASK_IDS[r.task_name], r.dataset_type), {})[r.metric_type] = r.metric_value
        if not per_task:
            raise ValueError(
                f"model repo {repo}: README.md model-index: expected results with task name {' or '.join(sorted(HUB_TASK_IDS))} "
                f"on the test split{f' of {dataset_repo}' if dataset_repo else ''}, found none"
            )
        for (task, dataset), scores in per_task.items():
            rows.append(make_row(task, card.data.model_name or repo, "model card", scores, model_repo=repo, data=f"model-index: {dataset}"))
    return rows


def rows_from_hub(dataset_repo: str, token: str | None = None, with_cards: bool = True) -> list[dict[str, Any]]:
    """Rows from the dataset's Hub leaderboard (every model, fine-tunes included); each model's
    card adds the secondary columns when it has them."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with HubRefusal(f"dataset repo {dataset_repo}: leaderboard"):
        entries = api.get_dataset_leaderboard(dataset_repo, base_model_only=False)
    rows = []
    for e in entries:
        task_id = getattr(e, "taskId", None) or getattr(e, "task_id", None)
        task = HUB_TASK_IDS.get(task_id) if task_id else None
        if task is None:
            continue
        primary = TASKS[task].primary
        scores: dict[str, Any] = {primary: e.value}
        card_problems: list[str] = []
        if with_cards:
            try:
                for card_row in rows_from_model_cards([e.model_id], dataset_repo, token):
                    if card_row["task"] == task:
                        scores = {**{k: v for k, v in card_row["scores"].items() if v is not None}, primary: e.value}
                        card_problems = [f"model card {p}" for p in card_row["problems"] if not p.startswith(f"{primary}:")]
            except ValueError:  # a card that cannot be read (or none) leaves the leaderboard's own value
                pass
        row = make_row(task, e.model_id, "hub leaderboard", scores, model_repo=e.model_id, data=f"hub: {dataset_repo}")
        row["problems"] = [f".eval_results {p}" for p in row["problems"]] + card_problems
        rows.append(row)
    return rows
