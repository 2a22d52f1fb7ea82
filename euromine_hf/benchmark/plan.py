"""Which runs a benchmark request means, where each lives and the ``train.py`` command it trains with.

A run is one (task, model, seed): folder ``OUTPUT/runs/<task>/<model>/seed<k>/``, which is also the
run's ``--output_dir`` (checkpoints, model, results, predictions) and holds ``run.json`` (this
module's spec: the argv and the options that decide what the run is) and, once its job finished,
``result.json`` (:mod:`euromine_hf.benchmark.jobs`). Runs compare across seeds only when everything
else was the same, so a folder trained with other options is refused by name, never mixed in.

The recipe is ``train.py``'s own: its defaults are the paper's (``training.recipe.PAPER_RECIPE``:
Adam, lr 1e-4, batch 32 per device, cosine to 1e-7) and ``--size paper`` selects the zoo's paper
preset and pretrained start, so the runner passes no recipe option of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

#: benchmark task -> ``train.py --task``; a ``multitemporal`` run (a series model, beyond the paper)
#: lands in all three tables: its yearly masks in Table 4, its change maps in 5, post-classification in 6
BENCHMARK_TASKS: dict[str, str] = {"mapping": "segmentation", "change_detection": "change_detection",
                                   "multitemporal": "multitemporal"}
#: the paper's protocol: what ``--task all`` means (series models run only when named or asked for by task)
PAPER_TASKS = ("mapping", "change_detection")
RUN_SPEC_FILE = "run.json"
#: ``train.py``'s marker (:mod:`euromine_hf.owned_outputs`, tool ``train``, as ``training/run.py`` checks it):
#: the runner marks each run folder it prepares, so train.py takes it as its own
TRAIN_TOOL = "train"
RESULT_FILE = "result.json"
SPEC_FORMAT = "euromine-benchmark-run/1"
#: ``train.py`` options the runner sets itself (per run), so extra training options may not repeat them.
RESERVED_OPTIONS = ("--task", "--model", "--size", "--seed", "--data_dir", "--output_dir", "--max_steps",
                    "--resume_from_checkpoint", "--push_to_hub", "--demo")


@dataclass(frozen=True)
class RunSpec:
    """One (task, model, seed) run; ``options`` is what must match for two runs to share a table."""

    task: str  # benchmark task: "mapping" or "change_detection"
    model: str
    seed: int
    run_dir: Path
    options: dict[str, Any] = field(hash=False)
    leaderboard_dir: Path = field(default=Path("leaderboard"), hash=False)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.model}/seed{self.seed}"

    def argv(self) -> list[str]:
        """``train.py`` arguments of this run (no resume flag: the job adds it when checkpoints exist)."""
        o = self.options
        argv = ["--task", o["task"], "--model", self.model, "--size", o["size"], "--seed", str(self.seed),
                "--data_dir", o["data_dir"], "--output_dir", str(self.run_dir)]
        if o["max_steps"] is not None:
            argv += ["--max_steps", str(o["max_steps"])]
        return argv + list(o["train_options"])

    def to_json(self) -> dict[str, Any]:
        return {"format": SPEC_FORMAT, "task": self.task, "model": self.model, "seed": self.seed,
                "run_dir": str(self.run_dir), "options": self.options, "argv": self.argv(),
                "leaderboard_dir": str(self.leaderboard_dir)}


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: non-negative integers, each once."""
    seeds = []
    for item in (s.strip() for s in str(text).split(",")):
        if not item.isdigit() or int(item) > 2**32 - 1:
            raise ValueError(f"--seeds: expected comma-separated integers in 0..{2**32 - 1}, got {text!r}")
        if int(item) in seeds:
            raise ValueError(f"--seeds: seed {item} is listed twice in {text!r}")
        seeds.append(int(item))
    return seeds


def resolve_models(task: str, models: str) -> dict[str, list[str]]:
    """``--task`` and ``--models`` -> {benchmark task: zoo names in zoo order}; each name is put under
    the task its zoo entry trains for, and must belong to a requested task."""
    import euromine_hf.models  # noqa: F401  registers the zoo
    from euromine_hf.models.registry import MODEL_ZOO, zoo_names

    if task not in BENCHMARK_TASKS and task != "all":
        raise ValueError(f"--task: expected {', '.join(BENCHMARK_TASKS)} or all, got {task!r}")
    if models.strip() == "all":  # --task all --models all is the paper's protocol: no series model
        return {t: list(zoo_names(BENCHMARK_TASKS[t])) for t in (PAPER_TASKS if task == "all" else [task])}
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ValueError(f"--models: expected 'all' or comma-separated zoo names, got {models!r}")
    tasks = list(BENCHMARK_TASKS) if task == "all" else [task]  # a named series model runs under --task all
    chosen: dict[str, list[str]] = {t: [] for t in tasks}
    train_to_bench = {v: k for k, v in BENCHMARK_TASKS.items()}
    for name in names:
        if name not in MODEL_ZOO:
            raise ValueError(f"--models: {name!r} is not a zoo model; expected one of {', '.join(sorted(MODEL_ZOO))}")
        bench_task = train_to_bench[MODEL_ZOO[name].task]
        if bench_task not in chosen:
            raise ValueError(f"--models: {name} is a {bench_task} model but --task is {task}")
        if name in chosen[bench_task]:
            raise ValueError(f"--models: {name} is listed twice")
        chosen[bench_task].append(name)
    order = {t: list(zoo_names(BENCHMARK_TASKS[t])) for t in tasks}
    return {t: sorted(ms, key=order[t].index) for t, ms in chosen.items() if ms}


def check_train_options(options: Sequence[str]) -> list[str]:
    """Extra ``train.py`` options for every run; the ones the runner sets per run are refused."""
    options = list(options)
    for word in options:
        name = word.split("=", 1)[0]
        if name in RESERVED_OPTIONS:
            raise ValueError(f"training option {name}: set by euromine benchmark itself for each run "
                             f"(use its own --size/--seeds/--max_steps/--data_dir/--output_dir/--models); "
                             f"expected none of {', '.join(RESERVED_OPTIONS)}")
    return options


def plan_runs(
    output_dir: str | Path, models: dict[str, list[str]], seeds: Sequence[int], data_dir: str | Path,
    size: str = "paper", max_steps: int | None = None, train_options: Sequence[str] = (),
) -> list[RunSpec]:
    """Every (task, model, seed) run of a request, tasks and models in zoo order, then seeds."""
    out = Path(output_dir).resolve()
    options_common = {"size": size, "data_dir": str(Path(data_dir).resolve()), "max_steps": max_steps,
                      "train_options": check_train_options(train_options)}
    specs = []
    for task, names in models.items():
        for model in names:
            for seed in seeds:
                specs.append(RunSpec(task=task, model=model, seed=int(seed), run_dir=run_dir(out, task, model, seed),
                                     options={"task": BENCHMARK_TASKS[task], "model": model, "seed": int(seed),
                                              **options_common},
                                     leaderboard_dir=out / "leaderboard"))
    return specs


def run_dir(output_dir: str | Path, task: str, model: str, seed: int) -> Path:
    return Path(output_dir) / "runs" / task / model / f"seed{seed}"


def checkpoints(folder: str | Path) -> list[Path]:
    """The complete ``checkpoint-N`` folders of a run, oldest first: what ``--resume_from_checkpoint last``
    resumes from (one cut while saving does not count)."""
    from euromine_hf.training.checkpoints import complete_checkpoints

    return complete_checkpoints(folder)


def run_state(folder: str | Path) -> str:
    """``finished`` (its ``result.json`` exists), ``interrupted`` (checkpoints, no result) or ``new``."""
    folder = Path(folder)
    if (folder / RESULT_FILE).is_file():
        return "finished"
    return "interrupted" if checkpoints(folder) else "new"


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object the benchmark wrote; anything else is an error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {what}: expected a JSON object, found {type(error).__name__}: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {what}: expected a JSON object, found {type(data).__name__}")
    return data


def read_spec(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RUN_SPEC_FILE
    spec = read_json(path, "run spec")
    if spec.get("format") != SPEC_FORMAT or not isinstance(spec.get("argv"), list) or not isinstance(spec.get("options"), dict):
        raise ValueError(f"{path}: run spec: expected format {SPEC_FORMAT!r} with argv and options")
    return spec


def check_same_options(spec: RunSpec) -> None:
    """A run folder that already holds a result or checkpoints must have been trained as ``spec`` asks:
    otherwise one line naming the folder and the first differing option (never a silent mix)."""
    if run_state(spec.run_dir) == "new":
        return
    path = spec.run_dir / RUN_SPEC_FILE
    if not path.is_file():
        raise ValueError(f"{spec.run_dir}: expected {RUN_SPEC_FILE} beside its checkpoints/result (a benchmark run "
                         "folder), found none; choose another --output_dir")
    old = read_spec(spec.run_dir)["options"]
    for key in sorted(set(old) | set(spec.options)):
        if old.get(key) != spec.options.get(key):
            shown = "training options" if key == "train_options" else f"--{key}"
            raise ValueError(
                f"{spec.run_dir}: option {shown}: this run was trained with {old.get(key)!r}, the request asks for "
                f"{spec.options.get(key)!r}; runs trained differently are never mixed, so rerun with the same options "
                "or choose another --output_dir")


def check_run_folder(spec: RunSpec) -> None:
    """A run folder is new, empty, a benchmark run folder (its ``run.json``) or train.py's (its marker);
    a folder holding anything else is the user's and is refused by name."""
    from euromine_hf import owned_outputs

    if (spec.run_dir / RUN_SPEC_FILE).is_file():
        read_spec(spec.run_dir)  # a run.json that is not the benchmark's is an error naming it
        return
    owned_outputs.check_folder(spec.run_dir, TRAIN_TOOL, reads=[spec.options["data_dir"]], option="run folder")


def write_spec(spec: RunSpec) -> Path:
    """``run.json``, in a folder marked as train.py's (which then trains into it, reruns and resumes included)."""
    from euromine_hf import owned_outputs
    from euromine_hf.io import atomic_write_json

    if not owned_outputs.owns_folder(spec.run_dir, TRAIN_TOOL):
        owned_outputs.record(spec.run_dir, TRAIN_TOOL)
    return atomic_write_json(spec.run_dir / RUN_SPEC_FILE, spec.to_json())
