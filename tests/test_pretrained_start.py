"""The paper runs' pretrained starts (models/paper_checkpoints.py, models/pretrained.py, train.py --pretrained).

Every checkpoint a zoo entry names is served by the local test Hub under its exact repo id (and
revision), built small with the real key layout: the transformers class of that checkpoint at a size
whose encoder matches the zoo model's ``tiny`` preset, or timm's ``features.N`` state dict for
VGG16-BN. Nothing is downloaded from the internet.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import euromine_hf.models  # noqa: F401  (registers the zoo)
from euromine_hf.bands import BANDS
from euromine_hf.models.band_adaptation import adapt_rgb_weight, read_state_dict
from euromine_hf.models.paper_checkpoints import PAPER_CHECKPOINTS, TRAINED_FROM_SCRATCH
from euromine_hf.models.pretrained import (
    IncompletePretrainedLoadError,
    PretrainedUnavailableError,
    load_pretrained,
)
from euromine_hf.models.registry import MODEL_ZOO, build_model
from euromine_hf.testing import LocalHub, use_local_hub

WITH_CHECKPOINT = sorted(PAPER_CHECKPOINTS)
#: one token per checkpoint owner (nvidia, google, timm, …): the local hub lets a user create repos in its own namespace
OWNER_TOKENS = {f"hf_owner_{owner}": owner
                for owner in {c.repo_id.split("/")[0] for entries in PAPER_CHECKPOINTS.values() for c in entries}}


def owners_hub() -> LocalHub:
    return LocalHub(extra_tokens=OWNER_TOKENS)


def _copy(config, **changes):
    copy = type(config).from_dict(config.to_dict())
    for key, value in changes.items():
        setattr(copy, key, value)
    return copy


def _resnet_classifier(backbone_config):
    from transformers import ResNetForImageClassification

    return ResNetForImageClassification(_copy(backbone_config, num_channels=3, num_labels=10))


def tiny_checkpoint(name: str, model) -> object:
    """The checkpoint ``name``'s paper entry names, at the size of ``model`` (its tiny preset): a
    transformers model of the checkpoint's own class, or (timm) a state dict."""
    import transformers as tf

    repo = PAPER_CHECKPOINTS[name][0].repo_id
    if repo.startswith("nvidia/segformer"):
        config = _copy(model.encoder.segformer.config, num_channels=3, num_labels=150,
                       decoder_hidden_size=model.config.decoder_hidden_size)
        return tf.SegformerForSemanticSegmentation(config)
    if repo.startswith("openmmlab/upernet"):
        config = tf.UperNetConfig(
            backbone_config=_copy(model.config.backbone_config, num_channels=3), hidden_size=model.config.hidden_size,
            auxiliary_channels=model.config.auxiliary_channels, pool_scales=list(model.config.pool_scales),
            num_labels=150, use_auxiliary_head=True,
        )
        return tf.UperNetForSemanticSegmentation(config)
    if repo.startswith("facebook/mask2former"):
        inner = model.mask2former.config
        return tf.Mask2FormerForUniversalSegmentation(
            _copy(inner, backbone_config=_copy(inner.backbone_config, num_channels=3), num_labels=150))
    if repo.startswith("apple/mobilevitv2"):
        return tf.MobileViTV2ForSemanticSegmentation(_copy(model.deeplabv3.config, num_channels=3, num_labels=21))
    if repo.startswith("google/deeplabv3_mobilenet_v2"):
        return tf.MobileNetV2ForSemanticSegmentation(_copy(model.encoder.mobilenet_v2.config, num_channels=3, num_labels=21))
    if repo.startswith("google/mobilenet_v2"):
        return tf.MobileNetV2ForImageClassification(_copy(model.config.backbone_config, num_channels=3, num_labels=10))
    if repo.startswith("google/efficientnet"):
        return tf.EfficientNetForImageClassification(
            _copy(model.config.backbone_config, num_channels=3, num_labels=10, hidden_dim=64))
    if repo.startswith("microsoft/resnet") and name == "afcf3d":
        c = model.config
        return _resnet_classifier(tf.ResNetConfig(embedding_size=c.stem_channels, hidden_sizes=list(c.stage_channels),
                                                  depths=list(c.depths), layer_type="basic"))
    if repo.startswith("microsoft/resnet"):
        return _resnet_classifier(model.config.backbone_config)
    if repo.startswith("timm/vgg"):  # timm's vgg*_bn: features.N (conv, BN, ReLU, … 'M' pools), then the classifier
        from euromine_hf.models.encoders import VGGEncoder

        c = model.config
        rgb = VGGEncoder(3, c.encoder_widths, c.encoder_depths).state_dict()
        state, index = {}, 0
        for stage, depth in enumerate(c.encoder_depths):
            for block in range(depth):
                for suffix in ("weight", "bias"):
                    state[f"features.{index}.{suffix}"] = rgb[f"stages.{stage}.{block}.conv.{suffix}"]
                for suffix in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                    state[f"features.{index + 1}.{suffix}"] = rgb[f"stages.{stage}.{block}.norm.{suffix}"]
                index += 3
            index += 1  # the max-pool
        state["pre_logits.fc1.weight"] = torch.randn(16, c.encoder_widths[-1], 7, 7)
        state["head.fc.weight"] = torch.randn(10, 16)
        return state
    raise AssertionError(f"no tiny checkpoint builder for {repo}")


def publish(hub, folder, name: str, model) -> dict[str, torch.Tensor]:
    """Serve the tiny checkpoint of ``name`` under its exact repo id and revision; its tensors as read."""
    from huggingface_hub import HfApi

    entry = PAPER_CHECKPOINTS[name][0]
    torch.manual_seed(11)
    checkpoint = tiny_checkpoint(name, model)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(checkpoint, dict):
        save_file(checkpoint, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({  # timm's config (transformers reads it as TimmWrapperConfig)
            "architecture": "vgg16_bn", "num_classes": 10, "pretrained_cfg": {"tag": "tv_in1k", "num_classes": 10}}))
    else:
        checkpoint.save_pretrained(folder)
    owner = entry.repo_id.split("/")[0]
    api = HfApi(endpoint=hub.endpoint, token=next(t for t, o in OWNER_TOKENS.items() if o == owner))
    api.create_repo(entry.repo_id, exist_ok=True)
    api.upload_folder(repo_id=entry.repo_id, folder_path=str(folder))
    if entry.revision is not None:
        hub.create_ref(entry.repo_id, entry.revision)
    return read_state_dict(folder)


def test_every_zoo_model_names_its_start_or_why_none():
    for name, spec in MODEL_ZOO.items():
        assert (name in PAPER_CHECKPOINTS) != (name in TRAINED_FROM_SCRATCH), name
        assert spec.pretrained == PAPER_CHECKPOINTS.get(name, ())
        assert bool(spec.pretrained_note) == (not spec.pretrained)
        for checkpoint in spec.pretrained:
            assert checkpoint.reason and checkpoint.part
    # the six the authors' training code loads, by name
    authors = {"nvidia/segformer-b5-finetuned-ade-640-640", "openmmlab/upernet-convnext-base", "openmmlab/upernet-swin-base",
               "facebook/mask2former-swin-base-ade-semantic", "apple/mobilevitv2-1.0-voc-deeplabv3",
               "google/deeplabv3_mobilenet_v2_1.0_513"}
    assert authors <= {c.repo_id for spec in MODEL_ZOO.values() for c in spec.pretrained}


@pytest.mark.parametrize("name", WITH_CHECKPOINT)
def test_every_encoder_parameter_arrives_from_the_hub_checkpoint(name, tmp_path):
    entry = PAPER_CHECKPOINTS[name][0]
    model = build_model(name, "tiny", **({"keep_unused_last_stage": True} if name == "bit" else {}))
    with owners_hub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        source = publish(hub, tmp_path / "ckpt", name, model)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        load = load_pretrained(model, entry)
    report, after = load.report, model.state_dict()
    if entry.layout != "transformers":  # the loader's renaming, checked against the origin names below
        from euromine_hf.models.pretrained import _CONVERTERS

        source = _CONVERTERS[entry.layout](source, model, entry.part[0])
    part = [k for k in after if k.startswith(entry.part) and not any(m in k for m in entry.new_in_model)]
    assert part and set(part) <= set(report.copied) | set(report.adapted), sorted(set(part) - set(report.copied))
    for key in report.copied:
        expected = source[report.origin[key]]
        torch.testing.assert_close(after[key], expected.reshape(after[key].shape).to(after[key].dtype), msg=key)
    assert report.adapted, "a 10-band model must adapt the checkpoint's RGB input layer"
    for key in report.adapted:
        rgb = source[report.origin[key]]
        if rgb.shape[1] == 3 and after[key].shape[1] == len(BANDS):
            torch.testing.assert_close(after[key], adapt_rgb_weight(rgb, BANDS), msg=key)
        assert not torch.equal(after[key], before[key])
    assert load.source == entry.repo_id and load.to_dict()["revision"] == entry.revision


def test_first_layer_random_keeps_the_models_own_initialisation(tmp_path):
    entry = PAPER_CHECKPOINTS["deeplabv3plus-resnet101"][0]
    model = build_model("deeplabv3plus-resnet101", "tiny")
    stem = "encoder.backbone.embedder.embedder.convolution.weight"
    initial = model.state_dict()[stem].clone()
    with owners_hub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        source = publish(hub, tmp_path / "ckpt", "deeplabv3plus-resnet101", model)
        load = load_pretrained(model, entry, first_layer="random")
    assert load.report.reinitialised == [stem] and not load.report.adapted
    torch.testing.assert_close(model.state_dict()[stem], initial)
    key = "encoder.backbone.encoder.stages.0.layers.0.shortcut.convolution.weight"
    torch.testing.assert_close(model.state_dict()[key], source["resnet." + key[len("encoder.backbone."):]])


def test_a_skipped_encoder_parameter_is_an_error_naming_it(tmp_path):
    """A checkpoint of another width leaves stage tensors unloaded: refused, not logged."""
    entry = PAPER_CHECKPOINTS["bit"][0]
    checkpoint_model = build_model("bit", "tiny", keep_unused_last_stage=True)
    other = build_model("bit", "tiny", keep_unused_last_stage=True,
                        backbone_config={"hidden_sizes": [8, 8, 16, 24]})  # the last stage is wider in the model
    with owners_hub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        publish(hub, tmp_path / "ckpt", "bit", checkpoint_model)
        with pytest.raises(IncompletePretrainedLoadError, match=r"encoder\.backbone\.encoder\.stages\.3\.") as caught:
            load_pretrained(other, entry)
    assert "--pretrained none" in str(caught.value)


@pytest.mark.parametrize("why", ["HF_HUB_OFFLINE", "unreachable"])
def test_offline_with_an_empty_cache_is_one_line_naming_checkpoint_cache_and_opt_out(why, tmp_path, monkeypatch):
    from huggingface_hub import constants

    if why == "HF_HUB_OFFLINE":
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    else:  # online mode, but nothing answers
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    entry = PAPER_CHECKPOINTS["tinycd"][0]
    with pytest.raises(PretrainedUnavailableError) as caught:
        load_pretrained(build_model("tinycd", "tiny"), entry)
    message = str(caught.value)
    assert "google/efficientnet-b4@refs/pr/1" in message and str(tmp_path / "empty-cache") in message
    assert "--pretrained none" in message and "\n" not in message


# ---- train.py: --pretrained, --first_layer, the run's report and card ------------------------------

from _data_fixtures import hf_cache, small_archive  # noqa: E402,F401  (the small archive the training tests share)


def test_which_start_each_size_and_flag_picks():
    from euromine_hf.training.arguments import ModelArguments
    from euromine_hf.training.pretrained_start import pretrained_starts

    def starts(**kwargs):
        return [(c.repo_id, c.revision, source) for c, source in pretrained_starts(ModelArguments(**kwargs))]

    assert starts(task="change_detection", model="tinycd", size="paper") == [
        ("google/efficientnet-b4", "refs/pr/1", "google/efficientnet-b4")]
    assert starts(task="change_detection", model="tinycd", size="tiny") == []
    assert starts(task="change_detection", model="tinycd", size="paper", pretrained="none") == []
    assert starts(model="unet", size="paper") == []  # trained from scratch in the paper
    assert starts(model="unet", pretrained="./rgb-unet") == [("./rgb-unet", None, "./rgb-unet")]  # any RGB weights
    assert starts(model="pspnet", pretrained="someone/resnet-101@v2") == [("someone/resnet-101", "v2", "someone/resnet-101")]
    # the old flag is the same override
    assert starts(model="pspnet", size="tiny", rgb_checkpoint="microsoft/resnet-101") == [
        ("microsoft/resnet-101", None, "microsoft/resnet-101")]
    with pytest.raises(ValueError, match="--first_layer must be one of"):
        ModelArguments(first_layer="zero")
    with pytest.raises(ValueError, match="name two starts"):
        ModelArguments(pretrained="a/b", rgb_checkpoint="c/d")


def _train(tmp_path, archive, cache, *extra):
    from euromine_hf.training.main import main

    return main([
        "--task", "change_detection", "--model", "bit", "--size", "tiny", "--data_dir", str(archive),
        "--cache_dir", str(cache), "--output_dir", str(tmp_path), "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--num_qualitative", "0",
        "--baseline", "false", "--disable_tqdm", "true", "--use_cpu", "true", "--years", "2015", "2016", *extra,
    ])


def test_train_starts_from_the_hub_checkpoint_and_reports_it(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    from huggingface_hub import ModelCard

    with owners_hub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        publish(hub, tmp_path / "ckpt", "bit", build_model("bit", "tiny"))
        assert _train(tmp_path / "adapt", small_archive, hf_cache, "--pretrained", "microsoft/resnet-18") == 0
        printed = capsys.readouterr().out
        assert _train(tmp_path / "random", small_archive, hf_cache, "--pretrained", "microsoft/resnet-18",
                      "--first_layer", "random") == 0
        # a checkpoint that does not fit the model's encoder: one line, exit 2, before anything is trained
        code = _train(tmp_path / "wider", small_archive, hf_cache, "--pretrained", "microsoft/resnet-18",
                      "--config_overrides", 'backbone_config={"hidden_sizes": [8, 8, 24]}')
        error = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not the progress bars
    stem = "encoder.backbone.embedder.embedder.convolution.weight"
    assert "pretrained start microsoft/resnet-18" in printed and f"adapted: {stem}" in printed
    report = json.loads((tmp_path / "adapt" / "pretrained_load_report.json").read_text())
    (start,) = report["starts"]
    assert start["checkpoint"] == "microsoft/resnet-18" and report["first_layer"] == "adapt"
    assert start["adapted"] == [stem] and len(start["copied"]) > 30 and set(start["skipped"]) == {
        "classifier.1.weight", "classifier.1.bias"}
    assert ModelCard.load(tmp_path / "adapt" / "model" / "README.md").data.base_model == "microsoft/resnet-18"
    random = json.loads((tmp_path / "random" / "pretrained_load_report.json").read_text())
    assert random["first_layer"] == "random" and random["starts"][0]["reinitialised"] == [stem]
    assert random["starts"][0]["adapted"] == []
    assert code == 2 and len(error) == 1 and "were not loaded: encoder.backbone.encoder.stages.2." in error[0]
    assert error[0].startswith("train.py: error: pretrained checkpoint microsoft/resnet-18")
    assert not (tmp_path / "wider" / "model").exists() and not (tmp_path / "wider" / "pretrained_load_report.json").exists()


def test_train_pretrained_none_trains_from_scratch(tmp_path, small_archive, hf_cache, monkeypatch):  # noqa: F811
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # nothing may be fetched
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert _train(tmp_path / "run", small_archive, hf_cache, "--pretrained", "none") == 0
    assert not (tmp_path / "run" / "pretrained_load_report.json").exists()


def test_train_offline_with_an_empty_cache_exits_2_in_one_line(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    from euromine_hf.training.main import main

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "run"
    code = main(["--task", "change_detection", "--model", "tinycd", "--size", "paper", "--output_dir", str(out),
                 "--data_dir", str(tmp_path / "never-read")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert "google/efficientnet-b4@refs/pr/1" in error[0] and str(tmp_path / "empty-cache") in error[0]
    assert "--pretrained none" in error[0] and "Traceback" not in error[0]
    assert not out.exists()  # nothing written


# ---- the paper presets against the real checkpoints' sizes (meta tensors: no weights, no download) ----

def real_checkpoint(repo: str):
    """The published checkpoint's network at its real size, on the meta device (configs as published)."""
    import transformers as tf

    swin_b = dict(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
                  out_features=["stage1", "stage2", "stage3", "stage4"])
    resnet = {"microsoft/resnet-18": dict(layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512]),
              "microsoft/resnet-101": dict(layer_type="bottleneck", depths=[3, 4, 23, 3],
                                           hidden_sizes=[256, 512, 1024, 2048])}
    if repo in resnet:
        return tf.ResNetForImageClassification(tf.ResNetConfig(embedding_size=64, num_labels=1000, **resnet[repo]))
    if repo == "nvidia/segformer-b5-finetuned-ade-640-640":
        return tf.SegformerForSemanticSegmentation(tf.SegformerConfig(
            hidden_sizes=[64, 128, 320, 512], depths=[3, 6, 40, 3], num_attention_heads=[1, 2, 5, 8],
            decoder_hidden_size=768, num_labels=150))
    if repo == "openmmlab/upernet-convnext-base":
        backbone = tf.ConvNextConfig(depths=[3, 3, 27, 3], hidden_sizes=[128, 256, 512, 1024],
                                     out_features=["stage1", "stage2", "stage3", "stage4"])
        return tf.UperNetForSemanticSegmentation(tf.UperNetConfig(backbone_config=backbone, hidden_size=512,
                                                                  auxiliary_in_channels=512, num_labels=150))
    if repo == "openmmlab/upernet-swin-base":
        return tf.UperNetForSemanticSegmentation(tf.UperNetConfig(backbone_config=tf.SwinConfig(**swin_b), hidden_size=512,
                                                                  auxiliary_in_channels=512, num_labels=150))
    if repo == "facebook/mask2former-swin-base-ade-semantic":
        return tf.Mask2FormerForUniversalSegmentation(tf.Mask2FormerConfig(backbone_config=tf.SwinConfig(**swin_b),
                                                                           num_labels=150))
    if repo == "apple/mobilevitv2-1.0-voc-deeplabv3":
        return tf.MobileViTV2ForSemanticSegmentation(tf.MobileViTV2Config(width_multiplier=1.0, num_labels=21))
    if repo == "google/deeplabv3_mobilenet_v2_1.0_513":
        return tf.MobileNetV2ForSemanticSegmentation(tf.MobileNetV2Config(output_stride=8, num_labels=21))
    if repo == "google/mobilenet_v2_1.0_224":
        return tf.MobileNetV2ForImageClassification(tf.MobileNetV2Config(num_labels=1001))
    if repo == "google/efficientnet-b4":
        return tf.EfficientNetForImageClassification(tf.EfficientNetConfig(
            width_coefficient=1.4, depth_coefficient=1.8, image_size=380, hidden_dim=1792, num_labels=1000))
    if repo == "timm/vgg16_bn.tv_in1k":
        return None  # a timm state dict, built by the caller
    raise AssertionError(repo)


@pytest.mark.parametrize("name", WITH_CHECKPOINT)
def test_paper_preset_takes_every_encoder_tensor_of_the_real_checkpoint(name):
    """Layer for layer, the published checkpoint fills the pretrained part of the ``paper`` preset
    (e.g. Swin-B window 12 in openmmlab/upernet-swin-base; window 7 would leave its attention tables out)."""
    from euromine_hf.models.pretrained import load_state

    entry = PAPER_CHECKPOINTS[name][0]
    with torch.device("meta"):
        model = build_model(name, "paper")
        real = real_checkpoint(entry.repo_id)
        if real is None:  # torchvision's VGG16-BN in timm's layout
            model_vgg = type(model)(MODEL_ZOO[name].make_config("paper", num_channels=3))
            state = tiny_checkpoint(name, model_vgg)
        else:
            state = real.state_dict()
    report = load_state(model, entry, state, entry.repo_id)
    assert len(report.adapted) == 1


def test_benchmarks_models_tables_show_each_models_checkpoint():
    """BENCHMARKS.md's models tables are checked against the registry, the one source of truth."""
    from pathlib import Path

    from euromine_hf.models.paper_checkpoints import checkpoint_label

    text = (Path(__file__).resolve().parents[1] / "BENCHMARKS.md").read_text(encoding="utf-8")
    section = text.split("## Models", 1)[1].split("\n## ", 1)[0]
    seen = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in MODEL_ZOO:
            seen[cells[0]] = cells[2]
        elif line.startswith("| model |"):
            assert cells[2] == "pretrained checkpoint"
    assert set(seen) == set(MODEL_ZOO)
    for name, cell in seen.items():
        assert cell == checkpoint_label(name), name
