"""Publishing a scored entry to the Hub: ``.eval_results/*.yaml`` and the card's ``model-index``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Mapping

from euromine_hf.hub.card_rules import check_card_text
from euromine_hf.hub.leaderboard.hub_refusal import HubRefusal
from euromine_hf.hub.leaderboard.tasks import TASKS, TaskSpec
from euromine_hf.hub.leaderboard.text import SHA256, is_author, is_link, is_repo_id, kept_strings, short_description


def _eval_yaml_tasks(api: Any, dataset_repo: str) -> tuple[set[str], str, str]:
    """Task ids the dataset's ``eval.yaml`` declares, the dataset's current revision and its declared
    name (``EuroMineNet``, or ``EuroMineNet (synthetic stand-in)`` for an export of a synthetic archive)."""
    import yaml
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    with HubRefusal(f"dataset repo {dataset_repo}"):
        info = api.dataset_info(dataset_repo)
    try:
        path = hf_hub_download(dataset_repo, "eval.yaml", repo_type="dataset", revision=info.sha)
    except EntryNotFoundError as exc:
        raise ValueError(f"dataset repo {dataset_repo}: eval.yaml: expected a benchmark declaration (eval.yaml with tasks), found no such file") from exc
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"dataset repo {dataset_repo}: eval.yaml: expected YAML, found {exc}") from exc
    tasks = data.get("tasks") if isinstance(data, dict) else None
    ids = {str(t["id"]) for t in tasks if isinstance(t, dict) and "id" in t} if isinstance(tasks, list) else set()
    name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else "EuroMineNet"
    return ids, info.sha, name


def _notes(entry: Mapping[str, Any], spec: TaskSpec) -> str:
    others = ", ".join(f"{c} {entry['scores'][c]:.4f}" for c in spec.columns[1:4] if c in entry["scores"])
    data = "synthetic archive" if entry["archive"]["synthetic"] else "archive"
    return f"EuroMineNet test split ({data} {entry['archive']['name']}), site protocol; {spec.primary}; {others}"


def _entry_card(entry: Mapping[str, Any], model_repo: str, dataset_repo: str, dataset_name: str) -> Any:
    """The card of a model repo that ``submit --push`` creates: it says what the repo is (a leaderboard
    entry: scores of submitted predictions, no weights), on which data, and by whom."""
    from huggingface_hub import ModelCard, ModelCardData

    # the submitter's licence for the results, or the Hub's "unknown": never one chosen for them
    data = ModelCardData(license=entry.get("license") or "unknown", tags=["euromine", "leaderboard-entry"], datasets=[dataset_repo])
    lines = [f"# {html.escape(entry['model'])}", "",
             f"A leaderboard entry for **{dataset_name}** ([{dataset_repo}](https://huggingface.co/datasets/{dataset_repo})): "
             "the scores below were computed by `euromine leaderboard submit` from the predictions of this model on "
             "the test split (site protocol). This repository holds the results only, no model weights.", ""]
    if (entry.get("archive") or {}).get("synthetic"):
        lines += ["The predictions were scored on a **synthetic** stand-in archive, not on the real EuroMineNet: "
                  "these numbers are not comparable with the paper's.", ""]
    for label, value in (("Authors", ", ".join(kept_strings(entry.get("authors"), is_author))),
                         ("Description", short_description(entry.get("description")) or ""),
                         ("Links", " ".join(kept_strings(entry.get("links"), is_link)))):
        if value:
            lines.append(f"- {label}: {value}")
    sha = entry.get("submission_sha256")
    if isinstance(sha, str) and SHA256.match(sha):
        lines.append(f"- Predictions scored: sha256 `{sha}`")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def push_result(entry: dict[str, Any], model_repo: str, dataset_repo: str, token: str | None = None) -> dict[str, Any]:
    """Publish a scored entry: ``.eval_results/*.yaml`` and the card's ``model-index``, one commit.

    The dataset repo must declare the task in its ``eval.yaml`` (that is what makes it a
    benchmark whose leaderboard lists the model). Returns the ``hub`` block stored in the entry.
    """
    import yaml
    from huggingface_hub import CommitOperationAdd, EvalResult, EvalResultEntry, HfApi, ModelCard, eval_result_entries_to_yaml
    from huggingface_hub.utils import EntryNotFoundError

    for what, repo in (("--model-repo", model_repo), ("--dataset-repo", dataset_repo)):
        if not is_repo_id(repo):
            raise ValueError(f"{what}: expected a Hub id NAMESPACE/NAME, found {repo!r}")
    spec = TASKS[entry["task"]]
    api = HfApi(token=token)
    declared, revision, dataset_name = _eval_yaml_tasks(api, dataset_repo)
    if spec.hub_task_id not in declared:
        raise ValueError(
            f"dataset repo {dataset_repo}: eval.yaml tasks: expected a task with id {spec.hub_task_id!r}, found {sorted(declared) or 'none'}"
        )
    # Scores on the synthetic stand-in are never published as EuroMineNet results, and real ones
    # never under a synthetic dataset: the dataset repo's eval.yaml says which it is.
    synthetic = bool((entry.get("archive") or {}).get("synthetic"))
    if synthetic != ("synthetic" in dataset_name.lower()):
        raise ValueError(
            f"dataset repo {dataset_repo}: eval.yaml name: expected "
            + ("a synthetic dataset (name containing 'synthetic'), as these scores are on the synthetic archive"
               if synthetic else "the real EuroMineNet (no 'synthetic' in its name), as these scores are on a real archive")
            + f", found {dataset_name!r}"
        )
    scores = entry["scores"]
    links = entry.get("links") or []
    result = EvalResultEntry(
        dataset_id=dataset_repo, task_id=spec.hub_task_id, value=round(float(scores[spec.primary]), 6),
        dataset_revision=revision, date=entry["submitted_at"],
        source_url=links[0] if links else None, source_name="submission" if links else None,
        notes=_notes(entry, spec),
    )
    yaml_path = f".eval_results/{dataset_repo.replace('/', '--')}--{spec.hub_task_id}.yaml"
    yaml_text = yaml.safe_dump(eval_result_entries_to_yaml([result]), sort_keys=False, allow_unicode=True)

    fresh = _entry_card(entry, model_repo, dataset_repo, dataset_name)  # checked before anything is created
    check_card_text(str(fresh), "model", f"model repo {model_repo}: the card submit creates")
    with HubRefusal(f"model repo {model_repo}"):
        api.create_repo(model_repo, exist_ok=True)
        try:
            card = ModelCard.load(model_repo, token=token)
        except EntryNotFoundError:
            card = fresh
    model_name = card.data.model_name or entry["model"]
    kept = [r for r in (card.data.eval_results or []) if not (r.dataset_type == dataset_repo and r.task_name == spec.hub_task_id)]
    ours = [
        EvalResult(
            task_type="image-segmentation", task_name=spec.hub_task_id, dataset_type=dataset_repo, dataset_name=dataset_name,
            dataset_split="test", dataset_revision=revision, metric_type=column, metric_name=column,
            metric_value=round(float(scores[column]), 6), metric_config="site protocol",
        )
        for column in spec.columns if column in scores
    ]
    card.data.model_name = model_name
    card.data.eval_results = kept + ours
    with HubRefusal(f"model repo {model_repo}"):
        info = api.create_commit(
            model_repo,
            operations=[
                CommitOperationAdd(yaml_path, yaml_text.encode("utf-8")),
                CommitOperationAdd("README.md", str(card).encode("utf-8")),
            ],
            commit_message=f"EuroMineNet leaderboard: {spec.hub_task_id} results of {entry['model']}"[:200],
        )
    return {"model_repo": model_repo, "dataset_repo": dataset_repo, "dataset_revision": revision,
            "eval_results_file": yaml_path, "commit_url": info.commit_url}
