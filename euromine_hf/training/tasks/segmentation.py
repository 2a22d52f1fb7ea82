"""Segmentation (``--task segmentation``): a mine map per image and year, scored by per-year F1, OF1
and LCA/GCA-TIoU (the paper's Table 4), beside a spectral-index threshold baseline; the change its
yearly test maps imply is scored too (Table 6).

Training reads the ``mapping`` rows zero-copy: one (patch, year) per sample (``per_year``), or each
patch's series (``timeseries``, the paper's Eq. 6, where the temporal-consistency term applies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from euromine_hf.training.results import RunResult
from euromine_hf.training.tasks.base import Task


def training_dataset(train_mapping: Any, data_args: Any) -> Any:
    """The rows the Trainer trains on, read zero-copy from the ``mapping`` Arrow buffers.

    ``MappingDataset`` / ``TimeseriesDataset`` hand the DataLoader read-only uint16 views in one
    ``__getitems__`` call per batch; datasets' numpy formatter copies every row through Python
    objects first (about 2.5x slower here, see ``bench/data_loading.py``).  Time series are an index
    over the per-year rows, so the ``timeseries`` config is not materialised for training.
    """
    from euromine_hf.data.pairs import MappingDataset, TimeseriesDataset

    if data_args.sampling == "timeseries":
        import torch

        series = TimeseriesDataset(train_mapping, years=data_args.years)
        limit = data_args.max_train_samples
        # Subset forwards __getitems__, so a truncated set still reads a batch in one call
        return series if limit is None or len(series) <= limit else torch.utils.data.Subset(series, range(limit))
    from euromine_hf.training.splits import truncate

    return MappingDataset(truncate(train_mapping, data_args.max_train_samples))


class SegmentationTask(Task):
    name = "segmentation"
    default_model = "unet"
    description = "mine maps per year, paper Table 4"
    no_validation = "an empty validation split"

    def metric_names(self, data_args: Any) -> list[str]:
        from euromine_hf.training.tasks.base import mapping_metric_names

        return ["loss", *mapping_metric_names(data_args.years)]

    def check_arguments(self, model_args: Any, data_args: Any, training_args: Any = None) -> None:
        super().check_arguments(model_args, data_args, training_args)
        if data_args.sampling == "pairs":
            raise ValueError("--sampling pairs needs --task change_detection (segmenters train on per_year or timeseries)")
        for name in ("intervals", "pairs_per_series"):
            if getattr(data_args, name) is not None:
                raise ValueError(f"--{name} needs --task change_detection"
                                 + (" or multitemporal" if name == "pairs_per_series" else ""))
        if getattr(training_args, "temporal_consistency_weight", 0.0) > 0 and data_args.sampling != "timeseries":
            raise ValueError("--temporal_consistency_weight > 0 needs --sampling timeseries (the years of a patch together)")

    def load_splits(self, data_dir: Path, data_args: Any) -> dict[str, Any]:
        """``train`` (per the sampling), ``train_mapping`` (for the baseline), ``validation``, ``test``."""
        from euromine_hf.training.splits import load_mapping_splits

        splits = load_mapping_splits(data_dir, data_args)
        splits["train"] = training_dataset(splits["train_mapping"], data_args)
        if len(splits["train"]) == 0:
            raise ValueError(f"{data_dir}: the training split is empty")
        return splits

    def collators(self, data_args: Any) -> tuple[Callable, Callable]:
        from euromine_hf.data.collators import MappingCollator, TimeseriesCollator

        return (TimeseriesCollator() if data_args.sampling == "timeseries" else MappingCollator()), MappingCollator()

    def trainer_class(self) -> type:
        from euromine_hf.training.trainer import EuroMineTrainer

        return EuroMineTrainer

    def metrics(self, data_args: Any, run_args: Any) -> Any:
        from euromine_hf.training.compute_metrics import MappingMetrics

        return MappingMetrics(years=data_args.years, protocol=run_args.metric_protocol)

    def score_extras(self, result: RunResult, splits: dict[str, Any], data_args: Any, run_args: Any) -> None:
        """``--baseline``: fit the spectral-index threshold on the training rows, score it on the test split."""
        if not run_args.baseline:
            return
        from euromine_hf.training.baseline import evaluate_baseline, fit_threshold_baseline, iter_image_batches

        result.baseline = fit_threshold_baseline(iter_image_batches(splits["train_mapping"]), index=run_args.baseline_index)
        result.baseline_metrics = evaluate_baseline(result.baseline, splits["test"], self.metrics(data_args, run_args))

    def write_reports(self, trainer: Any, result: RunResult, splits: dict[str, Any], predictions: Any,
                      model_args: Any, data_args: Any, run_args: Any, data_dir: Path,
                      data_source: str) -> dict[str, Path]:
        from euromine_hf.training.reports import write_reports

        return write_reports(trainer=trainer, result=result, splits=splits, predictions=predictions,
                             model_args=model_args, data_args=data_args, run_args=run_args,
                             data_dir=data_dir, data_source=data_source)

    def results_fields(self, trainer: Any, result: RunResult, splits: dict[str, Any], data_args: Any) -> dict[str, Any]:
        return {
            "baseline": result.baseline_metrics,
            "baseline_fit": None if result.baseline is None else vars(result.baseline),
            "sampling": data_args.sampling,
            "temporal_consistency_weight": trainer.args.temporal_consistency_weight,
            "post_classification": result.post_classification_metrics,  # Table 6; None when not scored
        }

    def summary(self, result: RunResult, model_args: Any, run_args: Any) -> str:
        from euromine_hf.training.summary import beats_baseline, format_comparison

        lines = [f"\nTest split (site-level scores), {result.seconds:.0f} s in all:",
                 format_comparison(result, f"{model_args.model} ({model_args.size})"),
                 f"\nOutputs under {result.output_dir}: model/ (safetensors + card), results/, qualitative/, statistics/"]
        if run_args.baseline and result.baseline_metrics is not None:
            verdict = beats_baseline(result.test_metrics, result.baseline_metrics)
            lines.append("The model beats the threshold baseline on OF1 and GCA-TIoU." if verdict else
                         "WARNING: the model does NOT beat the threshold baseline on both OF1 and GCA-TIoU.")
        return "\n".join(lines)
