"""euromine-hf: the EuroMineNet benchmark on the Hugging Face stack.

``import euromine_hf`` is light (no torch, transformers or datasets): the command line's ``--help``
must answer at once.  Names are loaded on first use (PEP 562): ``euromine_hf.BANDS``,
``euromine_hf.models`` …

Registration with the transformers Auto classes (``AutoConfig``, ``AutoModel``,
``AutoModelForSemanticSegmentation``, ``AutoImageProcessor``) happens when the models are imported:
``import euromine_hf.models`` or any ``from euromine_hf.models import …``.  A plain ``import
euromine_hf`` does not register them (that would import torch); without the package at all, a saved
model loads with ``trust_remote_code=True`` from the code files saved beside its weights.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: attribute -> module that defines it, imported on first access
_ATTRIBUTES = {"BANDS": "euromine_hf.bands", "MEAN": "euromine_hf.bands", "STD": "euromine_hf.bands", "YEARS": "euromine_hf.bands"}
_SUBMODULES = ("bands", "cli", "data", "hub", "inference", "io", "metrics", "models", "testing", "training")

__all__ = ["BANDS", "MEAN", "STD", "YEARS", "__version__", "models"]


def __getattr__(name: str) -> Any:
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ATTRIBUTES) | set(_SUBMODULES))
