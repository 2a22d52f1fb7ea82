"""The one training run behind ``train.py``, ``euromine train``, the demo and the benchmark runner.

:func:`run_training` drives any task (``training/tasks/``) the same way: resolve the archive, load the
task's splits, build its model (seeded, from its pretrained start unless resuming), train (resuming
from ``--resume_from_checkpoint``), predict the test split, score extras, write the task's reports,
then ``results/all_results.json`` last (its presence means the reports are complete), then push.
Every process runs the training; only the main process writes reports and pushes.

``--output_dir`` is train.py's own folder (:mod:`euromine_hf.owned_outputs`, tool ``train``): checked
before anything is fetched or read (new, empty, or carrying train's marker, as a rerun, a resume or a
benchmark run folder does; never the ``--data_dir`` archive, inside it or around it), marked just
before the first file is written, and left as it was found when the run fails before writing anything else.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from euromine_hf import owned_outputs
from euromine_hf.training.checkpoints import resume_path
from euromine_hf.training.results import ALL_RESULTS, RunResult, json_ready, resolve_data_dir, write_json_atomic
from euromine_hf.training.tasks import get_task

logger = logging.getLogger(__name__)

#: the marker (:mod:`euromine_hf.owned_outputs`) that makes an output folder train.py's own; the
#: benchmark runner writes it into the run folders it prepares (``benchmark.plan.TRAIN_TOOL``)
TRAIN_TOOL = "train"

__all__ = ["run_training", "push_trained_model", "RunResult"]


def is_trainer_checkpoint(path: Path) -> bool:
    """A ``checkpoint-N`` folder with its ``trainer_state.json``: what train.py writes, copied into a
    new --output_dir to resume from (its run folder's marker left behind)."""
    return path.is_dir() and not path.is_symlink() and re.fullmatch(r"checkpoint-\d+", path.name) is not None \
        and (path / "trainer_state.json").is_file()


def run_training(model_args: Any, data_args: Any, training_args: Any, run_args: Any) -> RunResult:
    """Train the ``--task`` model, test it on the test split, write reports (main process), push."""
    start = time.perf_counter()
    task = get_task(model_args.task)
    task.check_arguments(model_args, data_args, training_args)
    output_dir = Path(training_args.output_dir)
    reads = [data_args.data_dir] if data_args.data_dir else []
    owned_outputs.check_folder(output_dir, TRAIN_TOOL, reads=reads, option="--output_dir",
                               recognised=is_trainer_checkpoint)  # before anything runs
    resume = resume_path(training_args)  # a wrong value fails before anything is fetched or read
    if resume is None:  # on resume the checkpoint replaces every weight: no start to fetch
        from euromine_hf.training.pretrained_start import fetch_pretrained

        fetch_pretrained(model_args)  # a checkpoint that cannot be had fails before any data is read
    data_dir, data_source = resolve_data_dir(data_args)
    splits = task.load_splits(data_dir, data_args)
    validation = splits.get("validation")
    if (validation is None or len(validation) == 0) and training_args.eval_strategy != "no":
        logger.warning("%s has %s: evaluating and selecting checkpoints is turned off", data_dir, task.no_validation)
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False

    # push through huggingface_hub at the end (euromine_hf.hub), not through Trainer's own repo handling
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False

    # the main process makes the folder train.py's just before its first write (other ranks only read)
    claim = owned_outputs.claim_folder(output_dir, TRAIN_TOOL, reads=reads, option="--output_dir",
                                       recognised=is_trainer_checkpoint) \
        if training_args.should_save else None
    try:
        model = task.build_model(model_args, seed=training_args.seed, full_determinism=training_args.full_determinism,
                                 report_dir=output_dir if training_args.should_save else None, pretrained=resume is None)
        trainer = task.build_trainer(model, splits, data_args, training_args, run_args)
        train_output = trainer.train(resume_from_checkpoint=resume)
    except BaseException:
        if claim is not None:
            claim.release()  # a start that failed before writing anything leaves no folder of its own
        raise
    trainer.log_metrics("train", train_output.metrics)

    prediction = trainer.predict(splits["test"], metric_key_prefix="test")
    test_metrics = {k[len("test_"):]: float(v) for k, v in prediction.metrics.items() if k.startswith("test_")}
    trainer.log_metrics("test", prediction.metrics)

    result = RunResult(output_dir=output_dir, model_dir=output_dir / "model", test_metrics=test_metrics,
                       train_metrics=dict(train_output.metrics), task=task.name)
    task.score_extras(result, splits, data_args, run_args)
    if trainer.is_world_process_zero():
        result.written = task.write_reports(
            trainer=trainer, result=result, splits=splits, predictions=prediction.predictions,
            model_args=model_args, data_args=data_args, run_args=run_args, data_dir=data_dir, data_source=data_source,
        )
        result.written["all_results"] = write_json_atomic(output_dir / ALL_RESULTS, json_ready({
            "task": task.name, "model": model_args.model, "size": model_args.size, "seed": training_args.seed,
            "data_dir": str(data_dir), "data_source": data_source, "test": result.test_metrics,
            "train": result.train_metrics, **task.results_fields(trainer, result, splits, data_args),
        }))
        if push_to_hub:
            push_trained_model(result, training_args)
    trainer.accelerator.wait_for_everyone()
    result.seconds = time.perf_counter() - start
    result.summary = task.summary(result, model_args, run_args)
    return result


def push_trained_model(result: RunResult, training_args: Any) -> str:
    """``--push_to_hub``: upload the written ``model/`` folder through :mod:`euromine_hf.hub` (main process)."""
    from euromine_hf.hub.push import push_model_folder

    repo_id = training_args.hub_model_id or result.output_dir.name
    url = push_model_folder(result.model_dir, repo_id, token=training_args.hub_token,
                            private=bool(training_args.hub_private_repo))
    logger.info("pushed %s to %s", result.model_dir, url)
    return url
