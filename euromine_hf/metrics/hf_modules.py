"""``evaluate`` faces of the core scorers (the only file of the package that imports ``evaluate``).

The module scripts in ``euromine_hf/metrics/modules/*/`` (linked from the repository's
``metrics/``) subclass these, so ``euromine_hf.metrics.load("ca_tiou")`` works offline; the same
classes are importable as ``euromine_hf.metrics.CaTIoU`` etc.

Why they override ``add_batch``/``add``/``compute``: ``evaluate`` would push every input through
Arrow, and 160×160 masks go through it at ~100 masks/s. Here masks are reduced to count rows by
the core *before* Arrow, and one Arrow row holds one batch's rows as sequences, so the Arrow cost
is per batch, not per pixel or per sample. Precomputed counts are accepted instead of masks.

CA-TIoU and post-classification need all years of a patch: the module keeps the core's bit-packed
buffer between ``add_batch`` calls and writes a patch's pair counts once its years are complete
(the rest at ``compute``). In a multi-process ``evaluate`` run each process must therefore see
every year of the patches it gets (or pass timeseries batches / precomputed pair counts).
"""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any, Sequence

import datasets
import evaluate
import numpy as np
import pyarrow.compute as pc

from euromine_hf.bands import PATCH_SIZE, YEARS
from euromine_hf.metrics.accumulate import CONFUSION_COLUMNS, PAIR_CA_COLUMNS
from euromine_hf.metrics.base import ScorerBase
from euromine_hf.metrics.change import ChangeScorer
from euromine_hf.metrics.mapping import INCOMPLETE_RULES, MappingScorer

__all__ = ["CITATION", "YearlyF1", "CaTIoU", "IntervalF1", "PostClassificationF1"]

CITATION = """\
@misc{yu2025eurominenet,
  title         = {EuroMineNet: A Multitemporal Sentinel-2 Benchmark for Spatiotemporal Mining Footprint
                   Analysis in the European Union (2015-2024)},
  author        = {Yu, Weikang and Nwazelibe, Vincent and Ma, Xianping and Zhang, Xiaokang and
                   Gloaguen, Richard and Zhu, Xiao Xiang and Ghamisi, Pedram},
  year          = {2025},
  eprint        = {2510.14661},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV}
}
"""

_MASK_KEYS = ("sites", "patches", "rows", "cols", "site_heights", "site_widths")
_COMPUTE_KWARGS = ("protocol", "empty")
#: what ``evaluate.EvaluationModule.__init__`` itself takes (the rest of its ``**kwargs`` it ignores)
_EVALUATE_INIT_KWARGS = frozenset({"config_name", "keep_in_memory", "cache_dir", "num_process", "process_id", "seed",
                                   "experiment_id", "hash", "max_concurrent_cache_files", "timeout"})


def _batch_features() -> datasets.Features:
    """One Arrow row per ``add_batch``: the batch's site names, and its integer keys and counts
    flattened row-major (``n × len(key_columns[1:])`` and ``n × len(count_columns)``). Three
    columns keep the per-batch Arrow cost small."""
    return datasets.Features(
        {
            "site": datasets.Sequence(datasets.Value("string")),
            "keys": datasets.Sequence(datasets.Value("int64")),
            "counts": datasets.Sequence(datasets.Value("int64")),
        }
    )


class _CountModule(evaluate.Metric):
    """Masks or counts in, count rows through Arrow, core scorer out."""

    table: str = ""
    label: str = ""  # the module's name in error messages
    key_columns: tuple[str, ...] = ()
    count_columns: tuple[str, ...] = ()
    description: str = ""
    inputs: str = ""
    label: str = "module"

    #: fewest years a score is defined for (the year-pair modules compare years)
    min_years = 1

    def __init__(self, *args: Any, years: Sequence[int] = YEARS, incomplete: str = "error", **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _EVALUATE_INIT_KWARGS)
        if unknown:  # evaluate would drop them silently: a typo or a compute keyword given to load
            raise ValueError(f"{self.label}: unexpected load keyword(s) {unknown}; expected years=, incomplete= or "
                             f"evaluate's own ({', '.join(sorted(_EVALUATE_INIT_KWARGS))}); per-sample inputs go to compute/add_batch")
        self.years = tuple(int(y) for y in years)
        if len(self.years) < self.min_years:
            raise ValueError(f"{self.label}: years {list(self.years)}: expected at least {self.min_years} years "
                             f"({self.label} scores pairs of years)")
        if incomplete not in INCOMPLETE_RULES:
            raise ValueError(f"incomplete: expected one of {INCOMPLETE_RULES}, got {incomplete!r}")
        #: year-pair modules: a patch lacking some of ``years`` is an error ("error") or warned about
        self.incomplete = incomplete
        super().__init__(*args, **kwargs)
        self._reducer = self._new_scorer()
        #: site patches were added without their offsets (see :meth:`_note_offsets`)
        self._whole_patches = False
        #: yearly_f1: masks were added without years (one group) — None until the first batch
        self._grouped: bool | None = None
        self._grouped_scored = False

    # --- to implement ------------------------------------------------------------------------------
    def _new_scorer(self) -> ScorerBase:
        raise NotImplementedError

    def _reduce(self, predictions: Any, references: Any, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _counts_to_rows(self, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _score(self, scorer: ScorerBase, protocol: str, empty: str) -> dict[str, float]:
        raise NotImplementedError

    def _flush(self) -> dict[str, np.ndarray] | None:
        return None

    # --- evaluate plumbing ------------------------------------------------------------------------
    def _info(self) -> evaluate.MetricInfo:
        info = evaluate.MetricInfo(
            description=self.description,
            citation=CITATION,
            inputs_description=self.inputs,
            features=_batch_features(),
            homepage="https://arxiv.org/abs/2510.14661",
            reference_urls=["https://arxiv.org/abs/2510.14661"],
        )
        # Read the sequences back as Arrow (MetricInfo only allows a format for scalar features,
        # and the default Python lists would cost more than the scoring itself).
        info.format = "arrow"
        return info

    def _write_rows(self, rows: dict[str, np.ndarray] | None) -> None:
        if rows is None:
            return
        n = len(rows[self.count_columns[0]])
        if n == 0:
            return
        keys = np.stack([np.asarray(rows[c], np.int64) for c in self.key_columns[1:]], 1).reshape(-1)
        counts = np.stack([np.asarray(rows[c], np.int64) for c in self.count_columns], 1).reshape(-1)
        evaluate.Metric.add_batch(self, site=[np.asarray(rows["site"]).astype(str).tolist()], keys=[keys], counts=[counts])

    def _note_offsets(self, predictions: Any, keys: dict[str, Any]) -> None:
        """Remember 160-px patches of named sites added without ``rows``/``cols``/site sizes: the
        site protocol then counts their overlapping pixels once per patch, which :meth:`compute`
        says in a warning instead of silently."""
        if keys.get("sites") is None or tuple(np.shape(predictions)[-2:]) != (PATCH_SIZE, PATCH_SIZE):
            return
        if any(keys.get(k) is None for k in ("rows", "cols", "site_heights", "site_widths")):
            self._whole_patches = True

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """Add masks (``predictions``/``references`` plus keys) or precomputed counts (see the card)."""
        for name, masks in (("predictions", predictions), ("references", references)):
            _no_channel_axis(masks, f"{self.label}: {name}")
        if predictions is not None:
            self._note_offsets(predictions, kwargs)
        if predictions is not None or references is not None:
            if predictions is None or references is None:
                raise ValueError("add_batch: pass both predictions and references masks, or precomputed counts")
            rows = self._reduce(predictions, references, kwargs)
        else:
            rows = self._counts_to_rows(kwargs)
        self._write_rows(rows)

    def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
        """One sample: the same inputs as :meth:`add_batch` without the batch axis."""
        batched = {k: [v] if v is not None else None for k, v in kwargs.items()}
        if prediction is not None or reference is not None:
            self.add_batch(predictions=np.asarray(prediction)[None], references=np.asarray(reference)[None], **batched)
        else:
            self.add_batch(**{k: np.asarray(v[0])[None] if k in ("counts", "full_counts") else v for k, v in batched.items()})

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> dict | None:
        """Scores of everything added (``protocol=``, ``empty=`` as in the core)."""
        compute_kwargs = {k: kwargs.pop(k) for k in _COMPUTE_KWARGS if k in kwargs}
        if predictions is not None or references is not None or kwargs:
            self.add_batch(predictions=predictions, references=references, **kwargs)
        self._write_rows(self._flush())
        self._reducer = self._new_scorer()
        if self._whole_patches and compute_kwargs.get("protocol", "site") == "site":
            warnings.warn(
                f"{self.name}: 160x160 site patches were added without rows, cols, site_heights and "
                "site_widths: protocol='site' scored each patch whole, so pixels where edge patches "
                "overlap counted more than once (pass the patch offsets, as the dataset rows hold them)",
                UserWarning, stacklevel=2,
            )
        self._whole_patches = False
        self._grouped_scored, self._grouped = bool(self._grouped), None
        if self.writer is None:
            raise ValueError(f"{self.name}: nothing was added (add masks or counts first)")
        return evaluate.Metric.compute(self, **compute_kwargs)

    def _compute(self, site: Any, keys: Any, counts: Any, protocol: str = "site", empty: str = "skip") -> dict[str, float]:
        sites = pc.list_flatten(site).to_numpy(zero_copy_only=False)
        key_arr = pc.list_flatten(keys).to_numpy().reshape(len(sites), len(self.key_columns) - 1)
        count_arr = pc.list_flatten(counts).to_numpy().reshape(len(sites), len(self.count_columns))
        rows: dict[str, Any] = {"site": sites}
        rows.update({c: key_arr[:, i] for i, c in enumerate(self.key_columns[1:])})
        rows.update({c: count_arr[:, i] for i, c in enumerate(self.count_columns)})
        scorer = self._new_scorer()
        scorer.add_rows(self.table, rows)
        return self._score(scorer, protocol, empty)


def _pick(keys: dict[str, Any], allowed: Sequence[str], where: str) -> dict[str, Any]:
    bad = [k for k in keys if k not in allowed]
    if bad:
        raise ValueError(f"{where}: unexpected inputs {bad}; expected some of {list(allowed)}")
    return {k: v for k, v in keys.items() if v is not None}


def _no_channel_axis(masks: Any, name: str) -> None:
    """Masks read from an image file often keep a trailing channel axis ``(H, W, 1)``; the scorers
    would read it as another layout and fail far from the cause."""
    if masks is None:
        return
    listed = isinstance(masks, (list, tuple))  # a list holds 2-D masks; an array may be (B, T, H, W)
    shapes = [tuple(np.shape(m)) for m in masks] if listed else [tuple(np.shape(masks))[1:]]
    for i, shape in enumerate(shapes):
        if len(shape) >= 3 and (shape[-1] == 1 or (listed and len(shape) == 3 and shape[-1] in (3, 4) and shape[-2] > 4)):
            raise ValueError(f"{name}[{i}]: expected a 2-D mask (H, W), got shape {shape} with a channel axis last "
                             "(squeeze it, or take one channel)")


def _stack_masks(masks: Any, name: str) -> Any:
    """A list of 2-D masks as one ``(N, H, W)`` array (tensors and arrays pass through); masks of
    different sizes are an error naming ``name`` (they cannot form one series)."""
    if isinstance(masks, (list, tuple)):
        shapes = {tuple(np.shape(m)) for m in masks}
        if len(shapes) > 1:
            raise ValueError(f"{name}: masks of one series must share a size, got {sorted(shapes)}")
        return np.stack([np.asarray(m) for m in masks]) if masks else np.zeros((0, 0, 0), np.uint8)
    return masks


def _ragged(masks: Any) -> bool:
    """A list of 2-D masks of more than one size."""
    return isinstance(masks, (list, tuple)) and len({tuple(np.shape(m)) for m in masks}) > 1


def _is_series(masks: Any) -> bool:
    """One series of 2-D masks: a list of them (any sizes: checked later) or a ``(T, H, W)`` array."""
    if isinstance(masks, (list, tuple)):
        return all(len(np.shape(m)) == 2 for m in masks)
    return len(np.shape(masks)) == 3


def _no_keys(keys: dict[str, Any], names: Sequence[str]) -> bool:
    return all(keys.get(k) is None for k in names)


def _series_years(module: "_CountModule", n: int, given: Any) -> list[int]:
    """The years of one site's series of ``n`` masks: ``given`` (compute kwarg) or the module's
    years (default: the published 2015-2024, in order). A count that fits neither is the one truly
    ambiguous input; the message names the keyword that resolves it."""
    years = list(module.years)
    if given is None:
        if n != len(years):
            raise ValueError(
                f"{module.label}: {n} masks without years: expected {len(years)}, one per year {years[0]}-{years[-1]} in order "
                f"(for a series of other years, load the module with years=[...] naming them)"
            )
        return years
    given = [int(y) for y in np.asarray(given).reshape(-1)]
    if len(given) != n or sorted(given) != years:
        raise ValueError(
            f"{module.label}: years {given} for {n} masks: expected each of the module's years {years} once "
            f"(load with years=[...] to score other years)"
        )
    return given


class YearlyF1(_CountModule):
    """F1 per year, OF1, precision, recall, IoU of mine maps (paper Table 4, left part)."""

    table = "mapping"
    key_columns = ("site", "patch", "year")
    count_columns = CONFUSION_COLUMNS
    description = "EuroMineNet mapping scores: F1 per year (2015-2024), overall F1, precision, recall, IoU."
    inputs = """
Simplest call: compute(predictions=[masks], references=[masks]): one group, returns F1 (= OF1),
    precision, recall, IoU.
Args (masks): predictions, references: (N, H, W) masks (nonzero = mine); years: (N,) years;
    optional sites, patches, rows, cols, site_heights, site_widths (patch keys and offsets).
Args (counts): counts (N, 4) tp, fp, fn, tn over owned pixels, years, optional sites, patches,
    full_counts (N, 4) over the whole patch (for protocol="patch").
compute kwargs: protocol "site" | "micro" | "patch", empty "skip" | "one" | "zero".
A (site, patch, year) added twice (with a patches index) is an error, not counted twice.
Returns: F1_{year}, OF1, precision, recall, IoU.
"""

    label = "yearly_f1"

    def _new_scorer(self) -> MappingScorer:
        return MappingScorer(years=self.years, temporal=False)

    def _reduce(self, predictions: Any, references: Any, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        kw = _pick(keys, _MASK_KEYS + ("years",), "yearly_f1")
        grouped = "years" not in kw
        if self._grouped is not None and self._grouped != grouped:
            raise ValueError("yearly_f1: years were given for some batches and not for others: pass years for every batch or for none")
        self._grouped = grouped
        if grouped and _ragged(predictions):  # masks of several sizes: one group all the same
            if not isinstance(references, (list, tuple)) or len(references) != len(predictions):
                raise ValueError(f"yearly_f1: {len(predictions)} prediction masks: expected as many reference masks")
            for pred, ref in zip(predictions, references):
                self._reducer.add(np.asarray(pred)[None], np.asarray(ref)[None], years=[self.years[0]])
            return self._reducer.pop_rows("mapping")
        if not grouped and _ragged(predictions):  # masks of several sizes, each with its year (and keys): one at a time
            n = len(predictions)
            if not isinstance(references, (list, tuple)) or len(references) != n:
                raise ValueError(f"yearly_f1: {n} prediction masks: expected as many reference masks")
            for i, (pred, ref) in enumerate(zip(predictions, references)):
                one = {k: np.asarray(v).reshape(-1)[i:i + 1] if np.size(v) == n else v for k, v in kw.items()}
                self._reducer.add(np.asarray(pred)[None], np.asarray(ref)[None], **one)
            return self._reducer.pop_rows("mapping")
        if grouped:  # the simplest call: the masks are one group, scored as one year
            predictions, references = _stack_masks(predictions, f"{self.label}: predictions"), _stack_masks(references, f"{self.label}: references")
            kw["years"] = np.full(len(predictions), self.years[0])
        self._reducer.add(predictions, references, **kw)
        return self._reducer.pop_rows("mapping")

    def _counts_to_rows(self, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        kw = _pick(keys, ("counts", "full_counts", "sites", "patches", "years"), "yearly_f1 counts")
        if "counts" not in kw:
            raise ValueError("yearly_f1: pass masks (predictions, references) or counts (N, 4)")
        grouped = "years" not in kw
        if self._grouped is not None and self._grouped != grouped:
            raise ValueError("yearly_f1: years were given for some batches and not for others: pass years for every batch or for none")
        self._grouped = grouped
        if grouped:
            kw["years"] = np.full(len(np.asarray(kw["counts"]).reshape(-1, 4)), self.years[0])
        self._reducer.add_counts(kw.pop("counts"), **kw)
        return self._reducer.pop_rows("mapping")

    def _score(self, scorer: ScorerBase, protocol: str, empty: str) -> dict[str, float]:
        out = scorer.compute(protocol=protocol, empty=empty)
        if self._grouped_scored:  # no years: one group, so no per-year columns, and its F1 is OF1
            out = {"F1": out["OF1"], **{k: v for k, v in out.items() if not k.startswith("F1_")}}
        return out


class CaTIoU(_CountModule):
    """LCA-TIoU and GCA-TIoU of a mask time series (paper Table 4, right part)."""

    table = "pairs"
    label = "ca_tiou"
    min_years = 2
    key_columns = ("site", "patch", "year_i", "year_j")
    count_columns = PAIR_CA_COLUMNS
    description = "EuroMineNet change-aware temporal IoU: LCA-TIoU (consecutive years) and GCA-TIoU (all year pairs)."
    inputs = """
Simplest call: compute(predictions=[T masks], references=[T masks]): one site's series, the years
    of `years` in order (or pass years=[...], one per mask).
Args (masks): predictions, references: (N, H, W) one year per sample with years, sites, patches
    (years of one (site, patch) are paired across calls), or timeseries (N, T, H, W) with the T
    years; optional rows, cols, site_heights, site_widths.
Args (counts): sites, patches, years_i, years_j, intersections, unions (inside U_ij, owned
    pixels), optional intersections_full, unions_full (whole patch), pixels (site weights).
compute kwargs: protocol "site" | "micro" | "patch", empty "skip" | "one" | "zero".
Every patch (with a patches index) must have every year of `years` (load kwarg, default 2015-2024):
    a patch missing one is an error naming site, patch and years; load with incomplete="warn" to
    score the pairs present instead (with a warning).
Returns: LCA-TIoU, GCA-TIoU, and CA-TIoU_{year_i}_{year_j} for every pair.
"""

    def _new_scorer(self) -> MappingScorer:
        return MappingScorer(years=self.years, temporal=True, incomplete=self.incomplete)

    def _reduce(self, predictions: Any, references: Any, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        kw = _pick(keys, _MASK_KEYS + ("years",), self.label)
        if _is_series(predictions) and _no_keys(kw, _MASK_KEYS):
            # the simplest call: one site's series of masks (T, H, W), years in order unless given
            predictions, references = _stack_masks(predictions, f"{self.label}: predictions"), _stack_masks(references, f"{self.label}: references")
            years = _series_years(self, len(predictions), kw.get("years"))
            order = np.argsort(years)
            predictions, references = predictions[order][None], references[order][None]
            kw["years"] = sorted(years)
        self._reducer.add(predictions, references, **kw)
        self._reducer.tables["mapping"].reset()
        return self._reducer.pop_rows("pairs")

    def _flush(self) -> dict[str, np.ndarray] | None:
        # Patches still missing years are named now: once flushed, a patch with a single year
        # leaves no pair row behind to be noticed at scoring.
        self._reducer.check_complete(self.label)
        self._reducer.flush_pending()
        return self._reducer.pop_rows("pairs")

    def _counts_to_rows(self, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        allowed = ("sites", "patches", "years_i", "years_j", "intersections", "unions", "intersections_full", "unions_full", "pixels")
        kw = _pick(keys, allowed, "ca_tiou counts")
        missing = [k for k in ("years_i", "years_j", "intersections", "unions") if k not in kw]
        if missing:
            raise ValueError(f"ca_tiou: pass masks (predictions, references) or pair counts; missing {missing}")
        n = len(np.asarray(kw["intersections"]).reshape(-1))
        inter, union = kw["intersections"], kw["unions"]
        rows = {
            "site": kw.get("sites"), "patch": kw.get("patches", np.full(n, -1)), "year_i": kw["years_i"],
            "year_j": kw["years_j"], "inter": inter, "union": union, "inter_full": kw.get("intersections_full", inter),
            "union_full": kw.get("unions_full", union), "pixels": kw.get("pixels", np.zeros(n, np.int64)),
        }
        if np.any(np.asarray(inter) > np.asarray(union)):
            raise ValueError("ca_tiou counts: intersections must not exceed unions")
        self._reducer.add_rows("pairs", rows)
        return self._reducer.pop_rows("pairs")

    def _score(self, scorer: ScorerBase, protocol: str, empty: str) -> dict[str, float]:
        out = scorer.compute_ca_tiou(protocol=protocol, empty=empty)
        out.update(scorer.compute_pairwise(protocol=protocol, empty=empty))
        return out


class IntervalF1(_CountModule):
    """Change-detection F1 per interval 1..9 and OF1 (paper Table 5)."""

    table = "change"
    key_columns = ("site", "patch", "year_t1", "year_t2")
    count_columns = CONFUSION_COLUMNS
    description = "EuroMineNet change-detection scores: F1 per interval t2 - t1, overall F1, precision, recall, IoU."
    inputs = """
Simplest call: compute(predictions=[45 change masks], references=[10 yearly masks or 45 change
    masks]): one site, year pairs in the order of itertools.combinations(years, 2).
Args (masks): predictions: (N, H, W) change masks; references: (N, H, W) change ground truth
    |G_t2 - G_t1| (or references_t1 and references_t2 mapping masks); year_t1, year_t2 (or
    intervals); optional sites, patches, rows, cols, site_heights, site_widths.
Args (counts): counts (N, 4) tp, fp, fn, tn per pair, year_t1/year_t2 (or intervals), optional
    sites, patches, full_counts.
compute kwargs: protocol "site" | "micro" | "patch", empty "skip" | "one" | "zero".
Errors: years outside `years` (load kwarg, default 2015-2024), intervals longer than its span, and
    references given together with references_t1/references_t2.
Returns: F1_interval_{k}, OF1, precision, recall, IoU.
"""

    def _new_scorer(self) -> ChangeScorer:
        return ChangeScorer(years=self.years)

    label = "interval_f1"
    min_years = 2

    def _reduce(self, predictions: Any, references: Any, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        allowed = _MASK_KEYS + ("year_t1", "year_t2", "intervals", "references_t1", "references_t2")
        kw = _pick(keys, allowed, "interval_f1")
        if references is not None and _no_keys(kw, allowed):
            predictions, references, kw = self._site_series(predictions, references)
        self._reducer.add(predictions, references, **kw)
        return self._reducer.pop_rows("change")

    def _site_series(self, predictions: Any, references: Any) -> tuple[Any, Any, dict[str, Any]]:
        """The simplest call: one site's change masks for every year pair in the published order
        ((2015, 2016), (2015, 2017), ..., (2023, 2024): ``itertools.combinations`` of the years),
        against the pairs' change masks or the site's T yearly reference masks."""
        predictions, references = _stack_masks(predictions, f"{self.label}: predictions"), _stack_masks(references, f"{self.label}: references")
        pairs = list(combinations(self.years, 2))
        if len(predictions) != len(pairs):
            raise ValueError(
                f"interval_f1: {len(predictions)} change masks without year_t1/year_t2: expected {len(pairs)} "
                f"(one per year pair of {self.years[0]}-{self.years[-1]}, in order {pairs[0]}, {pairs[1]}, ...), "
                "or pass year_t1=[...] and year_t2=[...]"
            )
        t1 = np.asarray([a for a, _ in pairs])
        t2 = np.asarray([b for _, b in pairs])
        if len(references) == len(self.years) and len(references) != len(pairs):  # yearly masks: form the change
            index = {y: i for i, y in enumerate(self.years)}
            ref = np.asarray(references) != 0
            references = ref[[index[y] for y in t2]] ^ ref[[index[y] for y in t1]]
        elif len(references) != len(pairs):
            raise ValueError(
                f"interval_f1: {len(references)} references for {len(pairs)} change masks: expected {len(pairs)} "
                f"change masks or {len(self.years)} yearly masks ({self.years[0]}-{self.years[-1]})"
            )
        return predictions, references, {"year_t1": t1, "year_t2": t2}

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """Add change masks (with references, or references_t1/references_t2) or counts."""
        if references is not None and (kwargs.get("references_t1") is not None or kwargs.get("references_t2") is not None):
            raise ValueError("interval_f1: pass references (change masks) or references_t1 and references_t2, not both")
        if predictions is not None and references is None and kwargs.get("references_t1") is not None:
            self._note_offsets(predictions, kwargs)
            self._write_rows(self._reduce(predictions, None, kwargs))
            return
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def _counts_to_rows(self, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        kw = _pick(keys, ("counts", "full_counts", "sites", "patches", "year_t1", "year_t2", "intervals"), "interval_f1 counts")
        if "counts" not in kw:
            raise ValueError("interval_f1: pass masks (predictions, references) or counts (N, 4)")
        self._reducer.add_counts(kw.pop("counts"), **kw)
        return self._reducer.pop_rows("change")

    def _score(self, scorer: ScorerBase, protocol: str, empty: str) -> dict[str, float]:
        return scorer.compute(protocol=protocol, empty=empty)


class PostClassificationF1(_CountModule):
    """Change read off two mapping predictions, |P_t2 - P_t1|, scored like IntervalF1 (Table 6)."""

    table = "pairs"
    label = "post_classification"
    min_years = 2
    key_columns = ("site", "patch", "year_i", "year_j")
    count_columns = PAIR_CA_COLUMNS + CONFUSION_COLUMNS
    description = "EuroMineNet post-classification change scores: F1 per interval of |P_t2 - P_t1| against |G_t2 - G_t1|."
    inputs = """
Args: predictions, references: mapping masks, (N, H, W) one year per sample with years, sites,
    patches (paired across calls), or timeseries (N, T, H, W) with the T years; optional rows,
    cols, site_heights, site_widths. (Precomputed change counts go to interval_f1.)
compute kwargs: protocol "site" | "micro" | "patch", empty "skip" | "one" | "zero".
Every patch must have every year of `years`, as for ca_tiou (incomplete="warn" to relax).
Returns: F1_interval_{k}, OF1, precision, recall, IoU.
"""

    def _new_scorer(self) -> MappingScorer:
        return MappingScorer(years=self.years, temporal=True, post_classification=True, incomplete=self.incomplete)

    _reduce = CaTIoU._reduce
    _flush = CaTIoU._flush

    def _counts_to_rows(self, keys: dict[str, Any]) -> dict[str, np.ndarray]:
        raise ValueError("post_classification: pass mapping masks; precomputed change counts go to metrics/interval_f1")

    def _score(self, scorer: ScorerBase, protocol: str, empty: str) -> dict[str, float]:
        return scorer.compute_post_classification(protocol=protocol, empty=empty)
