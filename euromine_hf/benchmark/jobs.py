"""The function one benchmark run executes, whatever launched it (a loop here, a Slurm array job).

:func:`execute_run` trains through ``python -m euromine_hf.training.main`` (optionally behind a launch
prefix such as ``accelerate launch --config_file …``) with the output in the run's ``train.log``,
resuming from the last checkpoint when the folder has one; then it reads the run's results, records
the run as a local leaderboard entry scored from its test predictions, and writes ``result.json``
atomically, last. So ``result.json`` is the one sign that a run finished, even if the runner that
started it is gone, and a job that is started twice for a finished run does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from euromine_hf.benchmark.plan import RESULT_FILE, checkpoints, read_json, read_spec

RESULT_FORMAT = "euromine-benchmark-result/1"
LOG_FILE = "train.log"


def execute_run(run_dir: str | Path, launch_prefix: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, collect and record one run; returns ``{"status": "finished"|"skipped"|"failed", ...}``.

    Never raises for a failed training (a Slurm array keeps its other jobs; the caller reports the log).
    """
    run_dir = Path(run_dir)
    log = run_dir / LOG_FILE
    if (run_dir / RESULT_FILE).is_file():
        return {"status": "skipped", "run_dir": str(run_dir), "log": str(log), "message": "already finished"}
    spec = read_spec(run_dir)
    argv = list(spec["argv"])
    last = checkpoints(run_dir)
    if last:
        argv += ["--resume_from_checkpoint", "last"]
    command = [*(launch_prefix or [sys.executable]), "-m", "euromine_hf.training.main", *argv]
    start = time.perf_counter()
    returncode = _train(command, log, resumed_from=last[-1].name if last else None)
    seconds = time.perf_counter() - start
    if returncode != 0:
        return {"status": "failed", "run_dir": str(run_dir), "log": str(log), "returncode": returncode,
                "message": f"training exited with status {returncode}"}
    try:
        result = collect_result(run_dir, spec)
    except ValueError as error:
        return {"status": "failed", "run_dir": str(run_dir), "log": str(log), "returncode": returncode,
                "message": str(error)}
    result.update(seconds=round(seconds, 1), resumed_from=last[-1].name if last else None, log=str(log),
                  command=command)
    result["leaderboard"] = record_leaderboard_entry(run_dir, spec, result)
    result["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    from euromine_hf.io import atomic_write_json

    atomic_write_json(run_dir / RESULT_FILE, result)  # last: the run counts as finished from here on
    return {"status": "finished", "run_dir": str(run_dir), "log": str(log), "seconds": result["seconds"],
            "resumed_from": result["resumed_from"]}


def _train(command: list[str], log: Path, resumed_from: str | None) -> int:
    """Run the training command with stdout and stderr appended to ``log`` (one header per attempt)."""
    from euromine_hf.io import writing

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with writing(log):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            note = f" (resuming from {resumed_from})" if resumed_from else ""
            fh.write(f"=== {stamp} euromine benchmark{note}: {' '.join(command)}\n".encode())
            fh.flush()
            return _wait_stopping_on_term(subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, env=env))


def _wait_stopping_on_term(proc: subprocess.Popen) -> int:
    """The training's exit status; if this process is stopped first (Ctrl-C, or SIGTERM from ``kill``,
    ``timeout`` or Slurm's ``scancel``), the training is stopped too, never left writing into its run
    folder on its own (a rerun would then train two processes into one folder)."""
    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def collect_result(run_dir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The run's scores from ``results/all_results.json`` (written last by the training run), checked
    against the run spec: the same model, preset, task and seed."""
    path = run_dir / "results" / "all_results.json"
    if not path.is_file():
        raise ValueError(f"{path}: expected the training results, found no such file")
    data = read_json(path, "training results")
    options = spec["options"]
    test = data.get("test")
    if not isinstance(test, dict) or not test:
        raise ValueError(f"{path}: field 'test': expected the test metrics, found {test!r:.80}")
    for key, expected in (("model", spec["model"]), ("size", options["size"]), ("task", options["task"]),
                          ("seed", spec["seed"])):
        if data.get(key) != expected:
            raise ValueError(f"{path}: field {key!r}: expected {expected!r} (as the run spec says), found {data.get(key)!r}")
    result: dict[str, Any] = {
        "format": RESULT_FORMAT, "task": spec["task"], "model": spec["model"], "seed": spec["seed"],
        "size": options["size"], "options": options,
        "test": {k: float(v) for k, v in test.items() if isinstance(v, (int, float))},
        "data_dir": data.get("data_dir", options["data_dir"]), "data_source": data.get("data_source"),
    }
    if options["task"] in ("segmentation", "multitemporal"):
        post = data.get("post_classification")  # None: not scored (e.g. one test year); Table 6 shows it missing
        if post is not None and not isinstance(post, dict):
            raise ValueError(f"{path}: field 'post_classification': expected the Table-6 scores or null, found {post!r:.80}")
        result["post_classification"] = post
    if options["task"] == "multitemporal":  # a series model's change maps of every pair (Table 5)
        change = data.get("change")
        if not isinstance(change, dict) or not change:
            raise ValueError(f"{path}: field 'change': expected the change metrics of a series model, found {change!r:.80}")
        result["change"] = {k: float(v) for k, v in change.items() if isinstance(v, (int, float))}
    from euromine_hf.benchmark.tables import check_result

    return check_result(path, result)  # scores the tables could not show make the run fail, not the tables


def entry_name(spec: dict[str, Any]) -> str:
    """The leaderboard name of a run: the paper's model name, the zoo name, preset and seed."""
    from euromine_hf.models.registry import get_spec

    return f"{get_spec(spec['model']).paper_name} [{spec['model']}, {spec['options']['size']}, seed {spec['seed']}]"


def record_leaderboard_entry(run_dir: Path, spec: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Score the run's test predictions as a leaderboard submission (the leaderboard's own validation and
    scorer, so the entry is *scored here* with the predictions' hash) and write the entry.

    A run whose predictions cannot be a submission (e.g. ``--max_test_samples`` left test sites out)
    stays finished; the reason is kept in ``result.json`` and printed by the runner."""
    if spec["task"] == "multitemporal":  # a series model: an entry on both boards, from its two folders
        entries = {"mapping": _record_entry(run_dir, spec, "mapping"),
                   "change_detection": _record_entry(run_dir, spec, "change_detection", "test_change")}
        errors = [f"{task}: {e['error']}" for task, e in entries.items() if not e.get("entry")]
        board: dict[str, Any] = {"entry": entries["mapping"].get("entry") if not errors else None, "entries": entries}
        if errors:
            board["error"] = "; ".join(errors)
        return board
    return _record_entry(run_dir, spec, spec["task"])


def _record_entry(run_dir: Path, spec: dict[str, Any], task: str, folder: str = "test") -> dict[str, Any]:
    from euromine_hf.hub import leaderboard as lb

    options = spec["options"]
    split_scheme = _option_value(options["train_options"], "--split_scheme") or "auto"
    meta = {"model": entry_name(spec), "task": task,
            "description": f"euromine benchmark run {run_dir} ({options['size']} preset"
                           + (f", max_steps {options['max_steps']})" if options["max_steps"] is not None else ")")}
    try:
        submission = lb.validate_submission(run_dir / "predictions" / folder, options["data_dir"], task=task,
                                            split_scheme=split_scheme, meta=meta)
        scores = lb.score_submission(submission, split_scheme=split_scheme)
        entry = lb.make_result_entry(submission, scores, split_scheme=split_scheme)
        path = lb.write_result_entry(spec.get("leaderboard_dir") or run_dir.parent / "leaderboard", entry)
    except ValueError as error:
        return {"entry": None, "error": " ".join(str(error).split())[:2000]}
    return {"entry": str(path), "model": entry["model"], "sha256": entry["submission_sha256"]}


def _option_value(options: Sequence[str], name: str) -> str | None:
    options = list(options)
    for i, word in enumerate(options):
        if word == name and i + 1 < len(options):
            return options[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None
