"""Every card snippet runs as written (issue 20, item 3): the python blocks of the generated model
cards (all three tasks) run against tiny saved models in an interpreter without ``euromine_hf`` (the
card's remote-code route): the segmenter's card from its folder (only ``path/to/this/folder``
replaced), the detector's and the series model's cards verbatim from the repos they were pushed to
(LocalHub); the pipelines give ``euromine predict``'s probabilities; the metric cards' python blocks are all doctests (run
by ``tests/test_metrics_by_name.py``), so none is skipped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from euromine_hf.hub.cards import render_model_card, save_model_card
from euromine_hf.metrics import MODULE_NAMES
from euromine_hf.metrics.modules import module_dir
from euromine_hf.models import build_model

CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "euromine_hf" or name.startswith("euromine_hf."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, Refuse())
    results = {}
    for name, code in json.loads(sys.argv[1]).items():
        scope = {}
        exec(compile(code, name, "exec"), scope)
        keys = ("mask", "mine_mask", "change", "mine_map", "change_map")
        results[name] = {k: [list(scope[k].shape), int(scope[k].max())] for k in keys if k in scope}
    assert not any(n.split(".")[0] == "euromine_hf" for n in sys.modules), "euromine_hf was imported"
    print("RESULT" + json.dumps(results))
    """
)


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


#: the repos the detector's and the series model's cards are rendered for and pushed to (LocalHub)
DETECTOR_REPO = "user/euromine-fc-ef-tiny"
SERIES_REPO = "user/euromine-utae-series-tiny"
PUSHED = {"fc-ef": DETECTOR_REPO, "utae-series": SERIES_REPO}
DATASET_CONFIG = {"segmentation": "mapping", "change_detection": "cd_pairs", "multitemporal": "timeseries"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("cards")
    folders = {}
    for name, task in (("segformer", "segmentation"), ("fc-ef", "change_detection"), ("utae-series", "multitemporal")):
        torch.manual_seed(0)
        model = build_model(name, size="tiny")
        folder = root / name
        model.save_pretrained(folder)
        card = render_model_card(f"euromine-{name}-tiny", model.config, {"test": {"OF1": 0.5}}, "user/euromine",
                                 dataset_config=DATASET_CONFIG[task], repo_id=PUSHED.get(name))
        save_model_card(card, folder)
        folders[name] = (folder, task)
    return folders


def test_model_card_snippets_run_as_written_without_the_package(saved, tmp_path):
    from euromine_hf.hub.push import push_model_folder
    from euromine_hf.testing import LocalHub, use_local_hub

    jobs = {}
    for name, (folder, task) in saved.items():
        blocks = _python_blocks((folder / "README.md").read_text(encoding="utf-8"))
        assert blocks, f"{name}: the card has no python snippet"
        for i, block in enumerate(blocks):
            if name in PUSHED:
                assert f'MODEL = "{PUSHED[name]}"' in block
                jobs[f"{name}[{i}]"] = block  # verbatim
            else:
                assert 'MODEL = "path/to/this/folder"' in block
                jobs[f"{name}[{i}]"] = block.replace('"path/to/this/folder"', json.dumps(str(folder)), 1)
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        for name, repo in PUSHED.items():
            push_model_folder(saved[name][0], repo)
        env = {**os.environ, **hub.client_env(tmp_path / "child_home"), "HF_MODULES_CACHE": str(tmp_path / "modules"),
               "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-I", "-c", CHILD, json.dumps(jobs)], env=env, capture_output=True,
                              text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-4000:]
        fetched = {p.rsplit("/", 1)[-1] for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p}
        assert {"pipelines.py", "data_patching.py", "bands.py"} <= fetched  # the pipeline's code came from the repo
    results = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert results["segformer[0]"]["mine_mask"][0] == [160, 160] and results["segformer[0]"]["mine_map"][0] == [300, 250]
    assert results["fc-ef[0]"]["change"][0] == [160, 160] and results["fc-ef[0]"]["change_map"][0] == [300, 250]
    series = results["utae-series[0]"]
    assert series["mine_mask"][0] == [4, 160, 160] and series["change"][0] == [6, 160, 160]
    assert series["mine_map"][0] == [3, 300, 250] and series["change_map"][0] == [2, 300, 250]


def test_saved_model_lists_its_pipeline_for_remote_code(saved):
    from transformers.dynamic_module_utils import get_imports

    for name, (folder, task) in saved.items():
        config = json.loads((folder / "config.json").read_text())
        hub_task = {"segmentation": "image-segmentation", "change_detection": "change-detection",
                    "multitemporal": "multitemporal-segmentation"}[task]
        entry = config["custom_pipelines"][hub_task]
        module, cls = entry["impl"].split(".")
        assert (folder / f"{module}.py").is_file() and f"class {cls}(" in (folder / f"{module}.py").read_text()
        assert "rasterio" not in get_imports(folder / f"{module}.py")  # GeoTIFF paths only: not a requirement


def test_pipelines_match_predict_scene_with_the_package(saved, tmp_path):
    """The package route (registered tasks, no remote code) gives euromine predict's probabilities,
    for arrays and for GeoTIFF paths (georeferencing returned)."""
    from rasterio.transform import from_origin
    from transformers import pipeline

    import euromine_hf.pipelines  # noqa: F401  (registers the tasks)
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.inference import predict_change_scene, predict_scene

    rng = np.random.default_rng(0)
    first = rng.integers(0, 4000, (10, 200, 170)).astype(np.uint16)
    second = rng.integers(0, 4000, (10, 200, 170)).astype(np.uint16)
    mapper = pipeline("euromine-mapping", model=str(saved["segformer"][0]))
    _, expected = predict_scene(mapper.model, first)
    out = mapper(first)
    np.testing.assert_allclose(out["probability"], expected, atol=1e-6)
    assert out["mask"].dtype == np.uint8 and out["labels"] == {0: "background", 1: "mine"}
    transform = from_origin(500000, 5600000, 10, 10)
    write_geotiff(tmp_path / "Year2020.tif", first, "EPSG:32633", transform)
    from_file = mapper(str(tmp_path / "Year2020.tif"))
    np.testing.assert_allclose(from_file["probability"], expected, atol=1e-6)
    assert from_file["transform"] == transform and from_file["crs"].to_epsg() == 32633

    detector = pipeline("euromine-change-detection", model=str(saved["fc-ef"][0]))
    _, expected = predict_change_scene(detector.model, first, second)
    np.testing.assert_allclose(detector((first, second))["probability"], expected, atol=1e-6)
    np.testing.assert_allclose(detector({"image_t1": first, "image_t2": second})["probability"], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected \(image_t1, image_t2\)"):
        detector(first)


def test_series_pipeline_matches_predict_series_scene(saved, tmp_path):
    """The series pipeline (package route) gives ``predict_series_scene``'s probabilities for every
    year and pair, in year order whatever the input order; GeoTIFF paths name their years."""
    from rasterio.transform import from_origin
    from transformers import pipeline

    import euromine_hf.pipelines  # noqa: F401  (registers the tasks)
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.inference import predict_series_scene

    rng = np.random.default_rng(1)
    images = [rng.integers(0, 4000, (10, 200, 170)).astype(np.uint16) for _ in range(3)]
    mapper = pipeline("euromine-series", model=str(saved["utae-series"][0]))
    expected = predict_series_scene(mapper.model, images, [2020, 2015, 2016], pairs=[(2015, 2020), (2016, 2020)])
    out = mapper({"images": images, "years": [2020, 2015, 2016]}, pairs=[(2015, 2020), (2016, 2020)])
    assert out["years"] == [2015, 2016, 2020] and out["pairs"] == [(2015, 2020), (2016, 2020)]
    np.testing.assert_allclose(out["probabilities"], expected["probabilities"], atol=1e-6)
    np.testing.assert_allclose(out["change_probabilities"], expected["change_probabilities"], atol=1e-6)
    assert out["masks"].shape == (3, 200, 170) and out["change_masks"].dtype == np.uint8
    transform = from_origin(500000, 5600000, 10, 10)
    paths = []
    for year, image in zip((2020, 2015, 2016), images):
        write_geotiff(tmp_path / f"Year{year}.tif", image, "EPSG:32633", transform)
        paths.append(str(tmp_path / f"Year{year}.tif"))
    from_files = mapper({"images": paths})  # years from the file names; every pair by default
    assert from_files["pairs"] == [(2015, 2016), (2015, 2020), (2016, 2020)] and from_files["transform"] == transform
    np.testing.assert_allclose(from_files["probabilities"], expected["probabilities"], atol=1e-6)
    with pytest.raises(ValueError, match="series: expected"):
        mapper(images[0])
    with pytest.raises(ValueError, match="pairs must be"):
        mapper({"images": images, "years": [2020, 2015, 2016]}, pairs=[(2020, 2015)])


def test_post_process_semantic_segmentation_like_transformers(saved):
    from transformers import AutoImageProcessor, SegformerImageProcessor
    from transformers.modeling_outputs import SemanticSegmenterOutput

    processor = AutoImageProcessor.from_pretrained(saved["segformer"][0])
    logits = torch.randn(2, 2, 40, 40)
    ours = processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits), target_sizes=[(160, 160), (80, 100)])
    theirs = SegformerImageProcessor().post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits), target_sizes=[(160, 160), (80, 100)])
    assert [t.shape for t in ours] == [(160, 160), (80, 100)]
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    plain = processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits))
    assert all(torch.equal(p, logits[i].argmax(0)) for i, p in enumerate(plain))
    with pytest.raises(ValueError, match=r"target_sizes: expected one \(height, width\) per image \(2\), got 1"):
        processor.post_process_semantic_segmentation(logits, target_sizes=[(160, 160)])


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_metric_card_snippets_are_all_run(name):
    """Every python block of a metric card is a doctest, so the card test runs it (none skipped)."""
    blocks = _python_blocks((module_dir(name) / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2 and all(b.lstrip().startswith(">>>") for b in blocks)
