"""Where the runs execute: here one after the other, each behind ``accelerate launch``, or as Slurm jobs.

Every launcher calls the same :func:`euromine_hf.benchmark.jobs.execute_run`, so a run is trained,
collected and marked finished the same way everywhere; a launcher only decides where that function
runs and how the runner waits for it.

The Slurm launcher submits the runs as one job array through submitit and records the job ids in
``OUTPUT/slurm/jobs.json``: a rerun (or ``--reattach``) waits for recorded jobs that are still queued
or running instead of submitting them again. submitit's local executor (``cluster="local"``) runs the
same jobs as local processes, which is how the tests exercise this path without a cluster.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from euromine_hf.benchmark.jobs import LOG_FILE, execute_run
from euromine_hf.benchmark.plan import RunSpec, read_json

#: Slurm states in which a recorded job will still finish by itself (wait for it, never resubmit).
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"}
JOBS_FILE = "jobs.json"


@dataclass
class Outcome:
    """How one launched run ended: ``finished`` or ``failed`` (with the log to read)."""

    spec: RunSpec
    status: str
    log: str
    message: str = ""
    seconds: float | None = None


def _outcome(spec: RunSpec, reply: dict[str, Any]) -> Outcome:
    status = "finished" if reply.get("status") in ("finished", "skipped") else "failed"
    return Outcome(spec, status, str(reply.get("log") or spec.run_dir / LOG_FILE), str(reply.get("message", "")),
                   reply.get("seconds"))


class LocalLauncher:
    """Each run in a training subprocess of this machine, one after the other."""

    name = "local"

    def prefix(self) -> list[str] | None:
        return None  # `python -m euromine_hf.training.main` with this interpreter

    def launch(self, specs: Sequence[RunSpec], say: Callable[[str], None] = print) -> list[Outcome]:
        outcomes = []
        for i, spec in enumerate(specs, 1):
            say(f"[{i}/{len(specs)}] {spec.label}: training (log: {spec.run_dir / LOG_FILE})")
            outcome = _outcome(spec, execute_run(spec.run_dir, self.prefix()))
            say(f"[{i}/{len(specs)}] {spec.label}: {outcome.status}"
                + (f" in {outcome.seconds:.0f} s" if outcome.seconds is not None else f" ({outcome.message})"))
            outcomes.append(outcome)
        return outcomes


class AccelerateLauncher(LocalLauncher):
    """Each run through ``accelerate launch --config_file CFG`` (DDP / FSDP over this machine's devices)."""

    name = "accelerate"

    def __init__(self, config_file: str | Path, num_processes: int | None = None) -> None:
        path = Path(config_file)
        if not path.is_file():
            raise ValueError(f"--accelerate_config {path}: expected an accelerate config file (e.g. configs/fsdp.yaml), found no such file")
        self.config_file = path.resolve()
        self.num_processes = num_processes

    def prefix(self) -> list[str]:
        return accelerate_prefix(self.config_file, self.num_processes)


def accelerate_prefix(config_file: str | Path, num_processes: int | None = None) -> list[str]:
    """``accelerate launch --config_file CFG [--num_processes N]`` with this interpreter's accelerate
    (``python -m accelerate.commands.launch`` is the ``accelerate launch`` console script)."""
    prefix = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file)]
    if num_processes is not None:
        prefix += ["--num_processes", str(num_processes)]
    return prefix


def parse_slurm_time(text: str) -> int:
    """``--slurm_time``: minutes (``240``), ``HH:MM:SS`` or ``D-HH:MM:SS`` -> whole minutes."""
    value = str(text).strip()
    try:
        days = 0
        if "-" in value:
            d, value = value.split("-", 1)
            days = int(d)
        parts = [int(p) for p in value.split(":")]
        if len(parts) == 1:
            minutes = parts[0]
        elif len(parts) == 3:
            minutes = parts[0] * 60 + parts[1] + (1 if parts[2] else 0)
        else:
            raise ValueError
        minutes += days * 24 * 60
    except ValueError:
        raise ValueError(f"--slurm_time: expected minutes, HH:MM:SS or D-HH:MM:SS, got {text!r}") from None
    if minutes < 1:
        raise ValueError(f"--slurm_time: expected at least one minute, got {text!r}")
    return minutes


def require_submitit() -> Any:
    """submitit is an optional extra: without it ``--launcher slurm`` is one line saying how to get it."""
    try:
        import submitit
    except ImportError:
        raise ValueError("--launcher slurm: expected the submitit package (pip install 'euromine-hf[slurm]'), "
                         "found it not installed") from None
    return submitit


class SlurmLauncher:
    """The runs as one submitit job array; waits for them (or reattaches to recorded ones)."""

    name = "slurm"

    def __init__(self, folder: str | Path, parameters: dict[str, Any], cluster: str | None = "slurm",
                 accelerate_config: str | Path | None = None, num_processes: int | None = None,
                 reattach: bool = False, poll_s: float | None = None) -> None:
        require_submitit()  # before any run is planned or written
        self.folder = Path(folder)
        self.parameters = {k: v for k, v in parameters.items() if v is not None}
        self.cluster = cluster
        self.prefix = accelerate_prefix(Path(accelerate_config).resolve(), num_processes) if accelerate_config else None
        self.reattach = reattach
        # sacct is asked at most this often on a cluster; local jobs are plain processes
        self.poll_s = poll_s if poll_s is not None else (1.0 if cluster == "local" else 30.0)

    # -- job records ---------------------------------------------------------------------------
    def recorded(self) -> dict[str, dict[str, Any]]:
        path = self.folder / JOBS_FILE
        return read_json(path, "slurm job records").get("jobs", {}) if path.is_file() else {}

    def _record(self, jobs: dict[str, dict[str, Any]]) -> None:
        from euromine_hf.io import atomic_write_json

        atomic_write_json(self.folder / JOBS_FILE, {"jobs": jobs})

    def _job(self, job_id: str, cluster: str) -> Any:
        """A submitit job handle from a recorded id (how submitit reattaches to a job)."""
        if cluster == "local":
            from submitit.local.local import LocalJob

            return LocalJob(self.folder, job_id)
        return require_submitit().SlurmJob(self.folder, job_id)

    @staticmethod
    def _active(job: Any) -> bool:
        try:
            state = str(job.state).upper()
        except Exception:  # noqa: BLE001  sacct unreachable: treat as not running (it is resubmitted)
            return False
        return state.split()[0] in ACTIVE_STATES if state else False

    # -- launching -----------------------------------------------------------------------------
    def executor(self) -> Any:
        submitit = require_submitit()

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(name="euromine-benchmark", tasks_per_node=1, nodes=1, **self.parameters)
        return executor

    def launch(self, specs: Sequence[RunSpec], say: Callable[[str], None] = print) -> list[Outcome]:
        records = self.recorded()
        waiting: list[tuple[RunSpec, Any]] = []
        to_submit: list[RunSpec] = []
        unlaunched: list[Outcome] = []
        for spec in specs:
            record = records.get(str(spec.run_dir))
            job = self._job(record["job_id"], record.get("cluster", "slurm")) if record else None
            if job is not None and (self.reattach or self._active(job)):
                say(f"{spec.label}: reattached to job {record['job_id']}")
                waiting.append((spec, job))
            elif self.reattach:  # not finished and nothing to wait for: reported as not run, exit status 1
                unlaunched.append(Outcome(spec, "failed", str(spec.run_dir / LOG_FILE),
                                          "no job recorded for it; --reattach submits nothing (rerun without it to submit)"))
            else:
                to_submit.append(spec)
        if to_submit:
            executor = self.executor()
            with executor.batch():  # one job array on Slurm
                submitted = [(spec, executor.submit(execute_run, str(spec.run_dir), self.prefix)) for spec in to_submit]
            for spec, job in submitted:
                records[str(spec.run_dir)] = {"job_id": str(job.job_id), "cluster": executor.cluster}
                say(f"{spec.label}: submitted as job {job.job_id} (job log: {job.paths.stdout})")
            self._record(records)
            waiting += submitted
        return unlaunched + [self._wait(spec, job, say) for spec, job in waiting]

    def _wait(self, spec: RunSpec, job: Any, say: Callable[[str], None]) -> Outcome:
        """Wait for a job; the run counts as finished only if its ``result.json`` exists (the job's own
        word is the message otherwise: a job killed by its time limit or a node failure has none)."""
        from euromine_hf.benchmark.plan import run_state

        while not job.done():
            time.sleep(self.poll_s)
        try:
            reply = job.result()
            message = str(reply.get("message", "")) if isinstance(reply, dict) else ""
        except Exception as error:  # noqa: BLE001  the job died (time limit, node failure, no result pickle)
            message = f"job {job.job_id}: " + " ".join(str(error).split())[:300]
        if run_state(spec.run_dir) == "finished":
            say(f"{spec.label}: finished (job {job.job_id})")
            return Outcome(spec, "finished", str(spec.run_dir / LOG_FILE))
        say(f"{spec.label}: failed (job {job.job_id})")
        return Outcome(spec, "failed", f"{spec.run_dir / LOG_FILE} (job log: {job.paths.stderr})",
                       message or f"job {job.job_id} ended without writing {spec.run_dir.name}/result.json")
