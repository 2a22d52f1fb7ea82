"""``install_evaluate_names`` (issue 20, item 2): bare names for ``evaluate.load`` never shadow a
real module of evaluate's own namespace silently — not one on the Hub (asked through LocalHub),
not one already in evaluate's cache (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from euromine_hf.metrics import MODULE_NAMES, install_evaluate_names


def test_refuses_when_the_hub_has_evaluates_own_module(tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    from euromine_hf.testing import LocalHub, use_local_hub

    monkeypatch.delenv("HF_EVALUATE_OFFLINE", raising=False)
    cache = tmp_path / "metrics"
    with LocalHub(extra_tokens={"evaluate-token": "evaluate-metric"}) as hub, use_local_hub(hub, tmp_path / "hf_home"):
        written = install_evaluate_names(cache)  # nothing of that name on the Hub: installed
        assert sorted(p.parent.parent.name for p in written) == sorted(f"evaluate-metric--{n}" for n in MODULE_NAMES)
        HfApi(token="evaluate-token").create_repo("evaluate-metric/ca_tiou", repo_type="space", space_sdk="gradio")
        fresh = tmp_path / "fresh"
        with pytest.raises(ValueError, match=r"^evaluate-metric/ca_tiou: evaluate has its own module of this name on the Hub"):
            install_evaluate_names(fresh)
        assert not fresh.exists()  # nothing written
        asked = [p for m, p, _ in hub.requests if "evaluate-metric/ca_tiou" in p]
        assert asked, "the Hub was not asked"


def test_refuses_a_foreign_cached_module_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "metrics"
    install_evaluate_names(cache)
    install_evaluate_names(cache)  # ours again: idempotent
    foreign = cache / "evaluate-metric--interval_f1" / "0123abcd" / "interval_f1.py"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("import evaluate\nclass IntervalF1(evaluate.Metric):\n    pass\n")
    with pytest.raises(ValueError, match=r"interval_f1\.py: evaluate's cache holds another module named 'interval_f1'"):
        install_evaluate_names(cache)
    assert foreign.read_text().startswith("import evaluate")  # left as it was


def test_readme_documents_the_three_routes_and_the_helper():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for route in ('evaluate.load("metrics/ca_tiou")', 'evaluate.load("NAMESPACE/ca_tiou")',
                  'euromine_hf.metrics.load("ca_tiou")', "install_evaluate_names()", "evaluate-metric/ca_tiou"):
        assert route in text, route
