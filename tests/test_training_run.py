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
