"""Series models (``--task multitemporal``, e.g. ``utae-series``): one network reads a patch's whole
yearly series and answers a mine mask per year and a change map per year pair (issue 17).

Training reads each patch's series zero-copy over the ``mapping`` rows
(:class:`~euromine_hf.data.pairs.TimeseriesDataset` with gaps allowed: a year a patch lacks is
``year_mask`` False, never seen by the model nor scored), loss = the model's own Eq. 6 + Eq. 7
(``--pairs_per_series k``: k pairs drawn per series and step). Evaluation scores the yearly masks
like a segmenter (``test`` in ``all_results.json``, Table 4), the change maps of every pair like a
detector (``change``, Table 5) and the change the masks imply (``post_classification``, Table 6).

Checkpoint selection: ``series_OF1`` = (mapping OF1 + change OF1) / 2 on the validation split
(``--metric_for_best_model OF1``, the default, means it here; name ``GCA-TIoU``, ``change_OF1``, ...
to choose on one score alone).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from euromine_hf.training.results import RunResult
from euromine_hf.training.tasks.base import Task


class MultitemporalTask(Task):
    name = "multitemporal"
    default_model = "utae-series"
    description = "one model per patch series: yearly masks and every pair's change, Tables 4-6"
    no_validation = "no validation series"

    def metric_names(self, data_args: Any) -> list[str]:
        """The yearly masks' scores, the change scores (``change_``), post-classification
        (``post_classification_``) and ``series_OF1`` (``multitemporal_metrics``)."""
        from euromine_hf.training.multitemporal_metrics import CHANGE_PREFIX, POST_PREFIX, SELECTION_METRIC
        from euromine_hf.training.tasks.base import change_metric_names, mapping_metric_names

        change = change_metric_names(data_args.years)
        return ["loss", *mapping_metric_names(data_args.years), *(CHANGE_PREFIX + k for k in change),
                *(POST_PREFIX + k for k in change), SELECTION_METRIC]

    def check_arguments(self, model_args: Any, data_args: Any, training_args: Any = None) -> None:
        """A series per sample (``--sampling per_year``, the default, means ``timeseries`` here);
        ``--intervals`` and the temporal-consistency term have no meaning; OF1 selection means
        ``series_OF1``."""
        from euromine_hf.training.multitemporal_metrics import SELECTION_METRIC

        super().check_arguments(model_args, data_args, training_args)
        if data_args.sampling == "pairs":
            raise ValueError("--sampling pairs: --task multitemporal trains on each patch's whole series "
                             "(--sampling timeseries, the default here)")
        data_args.sampling = "timeseries"
        if data_args.intervals is not None:
            raise ValueError("--intervals needs --task change_detection (a series model answers every pair; "
                             "use --pairs_per_series to draw fewer per step)")
        if len(data_args.years) < 2:
            raise ValueError(f"--years: a series model needs at least 2 years; got {data_args.years}")
        if training_args is not None:
            if getattr(training_args, "temporal_consistency_weight", 0.0) > 0:
                raise ValueError("--temporal_consistency_weight is a segmenter term; a series model's loss is its "
                                 "own Eq. 6 + Eq. 7 (config mask_loss_weight / change_loss_weight)")
            if getattr(training_args, "metric_for_best_model", None) == "OF1":
                training_args.metric_for_best_model = SELECTION_METRIC

    def load_splits(self, data_dir: Path, data_args: Any) -> dict[str, Any]:
        """``train`` / ``validation`` / ``test`` series (validation None when there is none) and the
        ``*_mapping`` rows they index; ``--max_*_samples`` truncate the mapping rows."""
        from euromine_hf.data.pairs import TimeseriesDataset
        from euromine_hf.training.splits import load_mapping_splits

        mapping = load_mapping_splits(data_dir, dataclasses.replace(data_args, sampling="per_year", intervals=None,
                                                                    pairs_per_series=None), allow_missing_years=True)
        years = list(data_args.years)

        def series(rows: Any) -> Any:
            return TimeseriesDataset(rows, years=years, allow_missing=True) if len(rows) else None

        splits: dict[str, Any] = {"train_mapping": mapping["train_mapping"], "validation_mapping": mapping["validation"],
                                  "test_mapping": mapping["test"]}
        splits["train"] = series(mapping["train_mapping"])
        splits["validation"] = series(mapping["validation"])
        splits["test"] = series(mapping["test"])
        return splits

    def collators(self, data_args: Any) -> tuple[Callable, Callable]:
        from euromine_hf.data.collators import TimeseriesCollator

        return TimeseriesCollator(with_years=True), TimeseriesCollator(with_years=True)

    def trainer_class(self) -> type:
        from euromine_hf.training.multitemporal_trainer import MultitemporalTrainer

        return MultitemporalTrainer

    def metrics(self, data_args: Any, run_args: Any) -> Any:
        from euromine_hf.training.multitemporal_metrics import SeriesMetrics

        return SeriesMetrics(years=data_args.years, protocol=run_args.metric_protocol)

    def trainer_kwargs(self, splits: dict[str, Any], data_args: Any, run_args: Any) -> dict[str, Any]:
        return {**super().trainer_kwargs(splits, data_args, run_args), "pairs_per_series": data_args.pairs_per_series}

    def score_extras(self, result: RunResult, splits: dict[str, Any], data_args: Any, run_args: Any) -> None:
        """Split the flat test scores into the mapping (``test``), change and post-classification tables."""
        from euromine_hf.training.multitemporal_metrics import split_series_metrics

        result.test_metrics, result.change_metrics, post = split_series_metrics(result.test_metrics)
        result.post_classification_metrics = post or None

    def write_reports(self, trainer: Any, result: RunResult, splits: dict[str, Any], predictions: Any,
                      model_args: Any, data_args: Any, run_args: Any, data_dir: Path,
                      data_source: str) -> dict[str, Path]:
        from euromine_hf.training.series_reports import write_series_reports

        return write_series_reports(trainer=trainer, result=result, splits=splits, predictions=predictions,
                                    model_args=model_args, data_args=data_args, run_args=run_args,
                                    data_dir=data_dir, data_source=data_source)

    def results_fields(self, trainer: Any, result: RunResult, splits: dict[str, Any], data_args: Any) -> dict[str, Any]:
        return {"change": result.change_metrics, "post_classification": result.post_classification_metrics,
                "sampling": data_args.sampling, "pairs_per_series": data_args.pairs_per_series,
                "test_series": len(splits["test"]), "selection_metric": trainer.args.metric_for_best_model}

    def summary(self, result: RunResult, model_args: Any, run_args: Any) -> str:
        from euromine_hf.training.summary import format_change_table, format_comparison

        label = f"{model_args.model} ({model_args.size})"
        rows = {f"{label} change maps": result.change_metrics or {}}
        if result.post_classification_metrics:
            rows[f"{label} post-classification"] = result.post_classification_metrics
        return "\n".join([
            f"\nTest split (site-level scores), {result.seconds:.0f} s in all. Yearly masks:",
            format_comparison(result, label),
            "Every year pair:",
            format_change_table(rows),
            f"Outputs under {result.output_dir}: model/ (safetensors + card), results/ (test_results: Table 4, "
            "change_results: Table 5, post_classification: Table 6), predictions/, qualitative/",
        ])
