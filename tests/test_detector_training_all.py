"""``python train.py --task change_detection --model <name> --size tiny`` for every detector of the zoo (slow).

Each of the 20 detectors goes through the command-line entry point (``euromine_hf.training.main.main``)
on the small synthetic archive of the data tests, for two optimizer steps with one validation and
checkpoint, then the test split; the run must write a loadable model folder (safetensors, config,
card) and the Table 5 results (our row beside the paper's row for that detector). The whole sweep
takes about 2 min on 2 loaded CPU cores (118 s measured), so it is marked ``slow``: ``pytest -m slow tests/test_detector_training_all.py``.
"""

from __future__ import annotations

import json

import pytest
import torch

from euromine_hf.models import AutoModelForChangeDetection, zoo_names
from euromine_hf.models.registry import get_spec

from _data_fixtures import hf_cache, small_archive  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", zoo_names("change_detection"))
def test_train_py_trains_every_detector(name, tmp_path, small_archive, hf_cache):  # noqa: F811
    from euromine_hf.training.main import main

    out = tmp_path / name
    code = main([
        "--task", "change_detection", "--model", name, "--size", "tiny", "--data_dir", str(small_archive),
        "--cache_dir", str(hf_cache), "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "16", "--max_train_samples", "10",
        "--max_eval_samples", "10", "--eval_strategy", "steps",
        "--eval_steps", "2", "--save_strategy", "steps", "--save_steps", "2", "--logging_steps", "1",
        "--disable_tqdm", "true", "--use_cpu", "true", "--num_qualitative", "0", "--dataloader_num_workers", "0",
    ])
    assert code == 0

    # the model folder loads as the same architecture, with finite weights
    model = AutoModelForChangeDetection.from_pretrained(out / "model")
    assert model.config.task == "change_detection"
    assert type(model) is get_spec(name).model_class
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert (out / "model" / "README.md").is_file()

    # Table 5: our row (F1 per interval, OF1) beside the paper's row for this detector
    results = json.loads((out / "results" / "all_results.json").read_text())
    assert results["test_pairs"] == 90  # the whole test split: 2 patches x 45 year pairs
    assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(results["test"])
    assert 0.0 <= results["test"]["OF1"] <= 1.0
    rows = json.loads((out / "results" / "test_results.json").read_text())["rows"]
    assert [r["source"] for r in rows] == ["ours", "paper"]
    assert rows[0]["model"] == rows[1]["model"] == get_spec(name).paper_name
    assert rows[0]["OF1"] == pytest.approx(results["test"]["OF1"])
    assert (out / "results" / "test_results.md").is_file()
    assert not list(out.rglob("*.tmp"))
