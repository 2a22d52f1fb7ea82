"""The ``mapping`` rows every task reads: the train / validation / test splits of an archive, as
zero-copy numpy-formatted datasets (a task forms its samples, years or pairs, over these rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def truncate(dataset: Any, limit: int | None) -> Any:
    """The first ``limit`` rows (``--max_*_samples``), or the dataset itself."""
    if limit is None or len(dataset) <= limit:
        return dataset
    return dataset.select(range(limit))


def load_mapping_splits(data_dir: Path, data_args: Any, allow_missing_years: bool = False) -> dict[str, Any]:
    """``train_mapping``, ``validation``, ``test``: the per-year rows of each split, truncated by
    ``--max_train_samples`` / ``--max_eval_samples`` / ``--max_test_samples``. ``allow_missing_years``
    (series models): a site may lack years of the archive, it then has no rows for them."""
    from euromine_hf.data.builder import load_euromine

    kwargs: dict[str, Any] = {"years": tuple(data_args.years)}
    if allow_missing_years:  # only then: a complete archive keeps the one cache every task shares
        kwargs["allow_missing_years"] = True
    if data_args.split_scheme is not None:
        kwargs["split_scheme"] = data_args.split_scheme
    mapping = load_euromine(data_dir, "mapping", cache_dir=data_args.cache_dir, **kwargs)
    for split in ("train", "validation", "test"):
        if split not in mapping:
            raise ValueError(f"{data_dir}: the mapping dataset has no {split!r} split (has {list(mapping)})")
    fmt = {"type": "numpy", "dtype": None}
    splits = {
        "train_mapping": truncate(mapping["train"], data_args.max_train_samples).with_format(**fmt),
        "validation": truncate(mapping["validation"], data_args.max_eval_samples).with_format(**fmt),
        "test": truncate(mapping["test"], data_args.max_test_samples).with_format(**fmt),
    }
    if len(splits["train_mapping"]) == 0:
        raise ValueError(f"{data_dir}: the training split is empty")
    if len(splits["test"]) == 0:
        raise ValueError(f"{data_dir}: the test split is empty")
    return splits
