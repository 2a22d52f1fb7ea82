"""``compute_metrics`` for Trainer: per-year F1, OF1 and site-level LCA/GCA-TIoU (mapping), and
F1 per interval and OF1 of change detection (:class:`ChangeMetrics`).

The collators hand the model only ``pixel_values`` and ``labels``, so the keys a score needs
(site, patch, year, patch offset, site size) are read here from the evaluated dataset, in order:
Trainer's evaluation sampler is sequential and ``gather_for_metrics`` keeps dataset order across
processes, so the i-th prediction is the dataset's i-th row.  Works one-shot or streaming
(``batch_eval_metrics=True``: one call per batch, ``compute_result`` on the last one), which keeps
no (N,160,160) arrays in memory.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from euromine_hf.bands import YEARS

#: dataset column → keyword of ``MappingScorer.add``
KEY_COLUMNS: dict[str, str] = {
    "site": "sites",
    "patch": "patches",
    "year": "years",
    "row": "rows",
    "col": "cols",
    "site_height": "site_heights",
    "site_width": "site_widths",
}


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


#: pair dataset column → keyword of ``ChangeScorer.add``
PAIR_KEY_COLUMNS: dict[str, str] = {
    "site": "sites",
    "patch": "patches",
    "year_t1": "year_t1",
    "year_t2": "year_t2",
    "row": "rows",
    "col": "cols",
    "site_height": "site_heights",
    "site_width": "site_widths",
}


def read_pair_keys(dataset: Any) -> dict[str, np.ndarray]:
    """Key columns of a change-detection evaluation set, in its order.

    A :class:`~euromine_hf.data.pairs.PairDataset` is read from its index (no pixel is touched);
    a materialised ``cd_pairs`` ``Dataset`` or a sequence of pair dicts like any other dataset.
    """
    index = getattr(dataset, "index", None)
    rows = getattr(dataset, "rows", None)
    if index is not None and rows is not None and hasattr(index, "row_t1"):
        keys = {"year_t1": np.asarray(index.year_t1), "year_t2": np.asarray(index.year_t2)}
        for column in PAIR_KEY_COLUMNS:
            if column in keys:
                continue
            if column not in rows.keys:
                raise ValueError(f"pair dataset: its mapping rows lack the key column {column!r} that site-level "
                                 f"scoring needs; they have {sorted(rows.keys)}")
            keys[column] = np.asarray(rows.keys[column])[index.row_t1]
        return keys
    return read_metric_keys(dataset, PAIR_KEY_COLUMNS)


def read_metric_keys(dataset: Any, key_columns: dict[str, str] = KEY_COLUMNS) -> dict[str, np.ndarray]:
    """The key columns of an evaluation dataset as arrays (HF ``Dataset`` or a sequence of dicts)."""
    columns = list(key_columns)
    names = getattr(dataset, "column_names", None)
    if names is not None:  # datasets.Dataset: read only the small columns
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(
                f"evaluation dataset lacks the key column(s) {missing} that site-level scoring needs; "
                f"it has {names}"
            )
        table = dataset.select_columns(columns).to_dict()
        return {c: np.asarray(table[c]) for c in columns}
    rows = [dataset[i] for i in range(len(dataset))]
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"evaluation dataset row {i} lacks key field(s) {missing}; it has {sorted(row)}")
    return {c: np.asarray([row[c] for row in rows]) for c in columns}


class MappingMetrics:
    """Callable ``compute_metrics`` bound to one evaluation dataset at a time.

    ``bind(dataset)`` is called by :class:`EuroMineTrainer` before each ``evaluate``/``predict``.
    ``scorer_factory`` builds a fresh accumulator (default ``MappingScorer(years, protocol)``).
    """

    def __init__(
        self,
        years: Sequence[int] = YEARS,
        protocol: str = "site",
        dataset: Any = None,
        scorer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.years = [int(y) for y in years]
        self.protocol = protocol
        if scorer_factory is None:
            from euromine_hf.metrics import MappingScorer

            def scorer_factory() -> Any:
                return MappingScorer(years=self.years, protocol=self.protocol)

        self._factory = scorer_factory
        self._keys: dict[str, np.ndarray] | None = None
        self._scorer: Any = None
        self._cursor = 0
        if dataset is not None:
            self.bind(dataset)

    #: dataset column → scorer keyword, and how they are read
    key_columns: dict[str, str] = KEY_COLUMNS

    def read_keys(self, dataset: Any) -> dict[str, np.ndarray]:
        return read_metric_keys(dataset)

    def bind(self, dataset: Any) -> None:
        """Score ``dataset`` next; resets any partial accumulation."""
        self._keys = self.read_keys(dataset)
        self.reset()

    def reset(self) -> None:
        self._scorer = self._factory()
        self._cursor = 0

    @property
    def num_rows(self) -> int:
        return 0 if self._keys is None else len(self._keys["site"])

    def add(self, predictions: Any, references: Any) -> None:
        """Accumulate the next rows in dataset order (predictions: class ids or (N,2,H,W) logits)."""
        if self._keys is None:
            raise RuntimeError("MappingMetrics.bind(dataset) must be called before scoring")
        predictions = _to_numpy(predictions)
        references = _to_numpy(references)
        if predictions.ndim == 4:
            predictions = predictions.argmax(axis=1)
        n = len(predictions)
        if len(references) != n:
            raise ValueError(f"{n} predictions but {len(references)} references in one evaluation batch")
        start, stop = self._cursor, self._cursor + n
        if stop > self.num_rows:
            raise ValueError(
                f"evaluation produced more predictions ({stop}) than the bound dataset has rows ({self.num_rows}); "
                "was compute_metrics bound to the dataset being evaluated?"
            )
        keys = {kw: self._keys[col][start:stop] for col, kw in self.key_columns.items()}
        self._scorer.add(predictions.astype(np.uint8, copy=False), references, **keys)
        self._cursor = stop

    def compute(self) -> dict[str, float]:
        if self._cursor != self.num_rows:
            raise ValueError(
                f"scored {self._cursor} rows of a {self.num_rows}-row evaluation dataset; predictions and "
                "dataset keys are out of step"
            )
        result = {k: float(v) for k, v in self._scorer.compute().items() if np.isscalar(v)}
        self.reset()
        return result

    def __call__(self, eval_pred: Any, compute_result: bool | None = None) -> dict[str, float]:
        """Trainer entry point; one-shot when ``compute_result`` is None, streaming otherwise."""
        predictions, references = eval_pred.predictions, eval_pred.label_ids
        if isinstance(predictions, (tuple, list)):
            predictions = predictions[0]
        if compute_result is None:
            self.reset()
        self.add(predictions, references)
        if compute_result is None or compute_result:
            return self.compute()
        return {}


class ChangeMetrics(MappingMetrics):
    """``compute_metrics`` of change detection: ``F1_interval_{k}`` for every interval present, ``OF1``,
    ``precision``, ``recall``, ``IoU`` (:class:`~euromine_hf.metrics.change.ChangeScorer`, site level
    by default), with the site/patch/year_t1/year_t2/offset keys read from the bound pair dataset
    in order, as :class:`MappingMetrics` does for mapping rows.
    """

    key_columns = PAIR_KEY_COLUMNS

    def __init__(self, protocol: str = "site", dataset: Any = None, scorer_factory: Callable[[], Any] | None = None) -> None:
        if scorer_factory is None:
            from euromine_hf.metrics.change import ChangeScorer

            def scorer_factory() -> Any:
                return ChangeScorer(protocol=self.protocol)

        super().__init__(years=YEARS, protocol=protocol, dataset=dataset, scorer_factory=scorer_factory)

    def read_keys(self, dataset: Any) -> dict[str, np.ndarray]:
        return read_pair_keys(dataset)
