"""`train.py --push_to_hub` end to end: train a few steps, push the model folder with its card to a
local Hub-compatible server, and load it back by repo id."""

from __future__ import annotations

import torch
from huggingface_hub import ModelCard

from euromine_hf.testing import LocalHub, use_local_hub

from _data_fixtures import small_archive  # noqa: F401  (session fixture)


def test_train_then_push_to_hub_and_load_by_repo_id(small_archive, tmp_path):  # noqa: F811
    from transformers import AutoModelForSemanticSegmentation

    from euromine_hf.hub.cards import read_model_index
    from euromine_hf.training.main import main

    out = tmp_path / "run"
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        code = main([
            "--model", "unet", "--size", "tiny", "--data_dir", str(small_archive), "--cache_dir", str(tmp_path / "cache"),
            "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--num_qualitative", "0", "--baseline", "false", "--disable_tqdm", "true", "--report_to", "none",
            "--push_to_hub", "true", "--hub_model_id", "user/euromine-unet-pushed", "--hub_token", hub.token,
        ])
        assert code == 0
        assert hub.unknown_requests == []
        pushed = AutoModelForSemanticSegmentation.from_pretrained("user/euromine-unet-pushed").eval()
        card = ModelCard.load("user/euromine-unet-pushed")

    local = AutoModelForSemanticSegmentation.from_pretrained(out / "model").eval()
    x = torch.randn(1, 10, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pushed(pixel_values=x).logits, local(pixel_values=x).logits)
    assert "user/euromine-unet-pushed" in card.text
    assert set(read_model_index(card)["test"]) >= {"OF1", "GCA-TIoU", "LCA-TIoU"}
