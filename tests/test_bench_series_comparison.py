"""``bench/series_comparison.py`` (issue 17's comparison): the width variant matched to a baseline's size,
the best baseline chosen on validation (never test), and the goals checked from finished runs' results."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    sys.path.insert(0, str(ROOT / "bench"))  # series_cost beside it
    spec = importlib.util.spec_from_file_location("bench_series_comparison", ROOT / "bench" / "series_comparison.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(out: Path, group: str, task: str, model: str, seed: int, validation: dict, **fields) -> None:
    """What a finished benchmark run leaves that the report reads: result.json and the selected
    checkpoint's trainer_state.json."""
    run = out / group / "runs" / task / model / f"seed{seed}"
    (run / "checkpoint-4").mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"model": model, "seed": seed, "task": task, **fields}))
    log = [{"step": 2, **{f"eval_{k}": 0.0 for k in validation}}, {"step": 4, **{f"eval_{k}": v for k, v in validation.items()}}]
    (run / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({
        "best_model_checkpoint": str(run / "checkpoint-4"), "global_step": 4, "log_history": log}))


def test_matched_widths_reach_every_baseline_within_20_percent():
    bench = _bench()
    for name in (*bench.SEGMENTERS, *bench.DETECTORS):
        target = bench.parameter_count(name)
        overrides, count = bench.matched_widths(target)
        assert abs(count / target - 1) <= bench.TOLERANCE, (name, target, count, overrides)
        assert count == bench.parameter_count(bench.SERIES, overrides)
        assert all(w % 4 == 0 for w in overrides["encoder_widths"])


def test_best_baseline_on_validation_and_goals_from_test(tmp_path):
    bench = _bench()
    out = tmp_path
    # on test segformer is better, on validation unet: unet is the best segmenter (validation decides)
    _run(out, "segmenters", "mapping", "unet", 0, {"OF1": 0.8}, test={"OF1": 0.60, "GCA-TIoU": 0.50})
    _run(out, "segmenters", "mapping", "segformer", 0, {"OF1": 0.7}, test={"OF1": 0.90, "GCA-TIoU": 0.90})
    _run(out, "detectors", "change_detection", "fc-ef", 0, {"OF1": 0.4}, test={"OF1": 0.30, "F1_interval_1": 0.20})
    _run(out, "detectors", "change_detection", "bit", 0, {"OF1": 0.1}, test={"OF1": 0.35, "F1_interval_1": 0.30})
    for seed, gca in ((0, 0.54), (1, 0.56)):
        _run(out, "series", "multitemporal", "utae-series", seed, {"series_OF1": 0.6},
             test={"OF1": 0.595, "GCA-TIoU": gca}, change={"OF1": 0.31, "F1_interval_1": 0.29},
             post_classification={"OF1": 0.2})
    assert bench.best_baseline(bench.load_group(out, "segmenters"), "OF1") == "unet"
    assert bench.best_baseline(bench.load_group(out, "detectors"), "OF1") == "fc-ef"

    args = argparse.Namespace(seeds=[0, 1], steps=4, images_per_step=40, learning_rate=1e-2, change_loss="dice",
                              pairs_per_series=5)
    params = {name: bench.parameter_count(name) for name in (bench.SERIES, *bench.SEGMENTERS, *bench.DETECTORS)}
    text = bench.report(out, args, params, {})
    assert "| utae-series | series | 38667 | – | 4 | 0.5950 ± 0.0000 | 0.5500 ± 0.0141 |" in text
    assert "mapping vs best segmenter unet" in text and "GCA-TIoU 0.5500 vs 0.5000 + 0.03 (by +0.0200)" in text
    assert text.count("**met**") == 1  # mapping met (0.55 ≥ 0.53, 0.595 ≥ 0.59); change missed (0.29 < 1.5 × 0.20)
    assert "one-year F1 0.2900 vs 1.5 × 0.2000 (by -0.0100)" in text and "**missed**" in text
    assert "GFLOPs" in text and "unet ×10 + fc-ef ×45" in text
    assert "| segformer | mapping | 56194 | 0.69 | 40 |" in text and "| bit | change | 14554 | 2.66 | 20 |" in text
    assert "change loss dice" in text


def test_no_width_variant_is_chosen_before_every_baseline_seed_finished(tmp_path, capsys):
    bench = _bench()
    _run(tmp_path, "segmenters", "mapping", "unet", 0, {"OF1": 0.8}, test={"OF1": 0.60, "GCA-TIoU": 0.50})
    assert bench.main(["--output_dir", str(tmp_path), "--report_only", "--seeds", "0,1"]) == 0
    err = capsys.readouterr().err
    assert "segformer, upernet-convnext, unet not finished for seeds [0, 1]: no mapping width variant yet" in err
    assert "width variant of utae-series" not in err


def test_budget_rule_refuses_a_step_that_is_not_whole_samples(tmp_path):
    bench = _bench()
    args = argparse.Namespace(images_per_step=45)
    with pytest.raises(SystemExit, match="not a multiple of 10"):
        bench.run_group(tmp_path, "series", ["utae-series"], args, 10)
