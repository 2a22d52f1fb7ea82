"""Cards follow the Hub's metadata rules, checked offline (issue 20, item 7): the validator itself,
and every card the project writes (model cards of both tasks on synthetic data, a local archive
and a Hub dataset; the metric Spaces' cards). Dataset cards are checked where they are exported
(tests/test_export.py, tests/test_hub_dataset.py) and on every export (``build_dataset_card``)."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from euromine_hf.hub.card_rules import CardMetadataError, card_problems, check_card, check_card_text, is_hub_repo_id
from euromine_hf.hub.cards import render_model_card
from euromine_hf.metrics import MODULE_NAMES
from euromine_hf.metrics.modules import space_files
from euromine_hf.models import build_model


def test_validator_names_each_broken_rule():
    meta = {"license": "other", "datasets": ["euromine-synthetic-default"], "pipeline_tag": "change-detection",
            "language": ["english"]}
    problems = card_problems(meta, "model")
    assert any(p.startswith("datasets: 'euromine-synthetic-default' is not a Hub dataset id") for p in problems)
    assert any(p.startswith("license_link: required with license: other") for p in problems)
    assert any(p.startswith("license_name: required") for p in problems)
    assert any(p.startswith("pipeline_tag: 'change-detection'") for p in problems)
    assert any(p.startswith("language: 'english'") for p in problems)
    assert card_problems({"license": "other", "license_name": "x-1", "license_link": "LICENSE.md"}, "dataset") == []
    assert card_problems({"license": "cc-by-4.0", "size_categories": ["n<1K"], "configs": [
        {"config_name": "a", "default": True, "data_files": [{"split": "train", "path": "a/train-*"}]}]}, "dataset") == []
    assert card_problems({"license": "CC BY 4.0"}, "dataset") == ["license: 'CC BY 4.0' is not a Hub license id (e.g. apache-2.0, cc-by-4.0, or other)"]
    space = card_problems({"sdk": "gradio", "colorFrom": "orange", "short_description": "x" * 61}, "space")
    assert space == ["sdk_version: required (a version string) for the gradio and streamlit SDKs",
                     "colorFrom: expected one of ['blue', 'gray', 'green', 'indigo', 'pink', 'purple', 'red', 'yellow'], got 'orange'",
                     "short_description: at most 60 characters"]
    with pytest.raises(CardMetadataError, match=r"^README\.md: model card metadata breaks Hub rules: license: required"):
        check_card({}, "model", "README.md")
    with pytest.raises(CardMetadataError, match="expected YAML front matter"):
        check_card_text("# no metadata\n", "model", "README.md")


def test_hub_repo_ids_are_not_local_paths(tmp_path, monkeypatch):
    assert is_hub_repo_id("user/euromine") and is_hub_repo_id("nvidia/mit-b0")
    for bad in ("euromine-synthetic-default", "/data/EuroMineNet", "a/b/c", "user/../x", "user/a--b", ""):
        assert not is_hub_repo_id(bad), bad
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "archive").mkdir(parents=True)
    assert not is_hub_repo_id("outputs/archive")  # an existing folder of that shape
    assert is_hub_repo_id("gpt2", namespace=False) and not is_hub_repo_id("gpt2")  # legacy model ids: base_model only
    assert card_problems({"license": "mit", "base_model": "gpt2"}, "model") == []


@pytest.mark.parametrize("model_name, dataset_id, expected", [
    ("unet", "euromine-synthetic-default", None),  # what training passes for the synthetic default
    ("unet", "/data/EuroMineNet", None),            # what training passes for an archive folder
    ("fc-siam-diff", "user/euromine", ["user/euromine"]),
])
def test_model_cards_name_only_real_hub_datasets(model_name, dataset_id, expected):
    config = build_model(model_name, "tiny").config
    card = render_model_card(f"euromine-{model_name}", config, {"test": {"OF1": 0.5}}, dataset_id)
    meta = ModelCard(str(card)).data.to_dict()
    assert meta.get("datasets") == expected
    check_card_text(str(card), "model", "card")


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_metric_space_cards_follow_the_rules(name):
    check_card_text(space_files(name, "someone")["README.md"].decode(), "space", f"{name} Space")
