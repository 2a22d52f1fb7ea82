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


_FOREIGN_CODE = '''import os
import pathlib

pathlib.Path(os.environ["EUROMINE_TEST_MARKER"]).write_text("the folder's code ran")

from .segmentation_unet import UNetConfig, UNetForSemanticSegmentation


class ForeignConfig(UNetConfig):
    model_type = "foreign-unet"


class ForeignModel(UNetForSemanticSegmentation):
    config_class = ForeignConfig
'''


def _foreign_folder(saved: dict[str, Path], dest: Path, model_type: str) -> Path:
    """A saved UNet whose config names another model type and maps the Auto classes to its own ``foreign.py``."""
    folder = _copy(saved["unet"], dest)
    (folder / "foreign.py").write_text(_FOREIGN_CODE)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {"AutoConfig": "foreign.ForeignConfig", "AutoModel": "foreign.ForeignModel",
                          "AutoModelForSemanticSegmentation": "foreign.ForeignModel"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _predict_cli(tmp_path: Path, folder: Path, *extra: str, stdin: str = "y\ny\ny\n"):
    import subprocess
    import sys

    import numpy as np
    from affine import Affine

    from euromine_hf.data.geotiff import write_geotiff

    image = tmp_path / "scene.tif"
    if not image.exists():
        pixels = np.random.default_rng(0).integers(0, 3000, (10, 40, 40), dtype=np.uint16)
        write_geotiff(image, pixels, "EPSG:32633", Affine(10, 0, 500000, 0, -10, 5000000))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_MODULES_CACHE": str(tmp_path / "modules"),
           "EUROMINE_TEST_MARKER": str(tmp_path / "marker"), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "euromine_hf.cli", "predict", str(folder), str(image), str(tmp_path / "out"), *extra],
                          input=stdin, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("model_type", ["bert", "foreign-unet"])
def test_foreign_code_is_refused_without_a_prompt_unless_trusted(saved, tmp_path, model_type):
    """transformers would ask "run the custom code? [y/N]" on stdin; the CLI never asks, refuses in one line."""
    folder = _foreign_folder(saved, tmp_path / "model", model_type)
    proc = _predict_cli(tmp_path, folder)  # a "y" waits on stdin: the old prompt took it and ran the code
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "[y/N]" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"euromine predict: error: {folder / 'config.json'}: field 'auto_map'"), lines
    assert "--trust-remote-code" in lines[0] and repr(model_type) in lines[0]
    assert not (tmp_path / "marker").exists() and not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="auto_map.*--trust-remote-code"):
        load_model(folder)


def test_trusted_foreign_code_runs_end_to_end(saved, tmp_path):
    folder = _foreign_folder(saved, tmp_path / "model", "foreign-unet")
    proc = _predict_cli(tmp_path, folder, "--trust-remote-code", stdin="")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "marker").read_text() == "the folder's code ran"
    assert proc.stdout.splitlines()[-1].startswith("wrote 1 rasters") and list((tmp_path / "out").rglob("*.tif"))


def test_a_zoo_models_own_auto_map_needs_no_trust(saved):
    """save_pretrained writes an auto_map for the package's own models; the package's classes load them."""
    assert json.loads((saved["unet"] / "config.json").read_text())["auto_map"]
    model = load_model(saved["unet"])
    assert type(model).__module__ == "euromine_hf.models.segmentation.unet"


def test_an_rgb_checkpoint_with_foreign_code_is_read_as_tensors_only(saved, tmp_path, monkeypatch):
    """``train --rgb_checkpoint`` reads weights only: a folder's own code is never offered, never run."""
    import builtins

    from euromine_hf.models.band_adaptation import read_state_dict

    folder = _foreign_folder(saved, tmp_path / "model", "foreign-unet")
    monkeypatch.setenv("EUROMINE_TEST_MARKER", str(tmp_path / "marker"))
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(builtins, "input", lambda *a: "y")  # what a user answering the old prompt typed
    state = read_state_dict(folder)
    assert not (tmp_path / "marker").exists()
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.mark.parametrize("model_type", ["bert", "foreign-unet"])
def test_foreign_code_on_the_hub_is_refused_unless_trusted(saved, tmp_path, monkeypatch, model_type):
    """A Hub id is checked from its raw config.json too, before transformers imports any class."""
    import builtins

    from huggingface_hub import HfApi

    from euromine_hf.testing import LocalHub, use_local_hub

    folder = _foreign_folder(saved, tmp_path / "model", model_type)
    monkeypatch.setenv("EUROMINE_TEST_MARKER", str(tmp_path / "marker"))
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("transformers prompted"))
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        HfApi().create_repo("user/foreign")
        HfApi().upload_folder(folder_path=str(folder), repo_id="user/foreign")
        with pytest.raises(ValueError, match=r"user/foreign .*field 'auto_map'.*--trust-remote-code"):
            load_model("user/foreign")
        assert not (tmp_path / "marker").exists()
        # trusted: in a child process, because the folder's code re-registers the zoo's Auto classes
        import subprocess
        import sys

        env = {**os.environ, **hub.client_env(tmp_path / "hf_home_child"), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        code = "from euromine_hf.models.loading import load_model; print(type(load_model('user/foreign', trust_remote_code=True)).__name__)"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0 and proc.stdout.split()[-1] == "ForeignModel", proc.stderr[-2000:]
        assert (tmp_path / "marker").exists()
