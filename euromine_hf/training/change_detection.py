"""Training change detectors (``train.py --task change_detection``): pairs, Eq. 7, scores, reports.

Pairs are never stored: the training, validation and test sets are the ``mapping`` rows with a
pair index over them (:class:`~euromine_hf.data.pairs.PairDataset`; 45 pairs of a patch share
its 10 images), or, for the paper's multitemporal loss, each patch's time series
(:class:`~euromine_hf.data.pairs.TimeseriesDataset`) from which the trainer forms the pairs.

Two samplings:

* ``pairs`` — one year pair per sample, all pairs of the training patches (or those of
  ``--intervals``), shuffled; the loss is the detector's own (cross-entropy, or what its config says).
* ``timeseries`` — one patch series per sample; the loss is the paper's Eq. 7, the mean of the
  pair losses over the series' year pairs: all of them, or ``--pairs_per_series k`` drawn per series
  and step. The draw is a pure function of (seed, step, micro-batch, rank), like the augmentation,
  so resuming continues exactly.

Evaluation always scores every year pair of the validation / test patches by F1 per interval and
OF1 at site level (:class:`~euromine_hf.training.compute_metrics.ChangeMetrics`); the best
checkpoint is chosen by OF1.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from transformers import Trainer

from euromine_hf.training.trainer import EuroMineTrainer

logger = logging.getLogger(__name__)

__all__ = [
    "ChangeDetectionTrainer",
    "series_pairs",
    "load_pair_splits",
    "run_change_detection",
    "post_classification_scores",
    "score_post_classification",
    "format_change_table",
    "rises_with_interval",
]


def series_pairs(years: Sequence[int], intervals: Sequence[int] | None = None) -> np.ndarray:
    """(P, 2) positions (i, j), i < j, of the year pairs of a series with ``years``, in (t1, t2) order,
    restricted to the gaps ``years[j] − years[i]`` in ``intervals`` when given."""
    years = [int(y) for y in years]
    allowed = None if intervals is None else {int(k) for k in intervals}
    pairs = [(i, j) for i, j in combinations(range(len(years)), 2) if allowed is None or years[j] - years[i] in allowed]
    if not pairs:
        raise ValueError(f"no year pair of the years {years} has an interval in {sorted(allowed or [])}")
    return np.asarray(pairs, dtype=np.int64)


class ChangeDetectionTrainer(EuroMineTrainer):
    """``EuroMineTrainer`` for detectors: pair batches go to the model as they are; series batches
    (``pixel_values`` (B,T,C,H,W), ``labels`` (B,T,H,W)) become pair batches for Eq. 7.

    ``series_years`` are the years of the series' T positions; ``intervals`` restricts the pairs;
    ``pairs_per_series`` = k draws k distinct pairs per series per step (None: all pairs).
    """

    def __init__(
        self,
        *args: Any,
        series_years: Sequence[int] | None = None,
        intervals: Sequence[int] | None = None,
        pairs_per_series: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.series_years = None if series_years is None else [int(y) for y in series_years]
        self.intervals = None if intervals is None else [int(k) for k in intervals]
        self.pairs_per_series = pairs_per_series
        if pairs_per_series is not None and pairs_per_series < 1:
            raise ValueError(f"pairs_per_series must be a positive count; got {pairs_per_series}")
        self._pair_draw = (-1, -1)  # (global_step, micro-batch) of the last series batch

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        step = self.state.global_step
        micro = self._pair_draw[1] + 1 if self._pair_draw[0] == step else 0
        self._pair_draw = (step, micro)
        return super().training_step(model, inputs, num_items_in_batch)

    def series_to_pairs(self, inputs: dict[str, Any], training: bool) -> dict[str, torch.Tensor]:
        """The pair batch of Eq. 7: for each series, its (chosen) year pairs, flattened series-major."""
        pixel_values, labels = inputs["pixel_values"], inputs.get("labels")
        b, t = pixel_values.shape[:2]
        years = self.series_years or list(range(t))
        if len(years) != t:
            raise ValueError(f"series batch has {t} years but the trainer was given series_years {years}")
        candidates = series_pairs(years, self.intervals)
        k = self.pairs_per_series
        if k is None or k >= len(candidates) or not training:
            chosen = np.broadcast_to(np.arange(len(candidates)), (b, len(candidates)))
        else:
            step, micro = self._pair_draw
            rng = np.random.default_rng([int(self.args.seed), step, micro, int(self.args.process_index), 7])
            chosen = np.stack([rng.choice(len(candidates), size=k, replace=False) for _ in range(b)])
        series = torch.as_tensor(np.repeat(np.arange(b), chosen.shape[1]), device=pixel_values.device)
        first = torch.as_tensor(candidates[chosen.reshape(-1), 0], device=pixel_values.device)
        second = torch.as_tensor(candidates[chosen.reshape(-1), 1], device=pixel_values.device)
        out = {"pixel_values_t1": pixel_values[series, first], "pixel_values_t2": pixel_values[series, second]}
        if labels is not None:
            m1, m2 = labels[series, first], labels[series, second]
            ignore = getattr(getattr(self.model, "config", None), "ignore_index", 255)
            change = (m1 != m2).long()
            change[(m1 == ignore) | (m2 == ignore)] = ignore
            out.update(labels=change, labels_t1=m1, labels_t2=m2)
        return out

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        if "pixel_values" in inputs:
            if inputs["pixel_values"].ndim != 5:
                raise ValueError("a change detector takes pairs (pixel_values_t1/_t2) or series (B,T,C,H,W); got "
                                 f"pixel_values of shape {tuple(inputs['pixel_values'].shape)}")
            # Eq. 7: the detector's loss is a mean over the B·P pairs, i.e. over each series' pairs
            inputs = self.series_to_pairs(inputs, training=model.training)
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)


# ---- data --------------------------------------------------------------------------------------


def load_pair_splits(data_dir: Path, data_args: Any) -> dict[str, Any]:
    """``train`` (pairs or series per the sampling), ``validation``/``test`` (every pair), and the
    ``*_mapping`` rows they index. ``--max_*_samples`` truncate the mapping rows pairs are formed from."""
    from euromine_hf.data.pairs import PairDataset, TimeseriesDataset
    from euromine_hf.training.run import load_splits

    mapping = load_splits(data_dir, dataclasses.replace(data_args, sampling="per_year", intervals=None,
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


# ---- the run -----------------------------------------------------------------------------------


def build_detector(model_args: Any, seed: int | None = None, full_determinism: bool = False, report_dir: Any = None) -> Any:
    """The zoo detector to train, built, seeded and RGB-adapted as :func:`~euromine_hf.training.run.build_segmenter`
    builds any zoo model; refused if it is not a change detector."""
    from euromine_hf.models.registry import MODEL_ZOO
    from euromine_hf.training.run import build_segmenter

    spec = MODEL_ZOO.get(model_args.model)  # an unknown name: build_model's own error
    if spec is not None and spec.task != "change_detection":
        raise ValueError(f"--model {model_args.model} is not a change detector (its task is {spec.task!r})")
    return build_segmenter(model_args, seed=seed, full_determinism=full_determinism, report_dir=report_dir)


def run_change_detection(model_args: Any, data_args: Any, training_args: Any, run_args: Any) -> Any:
    """Train a detector, test it on every year pair of the test split, write reports (main process)."""
    from euromine_hf.data.collators import PairCollator, TimeseriesCollator
    from euromine_hf.training.arguments import check_task_arguments
    from euromine_hf.training.compute_metrics import ChangeMetrics
    from euromine_hf.training.run import RunResult, _resume_path, push_trained_model, resolve_data_dir

    start = time.perf_counter()
    check_task_arguments(model_args, data_args, training_args)
    output_dir = Path(training_args.output_dir)
    data_dir, data_source = resolve_data_dir(data_args)
    splits = load_pair_splits(data_dir, data_args)
    if splits["validation"] is None and training_args.eval_strategy != "no":
        logger.warning("%s has no validation pair: evaluating and selecting checkpoints is turned off", data_dir)
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False

    model = build_detector(model_args, seed=training_args.seed, full_determinism=training_args.full_determinism,
                           report_dir=output_dir if training_args.should_save else None)
    series = data_args.sampling == "timeseries"
    metrics = ChangeMetrics(protocol=run_args.metric_protocol)
    trainer = ChangeDetectionTrainer(
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        data_collator=TimeseriesCollator() if series else PairCollator(with_masks=True),
        eval_data_collator=PairCollator(),
        compute_metrics=metrics,
        augment=data_args.augment,
        radiometric_jitter=data_args.radiometric_jitter,
        series_years=data_args.years,
        intervals=data_args.intervals,
        pairs_per_series=data_args.pairs_per_series,
    )
    train_output = trainer.train(resume_from_checkpoint=_resume_path(training_args))
    trainer.log_metrics("train", train_output.metrics)

    prediction = trainer.predict(splits["test"], metric_key_prefix="test")
    test_metrics = {k[len("test_"):]: float(v) for k, v in prediction.metrics.items() if k.startswith("test_")}
    trainer.log_metrics("test", prediction.metrics)

    result = RunResult(output_dir=output_dir, model_dir=output_dir / "model", test_metrics=test_metrics,
                       train_metrics=dict(train_output.metrics))
    if trainer.is_world_process_zero():
        from euromine_hf.training.reports import write_change_reports

        result.written = write_change_reports(
            trainer=trainer, result=result, splits=splits, predictions=prediction.predictions,
            model_args=model_args, data_args=data_args, run_args=run_args, data_dir=data_dir, data_source=data_source,
        )
        if push_to_hub:
            push_trained_model(result, training_args)
    trainer.accelerator.wait_for_everyone()
    result.seconds = time.perf_counter() - start
    return result


# ---- post-classification (Table 6) -------------------------------------------------------------


def post_classification_scores(
    predictions: Any, mapping: Any, years: Sequence[int], protocol: str = "site"
) -> dict[str, float]:
    """Change read off yearly mine maps: ``|P_t2 − P_t1|`` against ``|G_t2 − G_t1|`` for every year
    pair of every patch of ``mapping`` (rows in order; ``predictions`` (N,H,W) class ids, one per row).
    Keys as :class:`~euromine_hf.metrics.change.ChangeScorer` (``F1_interval_{k}``, ``OF1``, ...)."""
    from euromine_hf.metrics import PostClassificationScorer
    from euromine_hf.training.compute_metrics import read_metric_keys

    keys = read_metric_keys(mapping)
    predictions = np.asarray(predictions)
    if len(predictions) != len(keys["site"]):
        raise ValueError(f"{len(predictions)} predictions for {len(keys['site'])} mapping rows; expected one per row")
    from euromine_hf.data.pairs import MappingRows

    rows = MappingRows(mapping)
    scorer = PostClassificationScorer(years=sorted({int(y) for y in years}), protocol=protocol)
    for start in range(0, len(predictions), 256):
        stop = min(start + 256, len(predictions))
        references = np.stack(rows.masks(np.arange(start, stop)))
        scorer.add(predictions[start:stop].astype(np.uint8, copy=False), references,
                   sites=keys["site"][start:stop], patches=keys["patch"][start:stop], years=keys["year"][start:stop],
                   rows=keys["row"][start:stop], cols=keys["col"][start:stop],
                   site_heights=keys["site_height"][start:stop], site_widths=keys["site_width"][start:stop])
    return {k: float(v) for k, v in scorer.compute().items() if np.isscalar(v)}


@torch.no_grad()
def score_post_classification(
    model: torch.nn.Module, mapping: Any, years: Sequence[int], protocol: str = "site", batch_size: int = 16
) -> dict[str, float]:
    """Run any trained segmenter over the ``mapping`` rows and score the change its yearly maps imply."""
    from euromine_hf.data.collators import MappingCollator
    from euromine_hf.data.pairs import MappingDataset

    if getattr(model.config, "task", "segmentation") != "segmentation":
        raise ValueError(f"post-classification needs a segmenter; got a {model.config.task} model")
    dataset = MappingDataset(mapping)
    collate = MappingCollator()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predictions = []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = collate(dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset))))))
            logits = model(pixel_values=batch["pixel_values"].to(device)).logits
            predictions.append(logits.argmax(dim=1).to(torch.uint8).cpu().numpy())
    finally:
        model.train(was_training)
    return post_classification_scores(np.concatenate(predictions), mapping, years, protocol)


# ---- printing ----------------------------------------------------------------------------------


def format_change_table(rows: Mapping[str, Mapping[str, float]], intervals: Sequence[int] = range(1, 10)) -> str:
    """Plain-text Table 5/6 shape: F1 per interval and OF1 (in %), one row per label."""
    head = ["", *(str(k) for k in intervals), "OF1"]
    lines = [head]
    for label, scores in rows.items():
        values = [scores.get(f"F1_interval_{k}") for k in intervals] + [scores.get("OF1")]
        lines.append([label, *("–" if v is None else f"{100 * v:.1f}" for v in values)])
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in lines]
    return "interval (years) →  F1 of the change class, %\n" + "\n".join(text)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their mean rank (what Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / np.bincount(inverse)[inverse]


def rises_with_interval(scores: Mapping[str, float]) -> tuple[bool, float]:
    """Whether F1 rises with the interval (Spearman rank correlation of F1 with k > 0) and that correlation."""
    pairs = sorted((int(k.rsplit("_", 1)[1]), float(v)) for k, v in scores.items()
                   if k.startswith("F1_interval_") and np.isfinite(v))
    if len(pairs) < 2:
        return False, float("nan")
    ks, f1 = (np.asarray(a, dtype=np.float64) for a in zip(*pairs))
    rk, rf = _average_ranks(ks), _average_ranks(f1)
    if rf.std() == 0:  # F1 equal at every interval: no trend
        return False, 0.0
    rho = float(np.corrcoef(rk, rf)[0, 1])
    return rho > 0, rho


def print_change_summary(result: Any, model_args: Any) -> None:
    """What ``train.py --task change_detection`` prints at the end (main process)."""
    from euromine_hf.models.registry import get_spec

    print(f"\nTest split, every year pair (site-level scores), {result.seconds:.0f} s in all:")
    print(format_change_table({f"{model_args.model} ({model_args.size})": result.test_metrics}))
    rises, rho = rises_with_interval(result.test_metrics)
    print(f"F1 {'rises' if rises else 'does not rise'} with the interval (Spearman rho {rho:.2f}); "
          f"the paper's row for {get_spec(model_args.model).paper_name} is in {result.output_dir}/results/test_results.md")
    print(f"Outputs under {result.output_dir}: model/ (safetensors + card), results/, predictions/, qualitative/")
