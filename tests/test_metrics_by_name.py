"""Scores by name: the evaluate modules ship in the package (one copy), load offline by name,
their cards' examples run (and need the patch offsets), and they round-trip through Hub Spaces."""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate

from euromine_hf.metrics import MODULE_NAMES, load  # noqa: E402
from euromine_hf.metrics.modules import module_dir, space_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE_MODULES = REPO / "euromine_hf" / "metrics" / "modules"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def _run_doctests(text: str, name: str) -> doctest.TestResults:
    blocks = [b for b in _python_blocks(text) if b.lstrip().startswith(">>>")]
    assert blocks, f"{name}/README.md: expected a doctest (>>>) example block"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failed = attempted = 0
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"{name}/README.md[{i}]", f"{name}/README.md", 0)
        result = runner.run(test, out=lambda s: None)
        failed, attempted = failed + result.failed, attempted + result.attempted
    return doctest.TestResults(failed, attempted)


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_card_examples_run_as_written(name):
    text = (module_dir(name) / "README.md").read_text(encoding="utf-8")
    result = _run_doctests(text, name)
    assert result.attempted >= 10 and result.failed == 0, result
    example = "".join(_python_blocks(text))
    for key in ("rows=rows", "cols=cols", "site_heights=", "site_widths="):
        assert key in example, f"{name}: the example must pass the patch offsets ({key})"
    assert f'load("{name}"' in example


@pytest.mark.parametrize("name", ["yearly_f1", "interval_f1"])
def test_card_example_detects_missing_offsets(name):
    """Without the offsets the overlapping patch pixels count twice: the example's check fails."""
    text = (module_dir(name) / "README.md").read_text(encoding="utf-8")
    stripped = text.replace("rows=rows, cols=cols,\n...             site_heights=[H] * 4, site_widths=[W] * 4)", ")")
    assert stripped != text
    assert _run_doctests(stripped, name).failed >= 1


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_load_by_name_offline_from_the_package(name):
    module = load(name)
    assert module.name == name
    folder = module_dir(name)
    assert folder.resolve() == (PACKAGE_MODULES / name).resolve()
    assert "EuroMineNet" in module.description or "EuroMineNet" in module.citation


def test_load_unknown_name_names_the_choices():
    with pytest.raises(ValueError, match=r"'iou'.*ca_tiou"):
        load("iou")


def test_repository_metrics_folders_link_to_the_one_copy():
    for name in MODULE_NAMES:
        link = REPO / "metrics" / name
        assert link.is_symlink(), f"{link}: expected a link to the packaged module"
        assert link.resolve() == (PACKAGE_MODULES / name).resolve()
        # a second evaluate module of that name (a package module may share the name, e.g. training/post_classification.py)
        copies = [p for p in REPO.rglob(f"{name}.py") if ".git" not in p.parts and not p.is_relative_to(REPO / "metrics")
                  and "import evaluate" in p.read_text(encoding="utf-8")]
        assert [p.resolve() for p in copies] == [(PACKAGE_MODULES / name / f"{name}.py").resolve()], copies


def test_module_scores_match_the_local_checkout_path(monkeypatch):
    """`load(name)` and `evaluate.load("metrics/name")` (the repository link) are the same module."""
    monkeypatch.chdir(REPO)
    rng = np.random.default_rng(1)
    pred, ref = rng.random((2, 4, 32, 32)) < 0.4
    scores = []
    for module in (load("yearly_f1"), evaluate.load("metrics/yearly_f1")):
        module.add_batch(predictions=pred, references=ref, years=[2015, 2015, 2016, 2016], sites=["a", "b", "a", "b"])
        scores.append(module.compute())
    assert scores[0] == scores[1]


_BARE_NAME_SCRIPT = r"""
import json, os, sys
import evaluate
out = {}
try:
    evaluate.load("ca_tiou")
    out["before"] = "loaded"
except Exception as error:
    out["before"] = type(error).__name__
from euromine_hf.metrics import install_evaluate_names
install_evaluate_names()
install_evaluate_names()  # idempotent
out["after"] = evaluate.load("ca_tiou").name
os.chdir(sys.argv[1])  # a folder holding yearly_f1/yearly_f1.py
out["cwd"] = evaluate.load("yearly_f1").name
print("RESULT" + json.dumps(out))
"""


def test_plain_evaluate_load_by_bare_name(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf"),
           "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_EVALUATE_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", _BARE_NAME_SCRIPT, str(REPO / "metrics")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["before"] in ("FileNotFoundError", "ConnectionError", "OfflineModeIsEnabled")
    assert out["after"] == "ca_tiou" and out["cwd"] == "yearly_f1"
    cached = list((tmp_path / "modules" / "evaluate_modules" / "metrics" / "evaluate-metric--ca_tiou").glob("*/ca_tiou.py"))
    assert len(cached) == 1


def test_space_files_follow_evaluate_layout():
    files = space_files("ca_tiou", "someone")
    assert set(files) == {"app.py", "ca_tiou.py", "README.md", "requirements.txt"}
    assert files["ca_tiou.py"] == (module_dir("ca_tiou") / "ca_tiou.py").read_bytes()
    assert b'launch("ca_tiou")' in files["app.py"] and b"euromine_hf.metrics.space_app" in files["app.py"]
    assert b"euromine-hf" in files["requirements.txt"].splitlines()
    from huggingface_hub import SpaceCard

    card = SpaceCard(files["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert {"evaluate", "metric"} <= set(meta["tags"]) and meta["title"] == "CA-TIoU"
    assert 'evaluate.load("someone/ca_tiou")' in card.text


# ---- Hub Spaces round trip through the local hub ---------------------------------------------
_SPACE_SCRIPT = r"""
import json, sys
import evaluate
import numpy as np
rng = np.random.default_rng(3)
G = (rng.random((3, 4, 32, 32)) < 0.4).astype(np.uint8)
P = G ^ (rng.random((3, 4, 32, 32)) < 0.2)
module = evaluate.load(sys.argv[1], years=[2015, 2016, 2017, 2018])
module.add_batch(predictions=P, references=G, sites=["a", "a", "b"], patches=[0, 1, 0], years=[2015, 2016, 2017, 2018])
print("RESULT" + json.dumps({"name": module.name, "scores": module.compute()}))
"""


def test_push_metrics_then_evaluate_load_from_the_hub(tmp_path):
    from huggingface_hub import HfApi

    from euromine_hf.cli import main
    from euromine_hf.testing import LocalHub, use_local_hub

    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        assert main(["push-metrics", "user"]) == 0
        for name in MODULE_NAMES:
            files = set(HfApi().list_repo_files(f"user/{name}", repo_type="space"))
            assert {"app.py", f"{name}.py", "README.md", "requirements.txt"} <= files
        assert HfApi().space_info("user/ca_tiou").sdk == "gradio"
        assert main(["push-metrics", "user", "--modules", "ca_tiou"]) == 0  # again: idempotent
        assert main(["push-metrics", "user/x"]) == 2

        env = {**os.environ, **hub.client_env(tmp_path / "client_home"), "PYTHONPATH": str(REPO),
               "HF_EVALUATE_OFFLINE": "0", "HF_MODULES_CACHE": str(tmp_path / "client_modules")}
        proc = subprocess.run([sys.executable, "-c", _SPACE_SCRIPT, "user/ca_tiou"], env=env, capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert any(m == "GET" and p == "/spaces/user/ca_tiou/resolve/main/ca_tiou.py" for m, p, _ in hub.requests)
        assert hub.unknown_requests == []
    remote = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert remote["name"] == "ca_tiou"
    rng = np.random.default_rng(3)  # the same inputs, scored by the packaged module in this process
    G = (rng.random((3, 4, 32, 32)) < 0.4).astype(np.uint8)
    P = G ^ (rng.random((3, 4, 32, 32)) < 0.2)
    module = load("ca_tiou", years=[2015, 2016, 2017, 2018])
    module.add_batch(predictions=P, references=G, sites=["a", "a", "b"], patches=[0, 1, 0], years=[2015, 2016, 2017, 2018])
    assert remote["scores"] == pytest.approx(module.compute(), abs=0)


@pytest.mark.parametrize("name", ["yearly_f1", "interval_f1"])
def test_site_patches_without_offsets_are_not_silent(name):
    """160 px patches of a named site without offsets: the site protocol warns, with them it does not."""
    import warnings

    rng = np.random.default_rng(2)
    pred, ref = (rng.random((2, 2, 160, 160)) < 0.3).astype(np.uint8)
    keys = {"yearly_f1": dict(years=[2015, 2015]), "interval_f1": dict(year_t1=[2015] * 2, year_t2=[2016] * 2)}[name]
    keys.update(sites=["Spain_101"] * 2, patches=[0, 1])
    offsets = dict(rows=[0, 0], cols=[0, 40], site_heights=[160, 160], site_widths=[200, 200])
    module = load(name)
    module.add_batch(predictions=pred, references=ref, **keys)
    with pytest.warns(UserWarning, match="without rows, cols, site_heights and site_widths"):
        module.compute()
    module.add_batch(predictions=pred, references=ref, **keys)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.compute(protocol="micro")  # not the site protocol: nothing to warn about
        module.add_batch(predictions=pred, references=ref, **keys, **offsets)
        module.compute()
