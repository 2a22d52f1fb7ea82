"""``euromine benchmark``: plan, skip / resume / failure handling, Tables 4-6 with mean ± std over seeds,
the launchers, and (slow) the whole tiny protocol on a synthetic archive, local and through submitit."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from euromine_hf.benchmark import jobs, plan
from euromine_hf.benchmark.launchers import AccelerateLauncher, SlurmLauncher, parse_slurm_time
from euromine_hf.benchmark.tables import load_results, table_rows, write_benchmark_tables
from euromine_hf.cli import main as euromine

def _plan(tmp_path: Path, models: dict[str, list[str]], seeds=(0, 1), **kw) -> list[plan.RunSpec]:
    """Runs under tmp_path/out on the "archive" tmp_path/archive (never read by the fast tests; apart
    from the output folder, as the runner requires)."""
    kw.setdefault("size", "tiny")
    kw.setdefault("max_steps", 2)
    return plan.plan_runs(tmp_path / "out", models, seeds, tmp_path / "archive", **kw)


def _scores(task: str, base: float) -> dict[str, float]:
    if task == "mapping":
        keys = [f"F1_{y}" for y in range(2015, 2025)] + ["OF1", "GCA-TIoU", "LCA-TIoU"]
    else:
        keys = [f"F1_interval_{k}" for k in range(1, 10)] + ["OF1"]
    return {k: base + i / 1000 for i, k in enumerate(keys)}


def _finish(spec: plan.RunSpec, base: float, post: bool = True, **changes) -> None:
    """What a finished job leaves: run.json and result.json (no training)."""
    plan.write_spec(spec)
    result = {"format": jobs.RESULT_FORMAT, "task": spec.task, "model": spec.model, "seed": spec.seed,
              "size": spec.options["size"], "options": {**spec.options, **changes}, "test": _scores(spec.task, base)}
    if spec.task == "mapping" and post:
        result["post_classification"] = _scores("change_detection", base / 2)
    (spec.run_dir / plan.RESULT_FILE).write_text(json.dumps(result))


# ---- plan ---------------------------------------------------------------------------------------


def test_plan_puts_each_run_in_its_folder_with_the_train_py_recipe(tmp_path):
    """One folder per (task, model, seed); the argv is train.py's, with no recipe option of its own, so
    --size paper trains with train.py's defaults, which are the paper's recipe."""
    from euromine_hf.training.arguments import parse_arguments
    from euromine_hf.training.recipe import PAPER_RECIPE

    specs = plan.plan_runs(tmp_path / "out", plan.resolve_models("all", "unet,fc-ef"), [0, 1], tmp_path,
                           size="paper", max_steps=None)
    out = (tmp_path / "out").resolve()
    assert [s.run_dir for s in specs] == [out / "runs/mapping/unet/seed0", out / "runs/mapping/unet/seed1",
                                          out / "runs/change_detection/fc-ef/seed0", out / "runs/change_detection/fc-ef/seed1"]
    argv = specs[2].argv()
    assert argv[:6] == ["--task", "change_detection", "--model", "fc-ef", "--size", "paper"]
    assert ["--output_dir", str(specs[2].run_dir)] == argv[argv.index("--output_dir"):argv.index("--output_dir") + 2]
    model_args, _, training_args, _ = parse_arguments(specs[0].argv())
    assert (model_args.size, training_args.seed) == ("paper", 0)
    for key in ("learning_rate", "per_device_train_batch_size", "lr_scheduler_type", "weight_decay", "optim"):
        assert getattr(training_args, key) == PAPER_RECIPE[key], key
    assert training_args.lr_scheduler_kwargs == PAPER_RECIPE["lr_scheduler_kwargs"]


def test_models_go_to_their_task_and_bad_requests_are_refused():
    assert plan.resolve_models("all", "bit,segformer,fc-ef,unet") == {"mapping": ["segformer", "unet"],
                                                                     "change_detection": ["fc-ef", "bit"]}
    assert len(plan.resolve_models("change_detection", "all")["change_detection"]) == 20
    for task, models, words in (("mapping", "fc-ef", "change_detection model"), ("all", "unet,nope", "'nope'"),
                                ("all", "unet,unet", "twice"), ("all", " , ", "expected 'all'")):
        with pytest.raises(ValueError, match=words):
            plan.resolve_models(task, models)
    assert plan.parse_seeds("0,1,2") == [0, 1, 2]
    for text in ("0,x", "1,1", "-1", ""):
        with pytest.raises(ValueError, match="--seeds"):
            plan.parse_seeds(text)
    with pytest.raises(ValueError, match="--max_steps"):
        plan.check_train_options(["--per_device_train_batch_size", "8", "--max_steps=3"])


def test_a_run_trained_with_other_options_is_refused_by_folder_and_option(tmp_path, capsys):
    old = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0,))[0]
    _finish(old, 0.5)
    new = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0,), max_steps=3)[0]
    with pytest.raises(ValueError, match=r"seed0: option --max_steps: this run was trained with 2, the request asks for 3"):
        plan.check_same_options(new)
    plan.check_same_options(old)  # the same request passes
    # the CLI: one line, exit 2, and nothing was trained or rewritten
    before = (old.run_dir / plan.RUN_SPEC_FILE).read_text()
    (tmp_path / "archive").mkdir()
    rc = euromine(["benchmark", "--task", "mapping", "--models", "unet", "--seeds", "0", "--size", "tiny",
                   "--max_steps", "3", "--data_dir", str(tmp_path / "archive"), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "seed0: option --max_steps" in err[0] and "Traceback" not in err[0]
    assert (old.run_dir / plan.RUN_SPEC_FILE).read_text() == before


def test_benchmark_options_errors_are_one_line_exit_2(tmp_path, capsys):
    for extra, words in ((["--slurm_partition", "gpu"], "--slurm_partition: needs --launcher slurm"),
                         (["--launcher", "accelerate"], "expected --accelerate_config"),
                         (["--launcher", "accelerate", "--accelerate_config", str(tmp_path / "no.yaml")], "no.yaml"),
                         (["--launcher", "slurm", "--slurm_time", "soon"], "--slurm_time"),
                         (["--data_dir", str(tmp_path / "missing")], "missing"),
                         (["--", "--seed", "3"], "training option --seed"),
                         (["--", "--bogus", "1"], "training option --bogus: not an option of train.py"),
                         (["--", "--learning_rate", "abc"], "invalid float value: 'abc'")):
        args = ["benchmark", "--models", "unet", "--output_dir", str(tmp_path / "out")] + extra
        if "--data_dir" not in extra:
            args[1:1] = ["--data_dir", str(tmp_path)]
        assert euromine(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (extra, err)
    assert not (tmp_path / "out").exists()


# ---- tables -------------------------------------------------------------------------------------


def test_tables_hold_mean_std_over_seeds_n_and_the_paper_row(tmp_path):
    specs = _plan(tmp_path, {"mapping": ["segformer", "unet"], "change_detection": ["bit"]}, seeds=(0, 1))
    by = {(s.model, s.seed): s for s in specs}
    _finish(by["unet", 0], 0.40)
    _finish(by["unet", 1], 0.60)
    _finish(by["bit", 0], 0.20)
    _finish(by["bit", 1], 0.30)
    _finish(by["segformer", 0], 0.70, post=False)  # seed 1 never finished; no Table 6 scores for seed 0
    written = write_benchmark_tables(tmp_path / "out", load_results(tmp_path / "out"), specs)
    assert sorted(p.name for p in written.values()) == sorted(f"table{n}.{e}" for n in (4, 5, 6) for e in ("md", "csv", "json"))

    t4 = json.loads((tmp_path / "out/table4.json").read_text())
    rows = {(r["model"], r["source"]): r for r in t4["rows"]}
    unet = rows["unet", "ours"]
    assert unet["seeds"] == [0, 1] and unet["missing_seeds"] == []
    assert unet["OF1"]["n"] == 2 and math.isclose(unet["OF1"]["mean"], 0.510)
    assert math.isclose(unet["OF1"]["std"], statistics.stdev([0.410, 0.610]))
    assert rows["unet", "paper"]["OF1"] == 0.8505  # the paper's Table 4 UNet row
    seg = rows["segformer", "ours"]
    assert seg["seeds"] == [0] and seg["missing_seeds"] == [1] and seg["OF1"]["std"] is None
    assert [r["source"] for r in t4["rows"]] == ["ours", "paper", "ours", "paper"]  # zoo order, paper row beside ours

    t5 = json.loads((tmp_path / "out/table5.json").read_text())
    bit = t5["rows"][0]
    assert math.isclose(bit["1"]["mean"], 0.25) and bit["OF1"]["n"] == 2
    assert t5["rows"][1]["source"] == "paper" and t5["rows"][1]["paper_name"] == "BIT"

    t6 = json.loads((tmp_path / "out/table6.json").read_text())
    seg6 = next(r for r in t6["rows"] if r["model"] == "segformer" and r["source"] == "ours")
    assert seg6["seeds"] == [] and seg6["missing_seeds"] == [0, 1] and seg6["OF1"] is None  # missing, not zero
    unet6 = next(r for r in t6["rows"] if r["model"] == "unet" and r["source"] == "ours")
    assert math.isclose(unet6["OF1"]["mean"], (0.209 + 0.309) / 2)

    md = (tmp_path / "out/table4.md").read_text()
    assert "| UNet [unet] | 2 | 50.00 ± 14.14 |" in md and "| UNet (paper) | – | 85.14 |" in md
    assert "| Segformer [segformer] | 1 (missing seeds 1) | 70.00 |" in md
    assert "missing" in (tmp_path / "out/table6.md").read_text()
    csv_head = (tmp_path / "out/table4.csv").read_text().splitlines()[0]
    assert "OF1_mean,OF1_std,OF1_n" in csv_head


def test_a_series_model_runs_only_when_asked_and_lands_in_tables_4_5_and_6(tmp_path):
    """utae-series (beyond the paper) is never part of --task all --models all; named, or with --task
    multitemporal, it runs under runs/multitemporal/ and its mapping, change and post-classification
    scores become its rows of Tables 4, 5 and 6 (after the paper's models, with no paper row)."""
    assert "multitemporal" not in plan.resolve_models("all", "all")
    assert plan.resolve_models("multitemporal", "all") == {"multitemporal": ["utae-series"]}
    assert plan.resolve_models("all", "utae-series,unet") == {"mapping": ["unet"], "multitemporal": ["utae-series"]}
    with pytest.raises(ValueError, match="multitemporal model but --task is mapping"):
        plan.resolve_models("mapping", "utae-series")

    specs = _plan(tmp_path, plan.resolve_models("all", "unet,fc-ef,utae-series"), seeds=(0, 1))
    by = {(s.model, s.seed): s for s in specs}
    series = by["utae-series", 0]
    assert series.run_dir == tmp_path / "out" / "runs" / "multitemporal" / "utae-series" / "seed0"
    assert series.argv()[:2] == ["--task", "multitemporal"]
    for spec in specs:
        if spec.model != "utae-series":
            _finish(spec, 0.3)
    for seed, base in ((0, 0.5), (1, 0.7)):
        spec = by["utae-series", seed]
        _finish(spec, base)
        result = json.loads((spec.run_dir / plan.RESULT_FILE).read_text())
        result.update(test=_scores("mapping", base), change=_scores("change_detection", base / 2),
                      post_classification=_scores("change_detection", base / 4))
        (spec.run_dir / plan.RESULT_FILE).write_text(json.dumps(result))
    write_benchmark_tables(tmp_path / "out", load_results(tmp_path / "out"), specs)
    for table, unet_like, expected in (("table4", "unet", 0.610), ("table5", "fc-ef", 0.309), ("table6", "unet", 0.159)):
        rows = json.loads((tmp_path / f"out/{table}.json").read_text())["rows"]
        assert rows[-1]["model"] == "utae-series" and rows[-1]["source"] == "ours"  # last, no paper row after it
        assert rows[-1]["seeds"] == [0, 1] and math.isclose(rows[-1]["OF1"]["mean"], expected), (table, rows[-1]["OF1"])
        assert any(r["model"] == unet_like for r in rows)


def test_a_series_run_result_needs_its_change_scores(tmp_path):
    run = _plan(tmp_path, {"multitemporal": ["utae-series"]}, seeds=(0,))[0]
    plan.write_spec(run)
    results = run.run_dir / "results"
    results.mkdir(parents=True)
    fields = {"task": "multitemporal", "model": "utae-series", "size": "tiny", "seed": 0, "test": {"OF1": 0.5},
              "post_classification": {"OF1": 0.2}}
    (results / "all_results.json").write_text(json.dumps(fields))
    with pytest.raises(ValueError, match="field 'change'"):
        jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))
    (results / "all_results.json").write_text(json.dumps({**fields, "change": {"OF1": 0.4, "F1_interval_1": 0.3}}))
    got = jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))
    assert (got["test"], got["change"], got["post_classification"]) == ({"OF1": 0.5}, {"OF1": 0.4, "F1_interval_1": 0.3},
                                                                        {"OF1": 0.2})


def test_a_planned_model_with_no_finished_run_is_missing_and_other_options_stay_out(tmp_path):
    specs = _plan(tmp_path, {"mapping": ["unet", "linknet"]}, seeds=(0,))
    _finish(specs[0], 0.5)
    other = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(1,), max_steps=9)[0]
    _finish(other, 0.9)  # trained with --max_steps 9: not averaged with the request's max_steps 2
    table = table_rows("table4", load_results(tmp_path / "out"), specs)
    ours = {r["model"]: r for r in table["rows"] if r["source"] == "ours"}
    assert ours["linknet"]["seeds"] == [] and ours["linknet"]["OF1"] is None
    assert ours["unet"]["seeds"] == [0] and math.isclose(ours["unet"]["OF1"]["mean"], 0.510)
    assert table["excluded_runs"] == ["unet/seed1"]


# ---- jobs ---------------------------------------------------------------------------------------


def test_job_resumes_from_a_checkpoint_and_reports_a_failure_with_its_log(tmp_path, monkeypatch):
    spec = _plan(tmp_path, {"change_detection": ["fc-ef"]}, seeds=(0,))[0]
    plan.write_spec(spec)
    commands = []
    monkeypatch.setattr(jobs, "_train", lambda command, log, resumed_from: commands.append((command, resumed_from)) or 2)
    reply = jobs.execute_run(spec.run_dir)
    assert reply["status"] == "failed" and reply["log"] == str(spec.run_dir / "train.log") and "status 2" in reply["message"]
    assert "--resume_from_checkpoint" not in commands[-1][0]
    for step in (1, 2):  # complete checkpoints: the Trainer writes trainer_state.json last
        (spec.run_dir / f"checkpoint-{step}").mkdir()
        (spec.run_dir / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    jobs.execute_run(spec.run_dir, ["accelerate", "launch"])
    command, resumed = commands[-1]
    assert command[:4] == ["accelerate", "launch", "-m", "euromine_hf.training.main"]
    assert command[-2:] == ["--resume_from_checkpoint", "last"] and resumed == "checkpoint-2"
    assert plan.run_state(spec.run_dir) == "interrupted" and not (spec.run_dir / plan.RESULT_FILE).exists()
    _finish(spec, 0.3)
    assert jobs.execute_run(spec.run_dir)["status"] == "skipped" and len(commands) == 2  # finished: nothing runs


def test_results_are_read_from_all_results_and_checked_against_the_run_spec(tmp_path):
    """task, seed and post_classification come from all_results.json; a field that disagrees with the
    run spec (or is missing) is an error naming it."""
    run = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(3,))[0]
    plan.write_spec(run)
    results = run.run_dir / "results"
    results.mkdir(parents=True)
    (results / "all_results.json").write_text(json.dumps({
        "task": "segmentation", "model": "unet", "size": "tiny", "seed": 3, "test": {"OF1": 0.5},
        "post_classification": {"OF1": 0.25}}))
    got = jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))
    assert (got["task"], got["seed"], got["test"]["OF1"]) == ("mapping", 3, 0.5)
    assert got["post_classification"] == {"OF1": 0.25}
    (results / "all_results.json").write_text(json.dumps({"task": "segmentation", "model": "unet", "size": "tiny", "seed": 4, "test": {"OF1": 0.5}}))
    with pytest.raises(ValueError, match="field 'seed': expected 3"):
        jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))
    (results / "all_results.json").write_text(json.dumps({"model": "unet", "size": "tiny", "seed": 3, "test": {"OF1": 0.5}}))
    with pytest.raises(ValueError, match="field 'task': expected 'segmentation'"):
        jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))
    # a score the tables could not show makes the run fail (no result.json), not the tables
    (results / "all_results.json").write_text(json.dumps({
        "task": "segmentation", "model": "unet", "size": "tiny", "seed": 3, "test": {"OF1": 0.5, "loss": 3.2},
        "post_classification": {"OF1": 1.5}}))
    with pytest.raises(ValueError, match=r"all_results.json: field 'post_classification.OF1': expected a finite number in \[0, 1\], found 1.5"):
        jobs.collect_result(run.run_dir, plan.read_spec(run.run_dir))


class _Stub:
    """A launcher that finishes every pending run with fixed scores (no training)."""

    name = "stub"

    def launch(self, pending, say):
        from euromine_hf.benchmark.launchers import Outcome

        for spec in pending:
            _finish(spec, 0.5)
        return [Outcome(spec, "finished", "log") for spec in pending]


def test_every_score_read_from_result_json_is_checked_before_any_table_is_written(tmp_path, capsys):
    """A score out of [0, 1], a string or a non-finite value in a finished run's result.json stops the
    request with one line naming the file and field, before any run starts or any table is written."""
    from euromine_hf.benchmark.runner import run_benchmark

    specs = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0, 1))
    assert run_benchmark(specs, _Stub(), tmp_path / "out", say=lambda line: None) == 0
    tables = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("table*")}
    path = specs[0].run_dir / plan.RESULT_FILE
    good = json.loads(path.read_text())
    for field, key, value, shown in (("test", "OF1", 7.5, "7.5"), ("test", "F1_2015", -3, "-3"),
                                     ("test", "GCA-TIoU", "NaN", "'NaN'"), ("post_classification", "OF1", True, "True")):
        bad = json.loads(json.dumps(good))
        bad[field][key] = value
        path.write_text(json.dumps(bad))
        launcher = _Stub()
        with pytest.raises(ValueError) as caught:
            run_benchmark(specs + _plan(tmp_path, {"mapping": ["unet"]}, seeds=(2,)), launcher, tmp_path / "out",
                          say=lambda line: None)
        assert str(caught.value).startswith(f"{path}: field '{field}.{key}': expected a finite number in [0, 1], found {shown}")
        assert {p.name: p.read_bytes() for p in (tmp_path / "out").glob("table*")} == tables
        assert not (tmp_path / "out/runs/mapping/unet/seed2").exists()  # nothing launched
    path.write_text(json.dumps({**good, "test": {**good["test"], "OF1": float("inf")}}))  # JSON Infinity
    rc = euromine(["benchmark", "--task", "mapping", "--models", "unet", "--seeds", "0,1", "--size", "tiny",
                   "--max_steps", "2", "--data_dir", str(_archive_dir(tmp_path)), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "field 'test.OF1': expected a finite number in [0, 1], found inf" in err[0]
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").glob("table*")} == tables


def _archive_dir(tmp_path: Path) -> Path:
    (tmp_path / "archive").mkdir(exist_ok=True)
    return tmp_path / "archive"


def test_benchmark_keeps_files_it_did_not_write_in_its_output_dir(tmp_path):
    """A table or figure name in OUTPUT holding a file the benchmark did not write (or one edited since)
    stops the request before any run starts; its own tables are replaced on a rerun."""
    from euromine_hf import owned_outputs
    from euromine_hf.benchmark.runner import run_benchmark

    out = tmp_path / "out"
    out.mkdir()
    (out / "table4.md").write_text("my notes\n")
    specs = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0,))
    with pytest.raises(owned_outputs.OutputConflictError, match=r"table4.md: expected a file euromine benchmark wrote, found a file it did not write"):
        run_benchmark(specs, _Stub(), out, say=lambda line: None)
    assert (out / "table4.md").read_text() == "my notes\n" and sorted(p.name for p in out.iterdir()) == ["table4.md"]
    (out / "table4.md").unlink()
    assert run_benchmark(specs, _Stub(), out, say=lambda line: None) == 0
    assert owned_outputs.owns_folder(specs[0].run_dir, plan.TRAIN_TOOL)  # train.py trains into it as its own
    assert run_benchmark(specs, _Stub(), out, say=lambda line: None) == 0  # a rerun replaces its own tables
    (out / "figure_mapping_of1_vs_gca_tiou.png").write_bytes(b"edited")
    with pytest.raises(owned_outputs.OutputConflictError, match="figure_mapping_of1_vs_gca_tiou.png: .*changed since"):
        run_benchmark(specs, _Stub(), out, say=lambda line: None)


def test_benchmark_output_dir_apart_from_the_archive_and_run_folders_of_others(tmp_path):
    from euromine_hf import owned_outputs
    from euromine_hf.benchmark.runner import run_benchmark

    archive = _archive_dir(tmp_path)
    for out, relation in ((archive, "is"), (archive / "bench", "lies inside"), (tmp_path, "contains")):
        specs = plan.plan_runs(out, {"mapping": ["unet"]}, [0], archive, size="tiny", max_steps=2)
        with pytest.raises(owned_outputs.OutputConflictError, match=f"--output_dir: expected a folder apart from {archive}.* that {relation} it"):
            run_benchmark(specs, _Stub(), out, say=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"] and not list(archive.iterdir())
    # a run folder holding someone else's files (no run.json, no train.py marker) is not trained into
    specs = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0,))
    specs[0].run_dir.mkdir(parents=True)
    (specs[0].run_dir / "notes.txt").write_text("mine")
    with pytest.raises(owned_outputs.OutputConflictError, match=r"seed0: run folder: expected a new or empty folder.*'notes.txt'"):
        run_benchmark(specs, _Stub(), tmp_path / "out", say=lambda line: None)
    assert sorted(p.name for p in specs[0].run_dir.iterdir()) == ["notes.txt"]


def test_runner_skips_finished_runs_reports_failures_and_still_writes_tables(tmp_path):
    """A failed run is named with its log, the others' tables are written, the exit status is 1;
    finished runs are skipped without being launched."""
    from euromine_hf.benchmark.launchers import Outcome
    from euromine_hf.benchmark.runner import run_benchmark

    specs = _plan(tmp_path, {"mapping": ["unet"]}, seeds=(0, 1, 2))
    _finish(specs[0], 0.4)

    class Stub:
        name = "stub"
        launched: list[str] = []

        def launch(self, pending, say):
            self.launched += [s.label for s in pending]
            _finish(pending[0], 0.6)
            return [Outcome(pending[0], "finished", "log0"), Outcome(pending[1], "failed", "LOG", "training exited with status 1")]

    lines: list[str] = []
    launcher = Stub()
    assert run_benchmark(specs, launcher, tmp_path / "out", say=lines.append) == 1
    assert launcher.launched == ["mapping/unet/seed1", "mapping/unet/seed2"]
    assert lines[0] == f"mapping/unet/seed0: finished before, skipped ({specs[0].run_dir / 'result.json'})"
    assert "FAILED mapping/unet/seed2: training exited with status 1; log: LOG" in lines
    row = json.loads((tmp_path / "out/table4.json").read_text())["rows"][0]
    assert row["seeds"] == [0, 1] and row["missing_seeds"] == [2]
    assert json.loads((specs[2].run_dir / plan.RUN_SPEC_FILE).read_text())["argv"] == specs[2].argv()
    assert (tmp_path / "out/figure_mapping_of1_vs_gca_tiou.png").stat().st_size > 0
    assert not (tmp_path / "out/figure_change_f1_by_interval.png").exists()  # no detector finished


# ---- launchers ----------------------------------------------------------------------------------


def test_launcher_commands_and_slurm_parameters(tmp_path, monkeypatch):
    import sys

    config = tmp_path / "fsdp.yaml"
    config.write_text("distributed_type: FSDP\n")
    assert AccelerateLauncher(config, 8).prefix() == [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                                                      str(config.resolve()), "--num_processes", "8"]
    assert [parse_slurm_time(t) for t in ("90", "02:30:00", "1-00:00:00", "00:00:30")] == [90, 150, 1440, 1]
    import argparse

    from euromine_hf.benchmark.cli import make_launcher

    args = argparse.Namespace(launcher="slurm", accelerate_config=str(config), num_processes=None, reattach=False,
                              slurm_partition="gpu", slurm_gpus_per_node=8, slurm_cpus_per_task=32, slurm_time="24:00:00",
                              slurm_mem="256G", slurm_array_parallelism=4, slurm_account=None, slurm_qos=None,
                              slurm_constraint="a100", slurm_cluster="slurm")
    launcher = make_launcher(args, tmp_path)
    assert isinstance(launcher, SlurmLauncher) and launcher.folder == tmp_path / "slurm"
    assert launcher.parameters == {"slurm_partition": "gpu", "gpus_per_node": 8, "cpus_per_task": 32, "slurm_mem": "256G",
                                   "timeout_min": 1440, "slurm_array_parallelism": 4, "slurm_constraint": "a100"}
    assert launcher.prefix[2:] == ["accelerate.commands.launch", "--config_file", str(config.resolve())]
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "submitit" else real_import(name, *a, **k))
    with pytest.raises(ValueError, match=r"--launcher slurm: expected the submitit package"):
        make_launcher(args, tmp_path)
    monkeypatch.undo()
    # the parameters are ones submitit's Slurm executor takes (checked without a cluster)
    import submitit

    executor = submitit.AutoExecutor(folder=tmp_path / "slurm", cluster="debug")
    executor.update_parameters(name="euromine-benchmark", tasks_per_node=1, nodes=1, **launcher.parameters)
    # --reattach with no job recorded for a run: nothing is submitted, the run is reported as not run
    spec = plan.plan_runs(tmp_path / "out", {"mapping": ["unet"]}, [0], tmp_path, size="tiny")[0]
    outcomes = SlurmLauncher(tmp_path / "slurm", {}, cluster="local", reattach=True).launch([spec], say=lambda line: None)
    assert [(o.status, o.message.split(";")[0]) for o in outcomes] == [("failed", "no job recorded for it")]
    assert not (tmp_path / "slurm").exists()


# ---- the protocol, end to end (slow) ------------------------------------------------------------

TRAIN_OPTIONS = ["--per_device_train_batch_size", "8", "--num_qualitative", "0"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    out = tmp_path_factory.mktemp("benchmark") / "archive"
    generate_archive(out, SyntheticConfig(seed=1, num_sites=3, min_size=100, max_size=200))
    return out


@pytest.mark.slow
def test_tiny_protocol_end_to_end_rerun_resume_and_failure(archive, tmp_path, capsys):
    """2 models x 2 seeds on a synthetic archive: Tables 4-6 with n=2 and the paper rows, scored-here
    leaderboard entries; a rerun skips all; a run cut after its checkpoint resumes; a failing run gives
    exit 1 while the others finish."""
    cache = tmp_path / "cache"
    out = tmp_path / "bench"
    command = ["benchmark", "--task", "all", "--models", "unet,fc-ef", "--seeds", "0,1", "--size", "tiny",
               "--max_steps", "2", "--data_dir", str(archive), "--output_dir", str(out), "--", *TRAIN_OPTIONS,
               "--cache_dir", str(cache)]
    assert euromine(command) == 0
    t4 = json.loads((out / "table4.json").read_text())
    unet = next(r for r in t4["rows"] if r["source"] == "ours")
    assert unet["seeds"] == [0, 1] and unet["OF1"]["n"] == 2 and unet["OF1"]["std"] is not None
    assert any(r["source"] == "paper" and r["paper_name"] == "UNet" for r in t4["rows"])
    t5 = json.loads((out / "table5.json").read_text())
    assert t5["rows"][0]["OF1"]["n"] == 2 and t5["rows"][1]["paper_name"] == "FC-EF"
    t6 = json.loads((out / "table6.json").read_text())
    assert t6["rows"][0]["OF1"]["n"] == 2
    assert (out / "figure_change_f1_by_interval.png").stat().st_size > 0
    assert (out / "figure_mapping_of1_vs_gca_tiou.png").stat().st_size > 0
    capsys.readouterr()

    # each run is a scored-here leaderboard entry
    assert euromine(["leaderboard", "show", "--results", str(out / "leaderboard"), "--out", str(tmp_path / "lb"), "--no-paper"]) == 0
    shown = capsys.readouterr().out
    for name in ("UNet [unet, tiny, seed 0]", "FC-EF [fc-ef, tiny, seed 1]"):
        assert name.replace("[", "\\[").replace("]", "\\]") in shown
    assert shown.count("scored here (sha256") == 4

    # a rerun skips all four
    logs = {p: p.read_text() for p in out.glob("runs/*/*/seed*/train.log")}
    assert euromine(command) == 0
    said = capsys.readouterr().out
    assert said.count("finished before, skipped") == 4 and "4 runs: 4 skipped" in said
    assert {p: p.read_text() for p in logs} == logs

    # a run cut after its checkpoint (no result.json) resumes from it; the others stay skipped
    cut = out / "runs/change_detection/fc-ef/seed1"
    (cut / plan.RESULT_FILE).unlink()
    assert euromine(command) == 0
    said = capsys.readouterr().out
    assert "fc-ef/seed1: interrupted before, resumes from its checkpoint-2" in said and said.count("finished before, skipped") == 3
    result = json.loads((cut / plan.RESULT_FILE).read_text())
    assert result["resumed_from"] == "checkpoint-2"
    assert "--resume_from_checkpoint last" in (cut / "train.log").read_text()

    # a failing run is reported with its log and does not stop the others; exit status 1
    from euromine_hf.benchmark.launchers import LocalLauncher
    from euromine_hf.benchmark.runner import run_benchmark

    good = plan.plan_runs(out, {"mapping": ["unet"]}, [2], archive, size="tiny", max_steps=2,
                          train_options=TRAIN_OPTIONS + ["--cache_dir", str(cache)])
    bad = plan.plan_runs(out, {"mapping": ["linknet"]}, [0], archive, size="tiny", max_steps=2,
                         train_options=TRAIN_OPTIONS + ["--cache_dir", str(cache), "--config_overrides", "num_channels=3"])
    lines: list[str] = []
    assert run_benchmark(bad + good, LocalLauncher(), out, say=lines.append) == 1
    failed = [line for line in lines if line.startswith("FAILED")]
    assert failed == [f"FAILED mapping/linknet/seed0: training exited with status 2; log: {bad[0].run_dir / 'train.log'}"]
    assert "num_channels" in (bad[0].run_dir / "train.log").read_text()
    assert plan.run_state(good[0].run_dir) == "finished" and plan.run_state(bad[0].run_dir) == "new"


@pytest.mark.slow
def test_slurm_launcher_through_submitits_local_executor_and_reattach(archive, tmp_path):
    """The slurm path (submitit job array, job ids recorded, waiting, tables) with cluster='local': the
    same job function as on Slurm, run as local processes; then a reattach to the recorded job."""
    from euromine_hf.benchmark.runner import run_benchmark

    out = tmp_path / "bench"
    specs = plan.plan_runs(out, {"change_detection": ["fc-ef"]}, [0], archive, size="tiny", max_steps=1,
                           train_options=TRAIN_OPTIONS + ["--cache_dir", str(tmp_path / "cache")])
    launcher = SlurmLauncher(out / "slurm", {"timeout_min": 10}, cluster="local")
    lines: list[str] = []
    assert run_benchmark(specs, launcher, out, say=lines.append) == 0
    jobs_file = json.loads((out / "slurm" / "jobs.json").read_text())["jobs"]
    job_id = jobs_file[str(specs[0].run_dir)]["job_id"]
    assert any(f"submitted as job {job_id}" in line for line in lines)
    assert plan.run_state(specs[0].run_dir) == "finished"
    assert json.loads((out / "table5.json").read_text())["rows"][0]["OF1"]["n"] == 1
    # --reattach: waits for the recorded job (finished here) instead of submitting it again
    again = SlurmLauncher(out / "slurm", {}, cluster="local", reattach=True)
    lines.clear()
    outcomes = again.launch(specs, say=lines.append)
    assert [o.status for o in outcomes] == ["finished"] and lines[0].endswith(f"reattached to job {job_id}")


@pytest.mark.slow
def test_accelerate_launcher_runs_a_real_cpu_launch(archive, tmp_path):
    from euromine_hf.benchmark.runner import run_benchmark

    config = tmp_path / "cpu.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_machines: 1\nnum_processes: 1\n"
                      "mixed_precision: 'no'\nuse_cpu: true\n")
    out = tmp_path / "bench"
    specs = plan.plan_runs(out, {"change_detection": ["fc-ef"]}, [0], archive, size="tiny", max_steps=1,
                           train_options=TRAIN_OPTIONS + ["--cache_dir", str(tmp_path / "cache")])
    assert run_benchmark(specs, AccelerateLauncher(config, 1), out, say=lambda line: None) == 0
    log = (specs[0].run_dir / "train.log").read_text()
    assert "accelerate.commands.launch --config_file" in log.splitlines()[0]
    assert json.loads((specs[0].run_dir / plan.RESULT_FILE).read_text())["test"]["OF1"] >= 0


@pytest.mark.slow
def test_a_run_killed_while_training_resumes_from_its_last_complete_checkpoint(archive, tmp_path):
    """The runner and its training are SIGKILLed after a checkpoint; the rerun resumes from it and finishes the
    schedule (not from zero, not from a folder cut while saving)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from euromine_hf.training.checkpoints import complete_checkpoints

    out = tmp_path / "bench"
    command = ["benchmark", "--task", "mapping", "--models", "unet", "--seeds", "0", "--size", "tiny", "--max_steps", "40",
               "--data_dir", str(archive), "--output_dir", str(out), "--", *TRAIN_OPTIONS, "--cache_dir",
               str(tmp_path / "cache"), "--save_strategy", "steps", "--save_steps", "4", "--eval_strategy", "no",
               "--load_best_model_at_end", "false"]
    run = out / "runs" / "mapping" / "unet" / "seed0"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    runner = subprocess.Popen([sys.executable, "-m", "euromine_hf.cli", *command], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not complete_checkpoints(run) and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert complete_checkpoints(run), "no checkpoint was written before the runner stopped"
    finally:
        os.killpg(runner.pid, signal.SIGKILL)  # the runner and the training it started
        runner.wait()
    assert not (run / plan.RESULT_FILE).exists()
    cut = complete_checkpoints(run)[-1]
    step = int(cut.name.split("-")[1])
    assert step < 40
    (run / "checkpoint-999").mkdir()  # as a save cut off before its trainer_state.json: never resumed from

    assert euromine(command) == 0
    result = json.loads((run / plan.RESULT_FILE).read_text())
    assert result["resumed_from"] == cut.name
    state = json.loads((complete_checkpoints(run)[-1] / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    log = (run / "train.log").read_text()
    assert f"resuming from {cut.name}" in log and "checkpoint-999: no trainer_state.json" in log


def test_sigterm_to_the_runner_stops_the_training_it_started(tmp_path):
    """kill, timeout and scancel send SIGTERM: the training must not go on writing into its run folder alone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file, log = tmp_path / "child.pid", tmp_path / "train.log"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    runner = subprocess.Popen([sys.executable, "-c",
                               "import sys; from pathlib import Path; from euromine_hf.benchmark.jobs import _train; "
                               f"_train([sys.executable, '-c', {child!r}], Path({str(log)!r}), None)"])
    deadline = time.time() + 60
    while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child_pid = int(pid_file.read_text())
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 128 + signal.SIGTERM
    for _ in range(100):
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child_pid, signal.SIGKILL)
        raise AssertionError("the training outlived the runner")
