"""The Hugging Face Hub face of euromine-hf: model cards with ``model-index`` results, push and pull.

- :mod:`euromine_hf.hub.cards`: ``render_model_card`` / ``save_model_card`` / ``read_model_index``.
- :mod:`euromine_hf.hub.push`: ``push_model_folder``, ``push_dataset_folder``, ``push_metric_spaces``, ``pull_model``.
- :mod:`euromine_hf.hub.eval_spec`: the benchmark's tasks in the Hub's ``eval.yaml`` form.
- :mod:`euromine_hf.hub.leaderboard`: the benchmark leaderboard (a package; its public names are listed in its docstring).

Names are imported on first use (PEP 562), so the command-line modules under ``euromine_hf.hub``
load without huggingface_hub until a command runs.

Tests run these against :class:`euromine_hf.testing.LocalHub`, a Hub-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> defining module
_NAMES = {
    "ModelCardError": "euromine_hf.hub.cards",
    "read_model_index": "euromine_hf.hub.cards",
    "render_model_card": "euromine_hf.hub.cards",
    "save_model_card": "euromine_hf.hub.cards",
    "HubPushError": "euromine_hf.hub.push",
    "check_model_folder": "euromine_hf.hub.push",
    "pull_model": "euromine_hf.hub.push",
    "push_dataset_folder": "euromine_hf.hub.push",
    "push_metric_spaces": "euromine_hf.hub.push",
    "push_model_folder": "euromine_hf.hub.push",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
