"""Models by name: Auto classes with the package, ``trust_remote_code`` without it, the image processor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

import euromine_hf.models as models
from euromine_hf.bands import BANDS, MEAN, STD
from euromine_hf.data.collators import normalize_images
from euromine_hf.models import AutoModelForChangeDetection
from euromine_hf.models.image_processing import EuroMineImageProcessor
from euromine_hf.models.remote_code import flat_module_name, remote_code_files

#: (zoo name, task): a hand-written segmenter, a transformers-composed one, a change detector.
ROUTE_MODELS = [
    ("unet", "segmentation"),
    ("segformer", "segmentation"),
    ("pspnet", "segmentation"),  # a nested transformers backbone config
    ("fc-siam-diff", "change_detection"),
    ("utae-series", "multitemporal"),  # a yearly series in: the raw pair read as two years
]
#: The years a multitemporal model is given for the two images of ``_raw()``.
SERIES_YEARS = [2019, 2020]

# Runs without euromine_hf: an isolated interpreter (-I: no PYTHONPATH, no user site) with a finder
# that refuses the package, which the venv otherwise reaches through its editable install.
CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "euromine_hf" or name.startswith("euromine_hf."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, Refuse())
    try:
        import euromine_hf
    except ImportError:
        pass
    else:
        raise SystemExit("euromine_hf is importable in the child")
    import numpy as np, torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation
    jobs = json.loads(sys.argv[1])
    for folder, task, raw_path, out in jobs:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        auto = AutoModelForSemanticSegmentation if task == "segmentation" else AutoModel
        model = auto.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
        raw = np.load(raw_path)
        with torch.no_grad():
            if task == "segmentation":
                inputs = processor(raw, return_tensors="pt")
                logits = model(**inputs).logits
            elif task == "multitemporal":
                inputs = processor(raw, years=[2019, 2020], return_tensors="pt")
                output = model(**inputs)
                logits = torch.cat([output.logits.flatten(0, 1), output.change_logits.flatten(0, 1)])
            else:
                inputs = processor(images_t1=raw[:1], images_t2=raw[1:], return_tensors="pt")
                logits = model(**inputs).logits
        np.save(out, logits.numpy())
        print(folder, type(config).__module__, type(model).__module__, type(processor).__module__)
    assert not any(name.split(".")[0] == "euromine_hf" for name in sys.modules), "euromine_hf was imported"
    """
)


def _run_child(jobs: list, tmp_path: Path, offline: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, json.dumps(jobs)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _raw(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 6000, size=(2, 10, 64, 64)).astype(np.uint16)


def _in_package_logits(model: torch.nn.Module, task: str, raw: np.ndarray) -> np.ndarray:
    processor = EuroMineImageProcessor.from_model_config(model.config)
    with torch.no_grad():
        if task == "segmentation":
            return model(**processor(raw, return_tensors="pt")).logits.numpy()
        if task == "multitemporal":  # yearly masks, then the pair's change map
            output = model(**processor(raw, years=SERIES_YEARS, return_tensors="pt"))
            return torch.cat([output.logits.flatten(0, 1), output.change_logits.flatten(0, 1)]).numpy()
        return model(**processor(images_t1=raw[:1], images_t2=raw[1:], return_tensors="pt")).logits.numpy()


def test_remote_code_route_without_the_package(tmp_path: Path) -> None:
    jobs, expected = [], {}
    for name, task in ROUTE_MODELS:
        torch.manual_seed(0)
        model = models.build_model(name, "tiny").eval()
        folder = tmp_path / name
        model.save_pretrained(folder)
        raw = _raw()
        np.save(folder / "raw.npy", raw)
        out = tmp_path / f"{name}.npy"
        jobs.append([str(folder), task, str(folder / "raw.npy"), str(out)])
        expected[name] = (out, _in_package_logits(model, task, raw))
        auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
        assert auto_map["AutoModel"] == f"{flat_module_name(type(model).__module__)}.{type(model).__name__}"
        processor_map = json.loads((folder / "preprocessor_config.json").read_text())["auto_map"]
        assert processor_map == {"AutoImageProcessor": "image_processing.EuroMineImageProcessor"}
        for code in folder.glob("*.py"):
            assert "euromine_hf" not in "\n".join(
                line for line in code.read_text().splitlines() if line.lstrip().startswith(("from ", "import "))
            ), code
    result = _run_child(jobs, tmp_path, offline=True)
    for name, (out, want) in expected.items():
        got = np.load(out)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
    # the child's classes came from the model folders, not from the package
    assert "transformers_modules" in result.stdout and "euromine_hf" not in result.stdout


def test_remote_code_files_are_flat_and_relative() -> None:
    files = remote_code_files([models.get_spec("unet").model_class.__module__])
    assert "segmentation_unet.py" in files and "encoders_unet.py" in files  # same basename, kept apart
    assert "from .configuration import" in files["segmentation_unet.py"]
    # the resource-reading module is replaced by literals
    assert "load_resource" not in files["bands.py"] and "BANDS = " in files["bands.py"]


def test_auto_classes_with_the_package(tmp_path: Path) -> None:
    segmenter = models.build_model("unet", "tiny").eval()
    segmenter.save_pretrained(tmp_path / "seg")
    detector = models.build_model("fc-siam-diff", "tiny").eval()
    detector.save_pretrained(tmp_path / "cd")
    loaded = AutoModelForSemanticSegmentation.from_pretrained(tmp_path / "seg")
    assert type(loaded) is type(segmenter)  # the package's class, not a remote-code copy
    loaded_cd = AutoModelForChangeDetection.from_pretrained(tmp_path / "cd")
    assert type(loaded_cd) is type(detector)
    assert type(AutoModel.from_pretrained(tmp_path / "cd")) is type(detector)
    assert type(AutoConfig.from_pretrained(tmp_path / "cd")) is type(detector.config)
    assert type(AutoImageProcessor.from_pretrained(tmp_path / "cd")) is EuroMineImageProcessor


def test_image_processor_equals_training_normalisation(tmp_path: Path) -> None:
    raw = _raw(1)
    processor = EuroMineImageProcessor()
    got = processor(raw, return_tensors="pt")["pixel_values"]
    want = normalize_images(list(raw), MEAN, STD)
    assert got.dtype == torch.float32 and torch.equal(got, want)
    # one (C, H, W) image
    assert torch.equal(processor(raw[0], return_tensors="pt")["pixel_values"], want[:1])
    # round trip through AutoImageProcessor
    processor.save_pretrained(tmp_path)
    again = AutoImageProcessor.from_pretrained(tmp_path)
    assert again.to_dict() == processor.to_dict()
    assert torch.equal(again(raw, return_tensors="pt")["pixel_values"], want)


def test_image_processor_selects_bands_by_name() -> None:
    raw = _raw(2)
    rgb = EuroMineImageProcessor(band_names=["B04", "B03", "B02"])
    got = rgb(raw)["pixel_values"]
    idx = [BANDS.index(b) for b in ("B04", "B03", "B02")]
    want = (raw[:, idx].astype(np.float32) - MEAN[idx].reshape(1, -1, 1, 1)) / STD[idx].reshape(1, -1, 1, 1)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    # imagery carrying only some bands, in another order
    reordered = rgb(raw[:, idx[::-1]], source_bands=["B02", "B03", "B04"])["pixel_values"]
    np.testing.assert_array_equal(reordered, got)
    with pytest.raises(ValueError, match="B04"):
        rgb(raw[:, :2], source_bands=["B02", "B03"])
    with pytest.raises(ValueError, match="source_bands"):
        rgb(raw[:, :5])
    with pytest.raises(ValueError, match="dtype"):
        rgb(raw.astype(bool))


def test_image_processor_for_a_detector() -> None:
    detector = models.build_model("fc-siam-diff", "tiny")
    processor = EuroMineImageProcessor.from_model_config(detector.config)
    raw = _raw(3)
    out = processor(images_t1=raw[:1], images_t2=raw[1:], return_tensors="pt")
    assert set(out) == {"pixel_values_t1", "pixel_values_t2"}
    assert torch.equal(out["pixel_values_t2"], normalize_images([raw[1]]))
    with pytest.raises(ValueError, match="images_t1"):
        processor(raw)


def test_pushed_detector_loads_by_repo_id_without_the_package(tmp_path: Path) -> None:
    """The code files and the image processor travel with the weights to the Hub (test Hub server)."""
    from euromine_hf.hub.push import push_model_folder
    from euromine_hf.testing import LocalHub, use_local_hub

    torch.manual_seed(0)
    model = models.build_model("fc-siam-diff", "tiny").eval()
    folder = tmp_path / "cd"
    model.save_pretrained(folder)
    raw = _raw(4)
    np.save(tmp_path / "raw.npy", raw)
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        push_model_folder(folder, "user/euromine-fc-siam-diff-tiny")
        processor = AutoImageProcessor.from_pretrained("user/euromine-fc-siam-diff-tiny")
        assert type(processor) is EuroMineImageProcessor and processor.task == "change_detection"
        job = ["user/euromine-fc-siam-diff-tiny", "change_detection", str(tmp_path / "raw.npy"), str(tmp_path / "out.npy")]
        _run_child([job], tmp_path, offline=False)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), _in_package_logits(model, "change_detection", raw),
                               rtol=1e-5, atol=1e-5)


def test_every_zoo_model_has_self_contained_code_files() -> None:
    for name, spec in models.MODEL_ZOO.items():
        files = remote_code_files([spec.model_class.__module__, spec.config_class.__module__,
                                   EuroMineImageProcessor.__module__])
        assert f"{flat_module_name(spec.model_class.__module__)}.py" in files, name


@pytest.mark.slow
def test_every_zoo_model_loads_without_the_package(tmp_path: Path) -> None:
    """The remote-code route for the whole zoo (tiny presets), outputs equal to the package's."""
    jobs, expected = [], {}
    for name, spec in models.MODEL_ZOO.items():
        torch.manual_seed(0)
        model = models.build_model(name, "tiny").eval()
        folder = tmp_path / name
        model.save_pretrained(folder)
        raw = _raw()[:, :, :64, :64]
        np.save(folder / "raw.npy", raw)
        out = tmp_path / f"{name}.npy"
        jobs.append([str(folder), spec.task, str(folder / "raw.npy"), str(out)])
        expected[name] = (out, _in_package_logits(model, spec.task, raw))
    _run_child(jobs, tmp_path, offline=True)
    for name, (out, want) in expected.items():
        np.testing.assert_allclose(np.load(out), want, rtol=1e-4, atol=1e-5, err_msg=name)
