"""Slow end-to-end run of the demo (``train.py --demo``) on the synthetic default (v2): it trains, tests,
writes every report, its model beats the spectral-index threshold baseline, and its change detector
learns (F1 above 0 at every interval; the pre-v2 preset scored 0 everywhere)."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard


@pytest.mark.slow
def test_reduced_demo_end_to_end_beats_baseline(tmp_path, capsys):
    from euromine_hf.hub.cards import read_model_index
    from euromine_hf.training.arguments import parse_arguments
    from euromine_hf.training.demo import demo_argv, run_change_detection_demo
    from euromine_hf.training.run import run_training
    from euromine_hf.training.summary import beats_baseline

    out = tmp_path / "demo"
    # the demo preset as `python train.py --output_dir X` runs it, with a smaller test split
    args = parse_arguments(demo_argv(["--output_dir", str(out), "--max_test_samples", "60", "--disable_tqdm", "true"]))
    result = run_training(*args)

    assert beats_baseline(result.test_metrics, result.baseline_metrics), (result.test_metrics, result.baseline_metrics)
    for key in ("OF1", "GCA-TIoU", "LCA-TIoU", "F1_2015", "F1_2024"):
        assert 0.0 <= result.test_metrics[key] <= 1.0

    model_dir = out / "model"
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "config.json").is_file()
    card = ModelCard.load(model_dir / "README.md")
    index = read_model_index(card)
    assert index["test"]["OF1"] == pytest.approx(result.test_metrics["OF1"], abs=1e-4)

    from transformers import AutoModelForSemanticSegmentation

    reloaded = AutoModelForSemanticSegmentation.from_pretrained(model_dir)
    assert reloaded.config.model_type.startswith("euromine-")

    for name in ("test_results.md", "test_results.csv", "test_results.json", "all_results.json"):
        assert (out / "results" / name).is_file(), name
    rows = json.loads((out / "results" / "test_results.json").read_text())["rows"]
    assert rows[0]["source"] == "ours" and rows[0]["OF1"] == pytest.approx(result.test_metrics["OF1"])
    assert rows[1]["source"] == "paper" and rows[1]["model"] == rows[0]["model"] == "Segformer"
    assert rows[2]["model"].startswith("Baseline") and rows[2]["OF1"] == pytest.approx(result.baseline_metrics["OF1"])
    assert list((out / "qualitative").glob("*.png"))
    assert (out / "statistics" / "reference" / "footprint_by_country.png").is_file()
    assert (out / "statistics" / "predicted" / "footprint_by_country.png").is_file()
    assert list((out / "predictions" / "test").rglob("Patch*.npy"))
    assert not list(out.rglob("*.tmp")), "half-written files left behind"

    # the second task, as main() runs it after the segmenter: the detector learns and both tables print
    findings = run_change_detection_demo(out, result, extra=["--max_test_samples", "60", "--disable_tqdm", "true"])
    printed = capsys.readouterr().out
    assert "post-classification of the demo segmenter" in printed and "Paper finding 2" in printed
    detector, post = findings["detector"], findings["post_classification"]
    assert post is not None and 0.0 <= post["OF1"] <= 1.0
    f1 = [detector[f"F1_interval_{k}"] for k in range(1, 10)]
    assert min(f1) > 0.05 and detector["OF1"] > 0.2, detector  # not "no change everywhere"
    assert findings["detector_rises_with_interval"][0], f1
    assert (out / "change_detection" / "model" / "model.safetensors").is_file()
