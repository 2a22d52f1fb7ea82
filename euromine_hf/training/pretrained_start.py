"""Which weights a training run starts from (``--pretrained``, ``--first_layer``), and its load report.

``--size paper`` starts from the Hub checkpoint(s) the paper run started from (the zoo entry's
``pretrained``), ``--size tiny`` from random weights; ``--pretrained none`` trains from scratch and
``--pretrained REPO[@REVISION]_OR_FOLDER`` replaces the checkpoint (the entry's completeness rule
still applies). The report (every tensor copied / adapted / re-initialised / skipped, by name) is
printed and written as ``pretrained_load_report.json`` in the run folder. :func:`build_start_model` is
the model a run starts with: seeded, built from the zoo, then loaded from its start.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

REPORT_NAME = "pretrained_load_report.json"


def pretrained_starts(model_args: Any) -> list[tuple[Any, str]]:
    """``[(PretrainedCheckpoint, source)]`` the run starts from (empty: random weights). No download."""
    from euromine_hf.models.loading import is_local_path
    from euromine_hf.models.paper_checkpoints import PretrainedCheckpoint
    from euromine_hf.models.registry import get_spec

    spec = get_spec(model_args.model)
    choice = model_args.pretrained
    if choice is None:  # the size preset decides: the paper's start for the paper's model
        return [(entry, entry.repo_id) for entry in spec.pretrained] if model_args.size == "paper" else []
    choice = str(choice).strip()
    if choice.lower() == "none":
        return []
    source, revision = choice, None
    if not is_local_path(choice) and "@" in choice:
        source, revision = choice.split("@", 1)
    if spec.pretrained:  # the same network from elsewhere: the entry's part, layout and exceptions apply
        entry = spec.pretrained[0]
        if revision is None and source == entry.repo_id:
            revision = entry.revision
        checkpoint = dataclasses.replace(entry, repo_id=source, revision=revision, reason="given with --pretrained")
    else:
        checkpoint = PretrainedCheckpoint(source, reason="given with --pretrained", part=(), revision=revision)
    return [(checkpoint, source)]


def fetch_pretrained(model_args: Any) -> list[Path]:
    """Make sure every start is available locally (downloading through the Hub cache), before any data
    is read: offline with an empty cache fails here in one line."""
    from euromine_hf.models.pretrained import checkpoint_folder
    from euromine_hf.models.loading import is_local_path

    return [checkpoint_folder(source, None if is_local_path(source) else checkpoint.revision)
            for checkpoint, source in pretrained_starts(model_args)]


def base_model_of(model_args: Any) -> str | None:
    """The model card's ``base_model``: the (first) Hub checkpoint the run started from."""
    from euromine_hf.hub.cards import base_model_for

    starts = pretrained_starts(model_args)
    return base_model_for(starts[0][1]) if starts else None


def start_from_pretrained(model: Any, model_args: Any, report_dir: str | Path | None = None) -> list[Any]:
    """Load the run's starts into ``model``; print the report and (with ``report_dir``) write it."""
    from euromine_hf.io import atomic_write_json
    from euromine_hf.models.pretrained import load_pretrained

    loads = [load_pretrained(model, checkpoint, source, first_layer=model_args.first_layer)
             for checkpoint, source in pretrained_starts(model_args)]
    if not loads:
        return loads
    if report_dir is not None:  # the main process: the others load silently
        path = atomic_write_json(Path(report_dir) / REPORT_NAME, {
            "model": model_args.model, "size": model_args.size, "num_channels": model.config.num_channels,
            "first_layer": model_args.first_layer, "starts": [load.to_dict() for load in loads],
        })
        for load in loads:
            print(load.summary())
        print(f"  every tensor by name (copied too): {path}")
    return loads


def build_start_model(
    model_args: Any, seed: int | None = None, full_determinism: bool = False, report_dir: Any = None,
    pretrained: bool = True,
) -> Any:
    """The zoo model a run trains, started from its pretrained checkpoint(s) (``--pretrained``, by default
    the paper run's with ``--size paper``; the load report goes to ``report_dir``); with ``seed``, every
    RNG is seeded first so ``--seed`` fixes the initial weights. ``pretrained=False`` (a resumed run,
    whose checkpoint replaces every weight) builds it without fetching or loading any start."""
    from euromine_hf.models import build_model

    if seed is not None:
        from transformers import enable_full_determinism, set_seed

        enable_full_determinism(seed) if full_determinism else set_seed(seed)
    model = build_model(model_args.model, size=model_args.size, **model_args.overrides())
    if pretrained:
        start_from_pretrained(model, model_args, report_dir=report_dir)
    return model
