"""The numeric core of every EuroMineNet score (numpy / torch; no ``evaluate`` import).

Scorers reduce each batch of masks to counts at once, accumulate them incrementally
(``add`` many times, then ``compute``) and merge across processes by summing counts:

* :class:`MappingScorer` — ``F1_{year}``, ``OF1``, ``precision``, ``recall``, ``IoU``,
  ``LCA-TIoU``, ``GCA-TIoU`` (paper Table 4);
* :class:`ChangeScorer` — ``F1_interval_{k}``, ``OF1``, ... (Table 5);
* :class:`PostClassificationScorer` — the same change scores read off mapping predictions (Table 6).

Protocols (``site`` paper default, ``micro``, ``patch``) and empty-denominator rules (``skip``
default, ``one``, ``zero``) are documented in :mod:`euromine_hf.metrics.scores`.

Scores by name: ``euromine_hf.metrics.load("ca_tiou")`` is ``evaluate.load`` of the module folder
shipped in the package (:mod:`euromine_hf.metrics.modules`: ``yearly_f1``, ``ca_tiou``,
``interval_f1``, ``post_classification``), offline.
"""

from __future__ import annotations

from euromine_hf.metrics.change import INTERVALS, ChangeScorer
from euromine_hf.metrics.counts import binary_counts, counts_torch, pack_masks
from euromine_hf.metrics.mapping import MappingScorer, PostClassificationScorer
from euromine_hf.metrics.modules import MODULE_NAMES, install_evaluate_names, load
from euromine_hf.metrics.scores import EMPTY_RULES, PROTOCOLS

#: ``evaluate`` module classes, imported on first access (importing ``evaluate`` is slow and the
#: core must not depend on it).
_HF_MODULES = ("YearlyF1", "CaTIoU", "IntervalF1", "PostClassificationF1")


def __getattr__(name: str):
    if name in _HF_MODULES:
        from euromine_hf.metrics import hf_modules

        return getattr(hf_modules, name)
    raise AttributeError(f"module 'euromine_hf.metrics' has no attribute {name!r}")


__all__ = [
    "CaTIoU",
    "IntervalF1",
    "PostClassificationF1",
    "YearlyF1",
    "EMPTY_RULES",
    "MODULE_NAMES",
    "install_evaluate_names",
    "load",
    "INTERVALS",
    "PROTOCOLS",
    "ChangeScorer",
    "MappingScorer",
    "PostClassificationScorer",
    "binary_counts",
    "counts_torch",
    "pack_masks",
]
