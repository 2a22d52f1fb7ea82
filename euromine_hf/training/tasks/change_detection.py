"""Change detection (``--task change_detection``): a change map per pair of years, scored on every
year pair of the test patches by F1 per interval and OF1 at site level (the paper's Table 5); the
best checkpoint is chosen by OF1.

Pairs are never stored: the training, validation and test sets are the ``mapping`` rows with a
pair index over them (:class:`~euromine_hf.data.pairs.PairDataset`; 45 pairs of a patch share
its 10 images), or, for the paper's multitemporal loss, each patch's time series
(:class:`~euromine_hf.data.pairs.TimeseriesDataset`) from which
:class:`~euromine_hf.training.change_trainer.ChangeDetectionTrainer` forms the pairs (Eq. 7).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from euromine_hf.training.results import RunResult
from euromine_hf.training.tasks.base import Task


class ChangeDetectionTask(Task):
    name = "change_detection"
    default_model = "fc-siam-diff"
    description = "change maps per pair of years, paper Table 5"
    no_validation = "no validation pair"

    def metric_names(self, data_args: Any) -> list[str]:
        from euromine_hf.training.tasks.base import change_metric_names

        return ["loss", *change_metric_names(data_args.years, data_args.intervals)]

    def check_arguments(self, model_args: Any, data_args: Any, training_args: Any = None) -> None:
        """``--sampling per_year`` means ``pairs`` here; ``--pairs_per_series`` needs series; no
        temporal-consistency term (a segmentation loss)."""
        super().check_arguments(model_args, data_args, training_args)
        if data_args.sampling == "per_year":
            data_args.sampling = "pairs"
        if data_args.pairs_per_series is not None and data_args.sampling != "timeseries":
            raise ValueError("--pairs_per_series needs --sampling timeseries (pairs drawn from each patch's series)")
        if training_args is not None and getattr(training_args, "temporal_consistency_weight", 0.0) > 0:
            raise ValueError("--temporal_consistency_weight is a segmentation term; it has no meaning for --task change_detection")

    def load_splits(self, data_dir: Path, data_args: Any) -> dict[str, Any]:
        """``train`` (pairs or series per the sampling), ``validation``/``test`` (every pair; validation
        None when there is none), and the ``*_mapping`` rows they index. ``--max_*_samples`` truncate
        the mapping rows pairs are formed from."""
        from euromine_hf.data.pairs import PairDataset, TimeseriesDataset
        from euromine_hf.training.splits import load_mapping_splits

        mapping = load_mapping_splits(data_dir, dataclasses.replace(data_args, sampling="per_year", intervals=None,
                                                                    pairs_per_series=None))
        years = list(data_args.years)
        splits: dict[str, Any] = {
            "train_mapping": mapping["train_mapping"],
            "validation_mapping": mapping["validation"],
            "test_mapping": mapping["test"],
        }
        if data_args.sampling == "timeseries":
            splits["train"] = TimeseriesDataset(mapping["train_mapping"], years=years)
        else:
            splits["train"] = PairDataset(mapping["train_mapping"], years=years, intervals=data_args.intervals)
        splits["validation"] = PairDataset(mapping["validation"], years=years) if len(mapping["validation"]) else None
        splits["test"] = PairDataset(mapping["test"], years=years)
        if len(splits["train"]) == 0:
            raise ValueError(f"{data_dir}: no training pair (years {years}, intervals {data_args.intervals}); "
                             "pairs need two years of one patch")
        if len(splits["test"]) == 0:
            raise ValueError(f"{data_dir}: the test split has no year pair (years {years})")
        if splits["validation"] is not None and len(splits["validation"]) == 0:
            splits["validation"] = None
        return splits

    def collators(self, data_args: Any) -> tuple[Callable, Callable]:
        from euromine_hf.data.collators import PairCollator, TimeseriesCollator

        series = data_args.sampling == "timeseries"
        return (TimeseriesCollator() if series else PairCollator(with_masks=True)), PairCollator()

    def trainer_class(self) -> type:
        from euromine_hf.training.change_trainer import ChangeDetectionTrainer

        return ChangeDetectionTrainer

    def metrics(self, data_args: Any, run_args: Any) -> Any:
        from euromine_hf.training.compute_metrics import ChangeMetrics

        return ChangeMetrics(protocol=run_args.metric_protocol)

    def trainer_kwargs(self, splits: dict[str, Any], data_args: Any, run_args: Any) -> dict[str, Any]:
        return {**super().trainer_kwargs(splits, data_args, run_args), "series_years": data_args.years,
                "intervals": data_args.intervals, "pairs_per_series": data_args.pairs_per_series}

    def write_reports(self, trainer: Any, result: RunResult, splits: dict[str, Any], predictions: Any,
                      model_args: Any, data_args: Any, run_args: Any, data_dir: Path,
                      data_source: str) -> dict[str, Path]:
        from euromine_hf.training.reports import write_change_reports

        return write_change_reports(trainer=trainer, result=result, splits=splits, predictions=predictions,
                                    model_args=model_args, data_args=data_args, run_args=run_args,
                                    data_dir=data_dir, data_source=data_source)

    def results_fields(self, trainer: Any, result: RunResult, splits: dict[str, Any], data_args: Any) -> dict[str, Any]:
        return {"sampling": data_args.sampling, "intervals": data_args.intervals,
                "pairs_per_series": data_args.pairs_per_series, "test_pairs": len(splits["test"])}

    def summary(self, result: RunResult, model_args: Any, run_args: Any) -> str:
        from euromine_hf.models.registry import get_spec
        from euromine_hf.training.summary import format_change_table, rises_with_interval

        rises, rho = rises_with_interval(result.test_metrics)
        return "\n".join([
            f"\nTest split, every year pair (site-level scores), {result.seconds:.0f} s in all:",
            format_change_table({f"{model_args.model} ({model_args.size})": result.test_metrics}),
            f"F1 {'rises' if rises else 'does not rise'} with the interval (Spearman rho {rho:.2f}); "
            f"the paper's row for {get_spec(model_args.model).paper_name} is in {result.output_dir}/results/test_results.md",
            f"Outputs under {result.output_dir}: model/ (safetensors + card), results/, predictions/, qualitative/",
        ])
