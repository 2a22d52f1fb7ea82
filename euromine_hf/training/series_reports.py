"""What a series-model run (``--task multitemporal``) leaves under ``--output_dir`` (main process):
what a segmenter run and a detector run leave, from one model.

```
model/                          save_pretrained + README.md card (mapping scores and change scores)
results/test_results.{md,csv,json}         Table 4 shape: the yearly masks
results/change_results.{md,csv,json}       Table 5 shape: the change maps of every year pair
results/post_classification.{md,csv,json}  Table 6 shape: the change the yearly masks imply
predictions/test/{Site}/{YYYY}/Patch{n}.npy             yearly masks (`euromine evaluate --task mapping`)
predictions/test_change/{Site}/{Y1}_{Y2}/Patch{n}.npy   change maps  (`euromine evaluate --task change`)
qualitative/{Site}_{YYYY}.png, {Site}_{Y1}_{Y2}.png   error maps (paper colours)
```

Two folders, one per task, as a segmenter run and a detector run write them: each is a valid
leaderboard submission of its task (a submission holds one task's maps only).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.training.results import data_description, dataset_name

__all__ = ["write_series_reports", "write_series_predictions"]


def _series_keys(dataset: Any) -> dict[str, np.ndarray]:
    from euromine_hf.training.multitemporal_metrics import series_keys

    return series_keys(dataset)[0]


def write_series_predictions(predictions: Any, dataset: Any, pred_dir: Path, change_dir: Path) -> tuple[Path, Path]:
    """Every present year's mask (``pred_dir``) and every pair's change map where both years are present
    (``change_dir``) of every test series."""
    from euromine_hf.io import atomic_path

    yearly, change = predictions[0], predictions[1]
    keys = _series_keys(dataset)
    years, present = list(dataset.years), np.asarray(dataset.year_mask)
    pairs = list(combinations(range(len(years)), 2))

    def save(path: Path, array: np.ndarray) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(array, np.uint8))

    for s, (site, patch) in enumerate(zip(keys["site"], keys["patch"])):
        for t, year in enumerate(years):
            if present[s, t]:
                save(pred_dir / str(site) / str(year) / f"Patch{int(patch)}.npy", yearly[s, t])
        for p, (i, j) in enumerate(pairs):
            if present[s, i] and present[s, j]:
                save(change_dir / str(site) / f"{years[i]}_{years[j]}" / f"Patch{int(patch)}.npy", change[s, p])
    return pred_dir, change_dir


def write_series_qualitative(predictions: Any, dataset: Any, out_dir: Path, count: int) -> list[Path]:
    """For up to ``count`` test sites: the error map of the last year's mask and of the first → last change."""
    from euromine_hf.data.patching import reconstruct
    from euromine_hf.metrics.maps import error_map, save_error_map

    if count <= 0 or len(dataset) == 0:
        return []
    yearly, change = predictions[0], predictions[1]
    keys = _series_keys(dataset)
    years, present = list(dataset.years), np.asarray(dataset.year_mask)
    last = len(years) - 1
    pair = last - 1  # (0, T-1): pairs run (0,1), ..., (0,T-1), (1,2), ...
    written = []
    for site in sorted(set(keys["site"].tolist()))[:count]:
        idx = np.flatnonzero((keys["site"] == site) & present[:, 0] & present[:, last])
        if not len(idx):
            continue
        h, w = int(keys["site_height"][idx[0]]), int(keys["site_width"][idx[0]])
        offsets = [(int(keys["row"][i]), int(keys["col"][i])) for i in idx]
        masks = np.stack([s["masks"] for s in dataset.__getitems__(idx.tolist())])  # (n, T, H, W)
        ref_year = reconstruct(masks[:, last], offsets, h, w)
        ref_change = reconstruct((masks[:, 0] != masks[:, last]).astype(np.uint8), offsets, h, w)
        pred_year = reconstruct(np.asarray(yearly)[idx, last], offsets, h, w)
        pred_change = reconstruct(np.asarray(change)[idx, pair], offsets, h, w)
        written.append(save_error_map(out_dir / f"{site}_{years[last]}.png", error_map(pred_year, ref_year),
                                      legend=True, title=f"{site} {years[last]}"))
        written.append(save_error_map(out_dir / f"{site}_{years[0]}_{years[last]}.png", error_map(pred_change, ref_change),
                                      legend=True, title=f"{site} change {years[0]}-{years[last]}"))
    return written


def write_series_model_card(trainer: Any, result: Any, model_args: Any, data_args: Any, data_dir: Path,
                            data_source: str) -> Path:
    """The card of a series model: its template scores the mapping metrics and the change ones
    (``F1_interval_k``, ``change_OF1``) together."""
    from euromine_hf.hub import cards
    from euromine_hf.training.pretrained_start import base_model_of

    args = trainer.args
    training_args = {
        "learning_rate": args.learning_rate, "per_device_train_batch_size": args.per_device_train_batch_size,
        "optimizer": args.optim, "weight_decay": args.weight_decay, "lr_scheduler": args.lr_scheduler_type,
        "lr_scheduler_kwargs": args.lr_scheduler_kwargs, "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps, "seed": args.seed, "pairs_per_series": data_args.pairs_per_series or "all",
        "selection_metric": args.metric_for_best_model, "global_steps": trainer.state.global_step,
    }
    change = result.change_metrics or {}
    scores = {**result.test_metrics, **{k: v for k, v in change.items() if k.startswith("F1_interval_")}}
    if "OF1" in change:
        scores["change_OF1"] = change["OF1"]
    card = cards.render_model_card(
        model_name=f"euromine-{model_args.model}-{model_args.size}",
        config=trainer.model.config,
        results={"test": scores},
        dataset_id=dataset_name(data_dir, data_source),
        training_args=training_args,
        data_source=data_source,
        dataset_config="timeseries",
        num_parameters=sum(p.numel() for p in trainer.model.parameters()),
        repo_id=args.hub_model_id or str(Path(result.model_dir).resolve()),
        base_model=base_model_of(model_args),
    )
    return cards.save_model_card(card, result.model_dir / "README.md")


def write_series_reports(
    trainer: Any, result: Any, splits: dict[str, Any], predictions: Any, model_args: Any, data_args: Any,
    run_args: Any, data_dir: Path, data_source: str,
) -> dict[str, Path]:
    """Write everything listed in the module docstring; returns what was written."""
    from euromine_hf.io import atomic_write_text
    from euromine_hf.metrics.tables import write_tables
    from euromine_hf.models.registry import get_spec

    out = result.output_dir
    written: dict[str, Path] = {}
    trainer.save_model(str(result.model_dir))
    written["model"] = result.model_dir
    written["model_card"] = write_series_model_card(trainer, result, model_args, data_args, data_dir, data_source)
    label = get_spec(model_args.model).paper_name
    where = data_description(data_dir, data_source)
    title = (f"### Test split of {where}: {model_args.model} ({model_args.size} preset), one model for the whole "
             "series; rows marked (paper) are the paper's numbers on the real data\n\n")
    tables = [("mapping", result.test_metrics, "test_results", "results"),
              ("change", result.change_metrics, "change_results", "change_results"),
              ("post-classification", result.post_classification_metrics, "post_classification", "post_classification")]
    for task, scores, stem, prefix in tables:
        if not scores:
            continue
        paths = write_tables(out / "results", task, {label: scores}, paper=True, stem=stem)
        atomic_write_text(paths["md"], title + paths["md"].read_text(encoding="utf-8"))
        written.update({f"{prefix}_{k}": v for k, v in paths.items()})
    written["predictions"], written["change_predictions"] = write_series_predictions(
        predictions, splits["test"], out / "predictions" / "test", out / "predictions" / "test_change")
    for i, path in enumerate(write_series_qualitative(predictions, splits["test"], out / "qualitative",
                                                      run_args.num_qualitative)):
        written[f"qualitative_{i}"] = path
    return written
