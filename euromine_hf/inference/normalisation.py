"""Which statistics normalise a model's inputs: its folder's image processor, else the published ones.

A model folder's ``preprocessor_config.json`` is what ``AutoImageProcessor`` and the pipelines
normalise with, so ``euromine predict`` reads the same file: two routes with different constants
would map the same scene differently. A folder without one (a model built in memory, a folder
saved without a processor) gets the published per-band statistics of ``euromine_hf.bands``. The
file is checked field by field, since a silently ignored or misread file shifts every pixel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from euromine_hf.bands import MEAN, STD

__all__ = ["PROCESSOR_FILE", "Normalisation", "model_normalisation", "normalisation_of"]

#: the image processor's file in a model folder (transformers' name)
PROCESSOR_FILE = "preprocessor_config.json"


class Normalisation(NamedTuple):
    """Per-band ``mean`` and ``std`` (float32, one per model band, in the model's order) and where
    they came from: the processor file, or ``None`` for the published statistics."""

    mean: np.ndarray
    std: np.ndarray
    source: Path | None

    def describe(self, model: str) -> str:
        """One console line saying which statistics normalise the inputs."""
        if self.source is not None:
            return f"normalising with image_mean/image_std of {self.source}"
        return f"normalising with the published Sentinel-2 statistics ({model} has no {PROCESSOR_FILE})"


def _processor_file(source: str) -> Path | None:
    """The processor file of a model folder or Hub id (through huggingface_hub's cache), if it has one."""
    from euromine_hf.models.loading import is_local_path

    if not source:
        return None
    if is_local_path(source):
        path = Path(source) / PROCESSOR_FILE
        return path if Path(source).is_dir() and path.is_file() else None
    from transformers.utils import cached_file

    try:
        found = cached_file(source, PROCESSOR_FILE, _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None
    return Path(found) if found else None


def normalisation_of(path: Path, bands: Sequence[str]) -> Normalisation:
    """The statistics a processor file states for a model on ``bands``, checked field by field."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: content: expected the model's image processor as JSON, found {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: content: expected a JSON object (the model's image processor), found {type(config).__name__}")
    names = config.get("band_names")
    if names is not None and names != list(bands):
        raise ValueError(f"{path}: band_names: expected the model's bands {list(bands)} (config.json), found {names!r}")
    from euromine_hf.models.image_processing import band_statistic  # here: loading the models is not light

    try:  # the image processor's own rule, so predict and AutoImageProcessor accept the same files
        mean, std = (band_statistic(config.get(f), bands, f, published) for f, published in (("image_mean", MEAN), ("image_std", STD)))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return Normalisation(np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32), path)


def model_normalisation(model: Any, bands: Sequence[str]) -> Normalisation:
    """The statistics that normalise ``model``'s inputs on ``bands``: those of the processor file in
    the folder (or cached Hub repo) it was loaded from, else the published ones."""
    from euromine_hf.models.image_processing import band_statistic

    path = _processor_file(str(getattr(model, "name_or_path", "") or ""))
    if path is None:
        return Normalisation(np.asarray(band_statistic(None, bands, "image_mean", MEAN), dtype=np.float32),
                             np.asarray(band_statistic(None, bands, "image_std", STD), dtype=np.float32), None)
    return normalisation_of(path, bands)
