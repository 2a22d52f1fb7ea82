"""Model cards: the snippet loads the real repo or folder, arguments print as values, base_model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers.trainer_utils import SchedulerType
from transformers.training_args import OptimizerNames

from euromine_hf.hub.cards import base_model_for, render_model_card
from euromine_hf.models import build_model


def _card(**kwargs):
    config = build_model("unet", "tiny").config
    return render_model_card("euromine-unet-tiny", config, {"test": {"OF1": 0.5}}, "user/ds", **kwargs)


def test_snippet_loads_the_repo_id_it_is_pushed_to() -> None:
    text = str(_card(repo_id="alice/euromine-unet-tiny"))
    assert 'MODEL = "alice/euromine-unet-tiny"' in text
    assert "AutoModelForSemanticSegmentation.from_pretrained(MODEL, trust_remote_code=True)" in text
    assert "AutoImageProcessor.from_pretrained(MODEL, trust_remote_code=True)" in text
    assert '"euromine-unet-tiny"' not in text.split("## How to use")[1].split("```\n")[0]


def test_snippet_without_a_repo_names_no_made_up_model(tmp_path: Path) -> None:
    text = str(_card(repo_id=str(tmp_path)))
    assert f'MODEL = "{tmp_path}"' in text
    text = str(_card())
    assert 'MODEL = "path/to/this/folder"' in text
    assert 'from_pretrained("euromine-unet-tiny"' not in text


def test_change_detector_snippet_uses_automodel() -> None:
    config = build_model("fc-siam-diff", "tiny").config
    text = str(render_model_card("cd", config, {"test": {"OF1": 0.5}}, "user/ds", dataset_config="cd_pairs",
                                 repo_id="alice/cd"))
    assert 'MODEL = "alice/cd"' in text and "AutoModel.from_pretrained(MODEL, trust_remote_code=True)" in text
    assert "images_t1=image_t1, images_t2=image_t2" in text


def test_enum_arguments_print_as_values() -> None:
    text = str(_card(repo_id="a/b", training_args={"optimizer": OptimizerNames.ADAMW_TORCH,
                                                    "lr_scheduler": SchedulerType.COSINE}))
    assert "| `optimizer` | adamw_torch |" in text and "| `lr_scheduler` | cosine |" in text
    assert "OptimizerNames" not in text and "SchedulerType" not in text


def test_base_model_metadata(tmp_path: Path) -> None:
    card = _card(repo_id="a/b", base_model=base_model_for("nvidia/mit-b0"))
    assert card.data.base_model == "nvidia/mit-b0" and "base_model: nvidia/mit-b0" in str(card)
    assert _card(repo_id="a/b", base_model=base_model_for(None)).data.base_model is None


def test_base_model_for_local_folders(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    build_model("unet", "tiny", num_channels=3).save_pretrained(plain)
    # transformers drops _name_or_path from saved configs: a local folder names no Hub model
    assert base_model_for(plain) is None
    named = tmp_path / "named"
    named.mkdir()
    (named / "config.json").write_text(json.dumps({"_name_or_path": "nvidia/mit-b0"}))
    assert base_model_for(named) == "nvidia/mit-b0"
    (named / "config.json").write_text(json.dumps({"_name_or_path": str(plain)}))
    assert base_model_for(named) is None  # a path is not a Hub reference
    assert base_model_for("not a repo id!") is None


@pytest.mark.parametrize("field", ["optimizer", "base_model", "repo"])
def test_training_reports_pass_the_card_fields(field: str) -> None:
    """The training run's card call passes the fields above (the card is rendered at the end of a run)."""
    source = Path(__file__).parents[1].joinpath("euromine_hf", "training", "reports.py").read_text()
    wanted = {
        "optimizer": '"optimizer": args.optim,',
        "base_model": "base_model=base_model_of(model_args),",  # the run's pretrained start (training/pretrained_start.py)
        "repo": "repo_id=args.hub_model_id or str(Path(result.model_dir).resolve())",
    }[field]
    assert source.count(wanted) == 2  # segmentation and change-detection runs


def test_series_model_card_scores_both_tasks_and_has_no_paper_column() -> None:
    """A series model's card: the mapping metrics, F1 per interval and the change OF1 (its own name,
    so it does not collide with the mapping OF1) round-trip through model-index; no paper row."""
    from euromine_hf.hub.cards import ModelCardError, read_model_index

    config = build_model("utae-series", "tiny").config
    results = {"test": {"f1_2015": 0.7, "OF1": 0.6, "GCA-TIoU": 0.5, "F1_interval_1": 0.4, "change_OF1": 0.3}}
    card = render_model_card("series", config, results, "user/ds", dataset_config="timeseries", repo_id="alice/series")
    assert read_model_index(card) == {"test": {"2015": 0.7, "F1_interval_1": 0.4, "OF1": 0.6, "GCA-TIoU": 0.5,
                                               "Change-OF1": 0.3}}
    text = str(card)
    assert card.data.pipeline_tag == "image-segmentation" and "change-detection" in card.data.tags
    assert 'pipeline("multitemporal-segmentation", model=MODEL, trust_remote_code=True)' in text
    assert "processor(series, years=years" in text and "U-TAE-Series (this project)" in text
    assert "| Change-OF1 | 0.3000 |" in text and "| metric | test |\n" in text  # no paper column
    with pytest.raises(ModelCardError, match="no table of the paper holds a multitemporal model"):
        render_model_card("series", config, results, "user/ds", paper_name="UNet")
