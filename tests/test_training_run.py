"""The one run function (``training/run.py``) through ``main``: what ``results/all_results.json`` holds
and when it is written (the benchmark runner's contract), and a resumed run that needs no pretrained start."""

from __future__ import annotations

import json
import shutil

import pytest

from _data_fixtures import hf_cache, small_archive  # noqa: F401  (session fixtures)


def _train(out, archive, cache, *extra) -> int:
    from euromine_hf.training.main import main

    return main([
        "--model", "unet", "--size", "tiny", "--data_dir", str(archive), "--cache_dir", str(cache),
        "--output_dir", str(out), "--max_steps", "1", "--per_device_train_batch_size", "4", "--seed", "7",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--num_qualitative", "1", "--baseline", "false", "--disable_tqdm", "true", "--use_cpu", "true",
        "--report_to", "none", *extra,
    ])


def test_all_results_names_the_run_and_is_written_last(tmp_path, small_archive, hf_cache):  # noqa: F811
    out = tmp_path / "run"
    assert _train(out, small_archive, hf_cache) == 0
    path = out / "results" / "all_results.json"
    results = json.loads(path.read_text())
    assert (results["task"], results["model"], results["size"], results["seed"]) == ("segmentation", "unet", "tiny", 7)
    assert results["data_dir"] == str(small_archive) and results["data_source"] == "synthetic"
    assert {"OF1", "GCA-TIoU", "LCA-TIoU"} <= set(results["test"])
    post = results["post_classification"]  # Table 6, scored on the test maps
    assert {"OF1", "F1_interval_1"} <= set(post)
    assert (out / "results" / "post_classification.md").is_file()
    # a synthetic archive other than the default is named by its path, never "the synthetic default"
    card = (out / "model" / "README.md").read_text()
    assert "euromine-synthetic-default" not in card and "synthetic default" not in card
    assert f"a **synthetic archive** (`{small_archive}`)" in card and "trained and tested on synthetic data" in card
    assert f"the synthetic archive {small_archive} (no real imagery)" in (out / "results" / "test_results.md").read_text()
    # written last: its presence means every report is there
    others = [p for p in out.rglob("*") if p.is_file() and p != path]
    assert any("statistics" in p.parts for p in others) and any("predictions" in p.parts for p in others)
    late = [str(p) for p in others if p.stat().st_mtime_ns > path.stat().st_mtime_ns]
    assert not late, late


def test_resume_needs_no_pretrained_start(tmp_path, small_archive, hf_cache):  # noqa: F811
    """On resume the checkpoint replaces every weight: the start named by --pretrained is neither fetched
    nor loaded, so a resume works after its folder is gone."""
    from euromine_hf.models import build_model

    start = tmp_path / "start"
    build_model("unet", "tiny", num_channels=3).save_pretrained(start)  # an RGB start, as the Hub has them
    out = tmp_path / "run"
    keep = ("--pretrained", str(start), "--save_strategy", "steps", "--save_steps", "1")
    assert _train(out, small_archive, hf_cache, *keep) == 0
    assert json.loads((out / "pretrained_load_report.json").read_text())["starts"][0]["checkpoint"] == str(start)
    shutil.rmtree(start)
    assert _train(out, small_archive, hf_cache, *keep, "--max_steps", "2", "--resume_from_checkpoint", "last") == 0
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    assert json.loads((out / "results" / "all_results.json").read_text())["train"]["epoch"] > 0


def test_resume_last_skips_a_checkpoint_cut_while_saving(tmp_path, caplog):
    from types import SimpleNamespace

    from euromine_hf.training.checkpoints import resume_path

    args = SimpleNamespace(resume_from_checkpoint="last", output_dir=str(tmp_path))
    (tmp_path / "checkpoint-4").mkdir()  # no trainer_state.json: cut while saving
    with pytest.raises(FileNotFoundError, match="no complete checkpoint-.*1 without trainer_state.json"):
        resume_path(args)
    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text('{"global_st')  # cut mid-write
    with caplog.at_level("WARNING"):
        assert resume_path(args) == str(tmp_path / "checkpoint-2")
    assert "checkpoint-4, checkpoint-10: no trainer_state.json" in caplog.text


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))


def test_an_output_dir_train_did_not_make_is_refused_before_anything_runs(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    """A non-empty --output_dir without train.py's marker holds someone else's files: one line naming
    the folder, exit 2, nothing replaced."""
    out = tmp_path / "S"
    (out / "model").mkdir(parents=True)
    (out / "results").mkdir()
    (out / "model" / "README.md").write_text("MINE\n")
    (out / "results" / "all_results.json").write_text("MINE\n")
    before = _tree(out)
    assert _train(out, small_archive, hf_cache) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}: --output_dir: expected a new or empty folder, or one euromine train wrote " \
        "before (with its .euromine-train.outputs.json), found one holding 'model' and 1 more" in err[0], err
    assert _tree(out) == before


def test_output_dir_never_the_archive_inside_it_or_around_it(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    site = sorted(p for p in small_archive.iterdir() if p.is_dir())[0]
    before = _tree(small_archive.parent)
    for out, relation in ((small_archive, "is"), (site, "lies inside"), (site / "run", "lies inside"),
                          (small_archive.parent, "contains")):
        assert _train(out, small_archive, hf_cache) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{out}: --output_dir: expected a folder apart from {small_archive}" in err[0] \
            and f"found one that {relation} it" in err[0], err
    assert _tree(small_archive.parent) == before


def test_a_file_for_output_dir_or_cache_dir_is_named_with_the_option(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    file = tmp_path / "FILE"
    file.write_text("x")
    assert _train(file, small_archive, hf_cache) == 2
    assert f"{file}: --output_dir: expected a folder, found a file" in capsys.readouterr().err
    assert _train(tmp_path / "run", small_archive, hf_cache, "--cache_dir", str(file)) == 2
    assert f"--cache_dir {file}: expected a folder (the datasets cache), found a file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_metric_for_best_model_is_checked_before_training_and_leaves_no_folder(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    out = tmp_path / "new" / "run"
    assert _train(out, small_archive, hf_cache, "--metric_for_best_model", "bogus") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--metric_for_best_model: expected one of loss, F1_2015" in err[0] and "OF1" in err[0] \
        and "got 'bogus'" in err[0], err
    assert not (tmp_path / "new").exists()


def test_metric_for_best_model_names_are_the_tasks_validation_metrics():
    from euromine_hf.training.arguments import parse_arguments

    for argv in (["--metric_for_best_model", "eval_GCA-TIoU"], ["--metric_for_best_model", "loss"],
                 ["--task", "change_detection", "--model", "fc-ef", "--metric_for_best_model", "F1_interval_9"],
                 ["--task", "multitemporal", "--model", "utae-series", "--metric_for_best_model", "change_OF1"],
                 ["--task", "multitemporal", "--model", "utae-series", "--metric_for_best_model", "post_classification_F1_interval_1"]):
        parse_arguments(["--size", "tiny", *argv])
    for argv in (["--task", "change_detection", "--model", "fc-ef", "--metric_for_best_model", "F1_2015"],
                 ["--years", "2016", "2017", "--metric_for_best_model", "F1_2015"],
                 ["--task", "change_detection", "--model", "fc-ef", "--intervals", "1", "--metric_for_best_model", "F1_interval_2"]):
        with pytest.raises(ValueError, match="--metric_for_best_model: expected one of"):
            parse_arguments(["--size", "tiny", *argv])


def test_a_start_that_fails_after_claiming_its_folder_leaves_none(tmp_path, small_archive, hf_cache, monkeypatch, capsys):  # noqa: F811
    """The folder is made train.py's just before the first write; a failure before anything else was
    written removes the marker and the folders the run created (a folder that existed stays)."""
    from euromine_hf.training.tasks.segmentation import SegmentationTask

    def broken(*args, **kwargs):
        raise ValueError("model: broken on purpose")

    monkeypatch.setattr(SegmentationTask, "build_model", broken)
    assert _train(tmp_path / "a" / "b", small_archive, hf_cache) == 2
    assert "broken on purpose" in capsys.readouterr().err and not (tmp_path / "a").exists()
    (tmp_path / "empty").mkdir()
    assert _train(tmp_path / "empty", small_archive, hf_cache) == 2
    assert (tmp_path / "empty").is_dir() and not list((tmp_path / "empty").iterdir())


def test_train_marks_its_folder_and_reruns_into_it(tmp_path, small_archive, hf_cache):  # noqa: F811
    from euromine_hf import owned_outputs

    out = tmp_path / "run"
    assert _train(out, small_archive, hf_cache) == 0
    assert owned_outputs.owns_folder(out, "train")
    assert _train(out, small_archive, hf_cache) == 0  # a rerun: its own folder
