"""The training run behind ``train.py`` and ``euromine train``: data → Trainer → test → reports.

One function, :func:`run_training`, so the script, the CLI, the demo and ``accelerate launch`` all
execute the same path.  Every process runs the training; only the main process writes reports.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.training.arguments import DataArguments, EuroMineTrainingArguments, ModelArguments, RunArguments

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run produced: test metrics of the model and the baseline, and where things are."""

    output_dir: Path
    model_dir: Path
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None = None
    baseline: Any = None
    post_classification_metrics: dict[str, float] | None = None  # change read off the test maps (Table 6)
    train_metrics: dict[str, float] = field(default_factory=dict)
    written: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def resolve_data_dir(data_args: DataArguments) -> tuple[Path, str]:
    """The archive to train on and whether it is the synthetic default (for the model card)."""
    if data_args.data_dir is not None:
        path = Path(data_args.data_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"--data_dir {path}: no such directory (expected a EuroMineNet archive)")
        return path, "archive" if not (path / "synthetic.json").is_file() else "synthetic"
    from euromine_hf.data.synthetic import default_archive

    path = Path(default_archive())
    # said on the console, not only in the card: scores on this archive are not EuroMineNet results
    logger.info("no --data_dir: training on the embedded synthetic archive at %s (synthetic data, not "
                "EuroMineNet; pass --data_dir for a real archive)", path)
    return path, "synthetic"


def _truncate(dataset: Any, limit: int | None) -> Any:
    if limit is None or len(dataset) <= limit:
        return dataset
    return dataset.select(range(limit))


def load_splits(data_dir: Path, data_args: DataArguments) -> dict[str, Any]:
    """``train`` (per the sampling), ``train_mapping`` (for the baseline), ``validation``, ``test``."""
    from euromine_hf.data.builder import load_euromine

    kwargs: dict[str, Any] = {"years": tuple(data_args.years)}
    if data_args.split_scheme is not None:
        kwargs["split_scheme"] = data_args.split_scheme
    mapping = load_euromine(data_dir, "mapping", cache_dir=data_args.cache_dir, **kwargs)
    for split in ("train", "validation", "test"):
        if split not in mapping:
            raise ValueError(f"{data_dir}: the mapping dataset has no {split!r} split (has {list(mapping)})")
    fmt = {"type": "numpy", "dtype": None}
    splits = {
        "train_mapping": _truncate(mapping["train"], data_args.max_train_samples).with_format(**fmt),
        "validation": _truncate(mapping["validation"], data_args.max_eval_samples).with_format(**fmt),
        "test": _truncate(mapping["test"], data_args.max_test_samples).with_format(**fmt),
    }
    splits["train"] = training_dataset(mapping["train"], data_args)
    if len(splits["train"]) == 0:
        raise ValueError(f"{data_dir}: the training split is empty")
    if len(splits["test"]) == 0:
        raise ValueError(f"{data_dir}: the test split is empty")
    return splits


def training_dataset(train_mapping: Any, data_args: DataArguments) -> Any:
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
    return MappingDataset(_truncate(train_mapping, data_args.max_train_samples))


def build_segmenter(
    model_args: ModelArguments, seed: int | None = None, full_determinism: bool = False, report_dir: Any = None
) -> Any:
    """The zoo model to train, started from its pretrained checkpoint(s) (``--pretrained``, by default
    the paper run's with ``--size paper``; the load report goes to ``report_dir``); with ``seed``, every
    RNG is seeded first so ``--seed`` fixes the initial weights."""
    from euromine_hf.models import build_model
    from euromine_hf.training.pretrained_start import start_from_pretrained

    if seed is not None:
        from transformers import enable_full_determinism, set_seed

        enable_full_determinism(seed) if full_determinism else set_seed(seed)
    model = build_model(model_args.model, size=model_args.size, **model_args.overrides())
    start_from_pretrained(model, model_args, report_dir=report_dir)
    return model


def _resume_path(training_args: EuroMineTrainingArguments) -> str | bool | None:
    value = training_args.resume_from_checkpoint
    if value is None or value in ("", "false", "False"):
        return None
    if value in ("true", "True", "last"):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(training_args.output_dir) if Path(training_args.output_dir).is_dir() else None
        if last is None:
            raise FileNotFoundError(f"--resume_from_checkpoint {value}: no checkpoint-* folder in {training_args.output_dir}")
        return last
    if not Path(value).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    return value


def build_trainer(
    model: Any,
    splits: dict[str, Any],
    data_args: DataArguments,
    training_args: EuroMineTrainingArguments,
    run_args: RunArguments,
) -> Any:
    """The ``EuroMineTrainer`` a run trains with (``bench/data_loading.py`` times its train dataloader)."""
    from euromine_hf.data.collators import MappingCollator, TimeseriesCollator
    from euromine_hf.training.compute_metrics import MappingMetrics
    from euromine_hf.training.trainer import EuroMineTrainer

    train_collator = TimeseriesCollator() if data_args.sampling == "timeseries" else MappingCollator()
    return EuroMineTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"] if len(splits["validation"]) else None,
        data_collator=train_collator,
        eval_data_collator=MappingCollator(),
        compute_metrics=MappingMetrics(years=data_args.years, protocol=run_args.metric_protocol),
        augment=data_args.augment,
        radiometric_jitter=data_args.radiometric_jitter,
    )


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: EuroMineTrainingArguments,
    run_args: RunArguments,
) -> RunResult:
    """Train, test on the test split, fit/score the baseline, write reports (main process)."""
    if model_args.task == "change_detection":  # detectors: pairs, interval F1 (training/change_detection.py)
        from euromine_hf.training.change_detection import run_change_detection

        return run_change_detection(model_args, data_args, training_args, run_args)
    start = time.perf_counter()
    if training_args.temporal_consistency_weight > 0 and data_args.sampling != "timeseries":
        raise ValueError("--temporal_consistency_weight > 0 needs --sampling timeseries (the years of a patch together)")
    output_dir = Path(training_args.output_dir)
    data_dir, data_source = resolve_data_dir(data_args)
    splits = load_splits(data_dir, data_args)
    if len(splits["validation"]) == 0 and training_args.eval_strategy != "no":
        logger.warning("%s has an empty validation split: evaluating and selecting checkpoints is turned off", data_dir)
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False

    # push through huggingface_hub at the end (euromine_hf.hub), not through Trainer's own repo handling
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False

    model = build_segmenter(model_args, seed=training_args.seed, full_determinism=training_args.full_determinism,
                            report_dir=output_dir if training_args.should_save else None)
    trainer = build_trainer(model, splits, data_args, training_args, run_args)
    train_output = trainer.train(resume_from_checkpoint=_resume_path(training_args))
    trainer.log_metrics("train", train_output.metrics)

    prediction = trainer.predict(splits["test"], metric_key_prefix="test")
    test_metrics = {k[len("test_"):]: float(v) for k, v in prediction.metrics.items() if k.startswith("test_")}
    trainer.log_metrics("test", prediction.metrics)

    baseline = baseline_metrics = None
    if run_args.baseline:
        from euromine_hf.training.baseline import evaluate_baseline, fit_threshold_baseline, iter_image_batches
        from euromine_hf.training.compute_metrics import MappingMetrics

        baseline = fit_threshold_baseline(iter_image_batches(splits["train_mapping"]), index=run_args.baseline_index)
        baseline_metrics = evaluate_baseline(baseline, splits["test"], MappingMetrics(data_args.years, run_args.metric_protocol))

    result = RunResult(
        output_dir=output_dir, model_dir=output_dir / "model", test_metrics=test_metrics,
        baseline_metrics=baseline_metrics, baseline=baseline, train_metrics=dict(train_output.metrics),
    )
    if trainer.is_world_process_zero():
        from euromine_hf.training.reports import write_reports

        result.written = write_reports(
            trainer=trainer, result=result, splits=splits, predictions=prediction.predictions,
            model_args=model_args, data_args=data_args, run_args=run_args,
            data_dir=data_dir, data_source=data_source,
        )
        if push_to_hub:
            push_trained_model(result, training_args)
    trainer.accelerator.wait_for_everyone()
    result.seconds = time.perf_counter() - start
    return result


def push_trained_model(result: RunResult, training_args: EuroMineTrainingArguments) -> str:
    """``--push_to_hub``: upload the written ``model/`` folder through :mod:`euromine_hf.hub` (main process)."""
    from euromine_hf.hub.push import push_model_folder

    repo_id = training_args.hub_model_id or result.output_dir.name
    url = push_model_folder(result.model_dir, repo_id, token=training_args.hub_token,
                            private=bool(training_args.hub_private_repo))
    logger.info("pushed %s to %s", result.model_dir, url)
    return url


def format_comparison(result: RunResult, model_name: str) -> str:
    """The lines the demo prints: model vs baseline on the test split."""
    keys = ("OF1", "GCA-TIoU", "LCA-TIoU", "precision", "recall")
    rows = [("", *keys), (model_name, *(f"{result.test_metrics.get(k, float('nan')):.4f}" for k in keys))]
    if result.baseline_metrics is not None:
        b = result.baseline
        label = f"baseline ({b.index} {'>' if b.direction == 'greater' else '<'} {b.threshold:.3f})"
        rows.append((label, *(f"{result.baseline_metrics.get(k, float('nan')):.4f}" for k in keys)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: Path, payload: Any) -> Path:
    from euromine_hf.io import atomic_write_text

    return atomic_write_text(path, json.dumps(json_ready(payload), indent=1))
