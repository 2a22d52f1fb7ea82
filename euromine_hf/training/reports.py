"""What a finished run leaves under ``--output_dir`` (main process only).

```
model/                     save_pretrained (config.json, model.safetensors) + README.md model card
results/test_results.{md,csv,json}   paper Table 4 shape: this model, the baseline, the paper's rows
results/all_results.json   task, model, seed, train / test metrics, baseline, post-classification scores
predictions/test/{Site}/{YYYY}/Patch{n}.npy   test predictions (the prediction-folder layout)
qualitative/{Site}_{YYYY}.png   TP green, TN grey, FP red, FN blue (paper Figs. 6-7 colours)
statistics/{reference,predicted}/   footprint tables and plots of the test sites
results/post_classification.{md,csv,json}   paper Table 6 shape: change read off the yearly test maps
```

A change-detection run (``--task change_detection``, :func:`write_change_reports`) leaves:

```
model/                     save_pretrained + README.md change-detection model card (F1 per interval, OF1)
results/test_results.{md,csv,json}   paper Table 5 shape: this detector and the paper's row for it
results/all_results.json   task, model, seed, train / test metrics, sampling, intervals
predictions/test/{Site}/{Y1}_{Y2}/Patch{n}.npy   change predictions (read by `euromine evaluate --task change`)
qualitative/{Site}_{Y1}_{Y2}.png   change error maps of the first and last year
```

``results/all_results.json`` is written by the run function (``training/run.py``) after everything
here, so its presence means a run's reports are complete; the keys beside the common ones come from
the task (``Task.results_fields``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.training.results import data_description, dataset_name

logger = logging.getLogger(__name__)

def _atomic_text(path: Path, text: str) -> Path:
    from euromine_hf.io import atomic_write_text

    return atomic_write_text(path, text)


def write_results_tables(result: Any, model_label: str, out_dir: Path, title: str) -> dict[str, Path]:
    """Paper Table 4 shape (``euromine_hf.metrics.tables``): this model with the paper's row for the
    same architecture beside it, then the threshold baseline."""
    from euromine_hf.metrics.tables import write_tables

    results = {model_label: result.test_metrics}
    if result.baseline_metrics is not None:
        results[f"Baseline: {result.baseline.index} threshold"] = result.baseline_metrics
    paths = write_tables(out_dir, "mapping", results, paper=True, stem="test_results")
    md = paths["md"]
    _atomic_text(md, f"### {title}\n\n" + md.read_text(encoding="utf-8"))
    return {f"results_{k}": v for k, v in paths.items()}


def write_prediction_patches(predictions: np.ndarray, dataset: Any, pred_dir: Path) -> Path:
    """``{pred_dir}/{Site}/{YYYY}/Patch{n}.npy`` for every test row (read by ``euromine evaluate``/``stats``)."""
    from euromine_hf.io import atomic_path

    keys = dataset.select_columns(["site", "year", "patch"]).to_dict()
    for i, (site, year, patch) in enumerate(zip(keys["site"], keys["year"], keys["patch"])):
        path = pred_dir / site / str(int(year)) / f"Patch{int(patch)}.npy"
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(predictions[i], np.uint8))
    return pred_dir


def _site_year_rasters(predictions: np.ndarray, dataset: Any, site: str, year: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Whole-site prediction and reference of one site-year, put back from its patches."""
    from euromine_hf.data.patching import reconstruct

    keys = dataset.select_columns(["site", "year", "row", "col", "site_height", "site_width"]).to_dict()
    idx = [i for i, (s, y) in enumerate(zip(keys["site"], keys["year"])) if s == site and int(y) == year]
    if not idx:
        return None
    h, w = int(keys["site_height"][idx[0]]), int(keys["site_width"][idx[0]])
    offsets = [(int(keys["row"][i]), int(keys["col"][i])) for i in idx]
    masks = np.stack([np.asarray(dataset[i]["mask"]) for i in idx])
    preds = np.stack([np.asarray(predictions[i]) for i in idx])
    return reconstruct(preds, offsets, h, w), reconstruct(masks, offsets, h, w)


def write_qualitative(predictions: np.ndarray, dataset: Any, out_dir: Path, count: int) -> list[Path]:
    """Error-map PNGs (paper colours) for ``count`` test site-years spread over sites and years."""
    from euromine_hf.metrics.maps import error_map, save_error_map

    keys = dataset.select_columns(["site", "year"]).to_dict()
    site_years = sorted({(s, int(y)) for s, y in zip(keys["site"], keys["year"])})
    if not site_years or count <= 0:
        return []
    sites = sorted({s for s, _ in site_years})
    years = sorted({y for _, y in site_years})
    picks: list[tuple[str, int]] = []
    for k in range(len(site_years)):  # round-robin over sites, years spread out
        if len(picks) >= count:
            break
        site = sites[k % len(sites)]
        year = years[(k // len(sites) * 7 + (k % len(sites)) * 3) % len(years)]
        if (site, year) in site_years and (site, year) not in picks:
            picks.append((site, year))
    written = []
    for site, year in picks:
        rasters = _site_year_rasters(predictions, dataset, site, year)
        if rasters is None:
            continue
        pred, ref = rasters
        written.append(save_error_map(out_dir / f"{site}_{year}.png", error_map(pred, ref), legend=True,
                                      title=f"{site} {year}"))
    return written


def write_footprint_statistics(data_dir: Path, pred_dir: Path, dataset: Any, years: list[int], out_dir: Path) -> dict[str, Path]:
    """Footprint tables/plots of the test sites: the reference masks and the model's predictions."""
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.statistics import archive_masks, compute_statistics, prediction_masks, write_statistics

    sites = sorted(set(dataset.select_columns(["site"]).to_dict()["site"]))
    records = scan_archive(data_dir, years=years, sites=sites)
    written = {}
    reference = compute_statistics(archive_masks(records, years), total=len(records))
    for k, v in write_statistics(reference, out_dir / "reference", title="Test sites: reference masks").items():
        written[f"reference_{k}"] = v
    predicted = compute_statistics(prediction_masks(pred_dir, records, years), total=len(records))
    for k, v in write_statistics(predicted, out_dir / "predicted", title="Test sites: model predictions").items():
        written[f"predicted_{k}"] = v
    return written


def write_model_card(trainer: Any, result: Any, model_args: Any, data_dir: Path, data_source: str) -> Path:
    from euromine_hf.hub.cards import render_model_card, save_model_card
    from euromine_hf.training.pretrained_start import base_model_of

    model = trainer.model
    args = trainer.args
    training_args = {
        "learning_rate": args.learning_rate, "per_device_train_batch_size": args.per_device_train_batch_size,
        "optimizer": args.optim, "weight_decay": args.weight_decay, "lr_scheduler": args.lr_scheduler_type,
        "lr_scheduler_kwargs": args.lr_scheduler_kwargs, "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps, "seed": args.seed,
        "temporal_consistency_weight": args.temporal_consistency_weight,
        "global_steps": trainer.state.global_step,
    }
    limitations = []
    if result.baseline_metrics is not None:
        limitations.append(
            f"On the same test split a spectral-index threshold ({result.baseline.index}) scores OF1 "
            f"{result.baseline_metrics.get('OF1', float('nan')):.4f} and GCA-TIoU "
            f"{result.baseline_metrics.get('GCA-TIoU', float('nan')):.4f}."
        )
    card = render_model_card(
        model_name=f"euromine-{model_args.model}-{model_args.size}",
        config=model.config,
        results={"test": result.test_metrics},
        dataset_id=dataset_name(data_dir, data_source),
        training_args=training_args,
        data_source=data_source,
        num_parameters=sum(p.numel() for p in model.parameters()),
        extra_limitations=limitations,
        # the card's usage snippet loads the repo it is pushed to, else the folder it is written into
        repo_id=args.hub_model_id or str(Path(result.model_dir).resolve()),
        base_model=base_model_of(model_args),
    )
    return save_model_card(card, result.model_dir / "README.md")


def write_reports(
    trainer: Any, result: Any, splits: dict[str, Any], predictions: np.ndarray, model_args: Any, data_args: Any,
    run_args: Any, data_dir: Path, data_source: str,
) -> dict[str, Path]:
    """Write everything listed in the module docstring; returns what was written."""
    out = result.output_dir
    years = list(data_args.years)
    written: dict[str, Path] = {}
    trainer.save_model(str(result.model_dir))  # save_pretrained: config.json + model.safetensors
    written["model"] = result.model_dir
    written["model_card"] = write_model_card(trainer, result, model_args, data_dir, data_source)
    from euromine_hf.models.registry import get_spec

    label = get_spec(model_args.model).paper_name  # so the paper's row for it lands beside ours
    where = data_description(data_dir, data_source)
    written.update(write_results_tables(
        result, label, out / "results",
        f"Test split of {where}: {model_args.model} ({model_args.size} preset) from this run; "
        "rows marked (paper) are the paper's numbers on the real data"))
    written.update(write_post_classification(result, predictions, splits["test"], years, run_args, label, out / "results"))
    pred_dir = write_prediction_patches(predictions, splits["test"], out / "predictions" / "test")
    written["predictions"] = pred_dir
    for i, path in enumerate(write_qualitative(predictions, splits["test"], out / "qualitative", run_args.num_qualitative)):
        written[f"qualitative_{i}"] = path
    try:
        written.update(write_footprint_statistics(data_dir, pred_dir, splits["test"], years, out / "statistics"))
    except (ValueError, OSError) as error:  # needs whole-site sizes; a cropped archive may lack them
        from euromine_hf.io import write_fault

        if write_fault(error) is not None:
            raise  # an output that cannot be written fails the run (rc 2 naming the file), never a warning
        logger.warning("footprint statistics skipped: %s", error)
    return written


# ---- post-classification of a segmentation run (Table 6) ---------------------------------------


def write_post_classification(
    result: Any, predictions: np.ndarray, dataset: Any, years: list[int], run_args: Any, label: str, out_dir: Path
) -> dict[str, Path]:
    """Score the change implied by the test maps (every year pair of every test patch) and write it in
    the paper's Table 6 shape beside the paper's row; the scores land in ``result.post_classification_metrics``."""
    from euromine_hf.metrics.tables import write_tables
    from euromine_hf.training.post_classification import post_classification_scores

    try:
        scores = post_classification_scores(predictions, dataset, years, run_args.metric_protocol)
    except ValueError as error:  # e.g. a test split with one year: no pair to score
        logger.warning("post-classification change not scored: %s", error)
        return {}
    result.post_classification_metrics = scores
    paths = write_tables(out_dir, "post-classification", {label: scores}, paper=True, stem="post_classification")
    return {f"post_classification_{k}": v for k, v in paths.items()}


# ---- change-detection runs ---------------------------------------------------------------------


def write_change_prediction_patches(predictions: np.ndarray, dataset: Any, pred_dir: Path) -> Path:
    """``{pred_dir}/{Site}/{Y1}_{Y2}/Patch{n}.npy`` for every test pair (``euromine evaluate --task change``)."""
    from euromine_hf.io import atomic_path
    from euromine_hf.training.compute_metrics import read_pair_keys

    keys = read_pair_keys(dataset)
    for i, (site, patch, y1, y2) in enumerate(zip(keys["site"], keys["patch"], keys["year_t1"], keys["year_t2"])):
        path = pred_dir / str(site) / f"{int(y1)}_{int(y2)}" / f"Patch{int(patch)}.npy"
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(predictions[i], np.uint8))
    return pred_dir


def write_change_qualitative(predictions: np.ndarray, dataset: Any, out_dir: Path, count: int) -> list[Path]:
    """Change error maps (paper colours) of the first → last year pair of up to ``count`` test sites."""
    from euromine_hf.data.patching import reconstruct
    from euromine_hf.metrics.maps import error_map, save_error_map
    from euromine_hf.training.compute_metrics import read_pair_keys

    if count <= 0 or len(dataset) == 0:
        return []
    keys = read_pair_keys(dataset)
    first, last = int(keys["year_t1"].min()), int(keys["year_t2"].max())
    written = []
    for site in sorted(set(keys["site"].tolist()))[:count]:
        idx = np.flatnonzero((keys["site"] == site) & (keys["year_t1"] == first) & (keys["year_t2"] == last))
        if not len(idx):
            continue
        h, w = int(keys["site_height"][idx[0]]), int(keys["site_width"][idx[0]])
        offsets = [(int(keys["row"][i]), int(keys["col"][i])) for i in idx]
        samples = dataset.__getitems__(idx.tolist())
        reference = reconstruct(np.stack([s["change"] for s in samples]), offsets, h, w)
        predicted = reconstruct(np.stack([np.asarray(predictions[i]) for i in idx]), offsets, h, w)
        written.append(save_error_map(out_dir / f"{site}_{first}_{last}.png", error_map(predicted, reference),
                                      legend=True, title=f"{site} change {first}-{last}"))
    return written


def write_change_model_card(trainer: Any, result: Any, model_args: Any, data_args: Any, data_dir: Path,
                            data_source: str) -> Path:
    from euromine_hf.hub.cards import render_model_card, save_model_card
    from euromine_hf.training.pretrained_start import base_model_of

    args = trainer.args
    training_args = {
        "learning_rate": args.learning_rate, "per_device_train_batch_size": args.per_device_train_batch_size,
        "optimizer": args.optim, "weight_decay": args.weight_decay, "lr_scheduler": args.lr_scheduler_type,
        "lr_scheduler_kwargs": args.lr_scheduler_kwargs, "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps, "seed": args.seed, "sampling": data_args.sampling,
        "intervals": data_args.intervals or "all", "pairs_per_series": data_args.pairs_per_series or "all",
        "loss": getattr(trainer.model.config, "loss", "ce"), "global_steps": trainer.state.global_step,
    }
    card = render_model_card(
        model_name=f"euromine-{model_args.model}-{model_args.size}",
        config=trainer.model.config,
        results={"test": result.test_metrics},
        dataset_id=dataset_name(data_dir, data_source),
        training_args=training_args,
        data_source=data_source,
        dataset_config="cd_pairs",
        num_parameters=sum(p.numel() for p in trainer.model.parameters()),
        repo_id=args.hub_model_id or str(Path(result.model_dir).resolve()),
        base_model=base_model_of(model_args),
    )
    return save_model_card(card, result.model_dir / "README.md")


def write_change_reports(
    trainer: Any, result: Any, splits: dict[str, Any], predictions: np.ndarray, model_args: Any, data_args: Any,
    run_args: Any, data_dir: Path, data_source: str,
) -> dict[str, Path]:
    """What a change-detection run leaves (module docstring); returns what was written."""
    from euromine_hf.metrics.tables import write_tables
    from euromine_hf.models.registry import get_spec

    out = result.output_dir
    written: dict[str, Path] = {}
    trainer.save_model(str(result.model_dir))
    written["model"] = result.model_dir
    written["model_card"] = write_change_model_card(trainer, result, model_args, data_args, data_dir, data_source)
    label = get_spec(model_args.model).paper_name
    where = data_description(data_dir, data_source)
    paths = write_tables(out / "results", "change", {label: result.test_metrics}, paper=True, stem="test_results")
    _atomic_text(paths["md"], f"### Test split of {where}: {model_args.model} ({model_args.size} preset), every year "
                              "pair; rows marked (paper) are the paper's numbers on the real data\n\n"
                 + paths["md"].read_text(encoding="utf-8"))
    written.update({f"results_{k}": v for k, v in paths.items()})
    written["predictions"] = write_change_prediction_patches(predictions, splits["test"], out / "predictions" / "test")
    for i, path in enumerate(write_change_qualitative(predictions, splits["test"], out / "qualitative",
                                                      run_args.num_qualitative)):
        written[f"qualitative_{i}"] = path
    return written
