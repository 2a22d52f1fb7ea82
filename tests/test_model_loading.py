"""``euromine_hf.models.loading.load_model``: one loader for both tasks, errors that name the file.

A saved change detector loads through ``AutoModelForChangeDetection`` and a segmenter through
``AutoModelForSemanticSegmentation``, chosen from the config's task; a damaged detector folder fails
exactly as a damaged segmenter folder does (``ValueError`` naming the file and what was expected).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from euromine_hf.models import build_model
from euromine_hf.models.loading import auto_class_for_task, load_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    folders = {}
    for name in ("fc-siam-diff", "unet"):
        build_model(name, "tiny").save_pretrained(root / name)
        folders[name] = root / name
    return folders


def _copy(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for f in src.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_a_detector_folder_loads_as_the_detector_with_equal_outputs(saved):
    from euromine_hf.models.registry import get_spec

    model = load_model(saved["fc-siam-diff"])
    assert type(model) is get_spec("fc-siam-diff").model_class
    reference = get_spec("fc-siam-diff").model_class.from_pretrained(saved["fc-siam-diff"]).eval()
    x1, x2 = torch.randn(1, 10, 32, 32), torch.randn(1, 10, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(pixel_values_t1=x1, pixel_values_t2=x2).logits,
                                   reference(pixel_values_t1=x1, pixel_values_t2=x2).logits)
    assert load_model(saved["fc-siam-diff"], task="change_detection").config.task == "change_detection"
    assert load_model(saved["unet"]).config.task == "segmentation"


def test_a_caller_asking_for_one_task_gets_a_clear_error_for_the_other(saved):
    with pytest.raises(ValueError, match=r"fc-siam-diff: expected a segmentation model, found a change detection model"):
        load_model(saved["fc-siam-diff"], task="segmentation")
    with pytest.raises(ValueError, match=r"unet: expected a change detection model, found a segmentation model"):
        load_model(saved["unet"], task="change_detection")
    with pytest.raises(ValueError, match="task: expected one of"):
        auto_class_for_task("classification")


def _damage(folder: Path, how: str) -> str:
    config, weights = folder / "config.json", folder / "model.safetensors"
    if how == "json":
        config.write_text(config.read_text() + "}{")
        return f"{config}: expected valid JSON"
    if how == "model_type":
        data = json.loads(config.read_text())
        data["model_type"] = "euromine-nosuch"
        config.write_text(json.dumps(data))
        return "field 'model_type': expected a registered type"
    if how == "truncated":
        os.truncate(weights, weights.stat().st_size - 100)
        return f"{weights}: tensor data"
    if how == "no_weights":
        weights.unlink()
        return "weights: expected one of model.safetensors"
    if how == "wrong_weights":  # another detector's weights under this config
        build_model("fc-ef", "tiny").save_pretrained(folder / "other")
        (folder / "other" / "model.safetensors").replace(weights)
        return "weights do not match the config's architecture"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["json", "model_type", "truncated", "no_weights", "wrong_weights"])
def test_a_damaged_detector_folder_is_an_error_naming_the_file(saved, tmp_path, how):
    folder = _copy(saved["fc-siam-diff"], tmp_path / "detector")
    expected = _damage(folder, how)
    with pytest.raises(ValueError) as error:
        load_model(folder)
    assert expected in str(error.value) and str(folder) in str(error.value)
