"""What a training task supplies to the one run function (:func:`euromine_hf.training.run.run_training`).

A task is everything that differs between, say, training a segmenter and training a change detector:
its argument checks, the samples it forms over the archive's ``mapping`` rows, its collators, the
model it builds, the Trainer class and arguments, the metrics, the reports and the console summary.
The run function drives any task the same way, so a new task is one module here and one line in
``tasks/__init__.py``.

Task modules import torch, transformers and the data layer inside their methods only: the registry
is read by ``train --help``, which must answer without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from euromine_hf.training.results import RunResult


def mapping_metric_names(years: Any) -> list[str]:
    """Keys of a mapping scorer's result for ``years`` (``metrics.mapping.MappingScorer.compute``)."""
    return [*(f"F1_{y}" for y in sorted(years)), "OF1", "precision", "recall", "IoU", "GCA-TIoU", "LCA-TIoU"]


def change_metric_names(years: Any, intervals: Any = None) -> list[str]:
    """Keys of a change scorer's result over the pairs of ``years`` (only ``intervals``, when given)."""
    gaps = sorted({b - a for a in years for b in years if b > a and (not intervals or b - a in intervals)})
    return [*(f"F1_interval_{k}" for k in gaps), "OF1", "precision", "recall", "IoU"]


class Task:
    """One training task. Subclasses set :attr:`name` and implement the methods that raise here."""

    #: ``--task`` value; also the zoo task (``ModelSpec.task``) of the models it trains.
    name: str = ""
    #: ``--model`` when none is given.
    default_model: str = ""
    #: ``--help`` text of this ``--task`` value.
    description: str = ""
    #: The end of the warning a run logs when the archive gives it nothing to validate on.
    no_validation: str = "an empty validation split"

    # ---- arguments --------------------------------------------------------------------------------

    def check_arguments(self, model_args: Any, data_args: Any, training_args: Any = None) -> None:
        """Cross-checks between the argument dataclasses for this task (in place; idempotent; no data
        read). The base checks what every task needs: a zoo model of this task whose config builds
        with ``--size`` / ``--config_overrides`` and reads the archive's ten bands."""
        from euromine_hf.bands import BANDS
        from euromine_hf.models.registry import MODEL_ZOO, zoo_names

        task = self.name
        if model_args.model not in MODEL_ZOO:
            raise ValueError(f"--model: expected a zoo model for --task {task} "
                             f"({', '.join(zoo_names(task)) or 'none registered'}), got {model_args.model!r}")
        spec_task = MODEL_ZOO[model_args.model].task
        if spec_task != task:
            raise ValueError(f"--model {model_args.model} is a {spec_task} model but --task is {task}; "
                             f"choose one of: {', '.join(zoo_names(task)) or 'none registered'}")
        try:  # the config alone is cheap: a typo in --config_overrides fails before any data is read
            config = MODEL_ZOO[model_args.model].make_config(model_args.size, **model_args.overrides())
        except ValueError as error:
            raise ValueError(f"--config_overrides / --size for --model {model_args.model}: {error}") from error
        channels = getattr(config, "num_channels", len(BANDS))
        if channels != len(BANDS):  # the training data always carries the ten bands
            raise ValueError(
                f"--config_overrides num_channels: expected {len(BANDS)} (the archive's bands {', '.join(BANDS)}), "
                f"got {channels}; to start from an RGB model use --rgb_checkpoint, which adapts its first layer "
                "to the 10 bands"
            )
        metric = getattr(training_args, "metric_for_best_model", None) if training_args is not None else None
        if metric is not None:  # else the Trainer's KeyError comes at the first evaluation, after training started
            names = self.metric_names(data_args)
            if metric.removeprefix("eval_") not in names:
                raise ValueError(f"--metric_for_best_model: expected one of {', '.join(names)} (the validation "
                                 f"metrics of --task {task}; an eval_ prefix is optional), got {metric!r}")

    def metric_names(self, data_args: Any) -> list[str]:
        """What an evaluation of this task reports (``compute_metrics``' keys and the loss): the names
        ``--metric_for_best_model`` may take."""
        return ["loss"]

    # ---- data -------------------------------------------------------------------------------------

    def load_splits(self, data_dir: Path, data_args: Any) -> dict[str, Any]:
        """``train`` (what the Trainer trains on), ``validation`` (None or empty: nothing to validate on),
        ``test``, and whatever rows the task's reports need."""
        raise NotImplementedError

    def collators(self, data_args: Any) -> tuple[Callable, Callable]:
        """(training collator, evaluation collator)."""
        raise NotImplementedError

    # ---- model and trainer ------------------------------------------------------------------------

    def build_model(self, model_args: Any, seed: int | None = None, full_determinism: bool = False,
                    report_dir: Any = None, pretrained: bool = True) -> Any:
        """The zoo model to train: seeded, then started from its pretrained checkpoint(s) unless
        ``pretrained`` is False (a resumed run: the checkpoint replaces every weight)."""
        from euromine_hf.training.pretrained_start import build_start_model

        return build_start_model(model_args, seed=seed, full_determinism=full_determinism, report_dir=report_dir,
                                 pretrained=pretrained)

    def trainer_class(self) -> type:
        raise NotImplementedError

    def metrics(self, data_args: Any, run_args: Any) -> Any:
        """Trainer's ``compute_metrics`` for the validation and test splits."""
        raise NotImplementedError

    def trainer_kwargs(self, splits: dict[str, Any], data_args: Any, run_args: Any) -> dict[str, Any]:
        """Keyword arguments of :meth:`trainer_class` beyond model, args, datasets, collators and metrics."""
        return {"augment": data_args.augment, "radiometric_jitter": data_args.radiometric_jitter}

    def build_trainer(self, model: Any, splits: dict[str, Any], data_args: Any, training_args: Any,
                      run_args: Any) -> Any:
        """The Trainer a run trains with (``bench/data_loading.py`` times its train dataloader)."""
        train_collator, eval_collator = self.collators(data_args)
        validation = splits.get("validation")
        return self.trainer_class()(
            model=model,
            args=training_args,
            train_dataset=splits["train"],
            eval_dataset=validation if validation is not None and len(validation) else None,
            data_collator=train_collator,
            eval_data_collator=eval_collator,
            compute_metrics=self.metrics(data_args, run_args),
            **self.trainer_kwargs(splits, data_args, run_args),
        )

    # ---- after training ---------------------------------------------------------------------------

    def score_extras(self, result: RunResult, splits: dict[str, Any], data_args: Any, run_args: Any) -> None:
        """Scores beside the model's own (e.g. a baseline), stored on ``result``; none by default."""

    def write_reports(self, trainer: Any, result: RunResult, splits: dict[str, Any], predictions: Any,
                      model_args: Any, data_args: Any, run_args: Any, data_dir: Path,
                      data_source: str) -> dict[str, Path]:
        """Everything the run leaves under ``--output_dir`` except ``results/all_results.json``
        (main process); returns what was written."""
        raise NotImplementedError

    def results_fields(self, trainer: Any, result: RunResult, splits: dict[str, Any], data_args: Any) -> dict[str, Any]:
        """This task's keys of ``all_results.json`` beside the common ones the run function writes."""
        return {}

    def summary(self, result: RunResult, model_args: Any, run_args: Any) -> str:
        """The lines the console shows at the end of a run (main process)."""
        raise NotImplementedError
