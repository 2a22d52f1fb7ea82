"""The Hugging Face Hub face of euromine-hf: model cards with ``model-index`` results, push and pull.

- :mod:`euromine_hf.hub.cards`: ``render_model_card`` / ``save_model_card`` / ``read_model_index``.
- :mod:`euromine_hf.hub.push`: ``push_model_folder``, ``push_dataset_folder``, ``push_metric_spaces``, ``pull_model``.
- :mod:`euromine_hf.hub.eval_spec`: the benchmark's tasks in the Hub's ``eval.yaml`` form.

Tests run these against :class:`euromine_hf.testing.LocalHub`, a Hub-compatible server on 127.0.0.1.
"""

from __future__ import annotations

from euromine_hf.hub.cards import (
    ModelCardError,
    read_model_index,
    render_model_card,
    save_model_card,
)
from euromine_hf.hub.push import (
    HubPushError,
    check_model_folder,
    pull_model,
    push_dataset_folder,
    push_metric_spaces,
    push_model_folder,
)

__all__ = [
    "HubPushError",
    "ModelCardError",
    "check_model_folder",
    "pull_model",
    "push_dataset_folder",
    "push_metric_spaces",
    "push_model_folder",
    "read_model_index",
    "render_model_card",
    "save_model_card",
]
