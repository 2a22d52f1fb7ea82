"""Change detection end to end around the models: arguments, pair/series training (Eq. 7), interval F1
and OF1, best checkpoint by OF1, exact resume, post-classification (Table 6), whole-scene change maps,
the change-detection model card, the ``train.py --task change_detection`` path and the demo's part.

The detector here is a tiny Siamese absolute-difference conv net registered under a test-only zoo
name (unregistered afterwards), so these tests need none of the zoo's detectors.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import TrainerCallback

from euromine_hf.bands import YEARS
from euromine_hf.data.collators import PairCollator, TimeseriesCollator, dihedral
from euromine_hf.data.pairs import PairDataset, TimeseriesDataset
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig, EuroMineConfig
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel, EuroMineSegmentationModel
from euromine_hf.models.registry import MODEL_ZOO, register_model
from euromine_hf.training.arguments import EuroMineTrainingArguments, parse_arguments
from euromine_hf.training.change_trainer import ChangeDetectionTrainer, series_pairs
from euromine_hf.training.compute_metrics import ChangeMetrics

from _data_fixtures import PAIR_YEARS, hf_cache, mapping_ds, pairs_ds, small_archive  # noqa: F401

NAME = "test-siam-diff"


class SiamDiffTestConfig(EuroMineChangeDetectionConfig):
    model_type = "euromine-test-siam-diff"

    def __init__(self, base_width: int = 4, **kwargs):  # named like the demo detector's width override
        self.base_width = base_width
        super().__init__(**kwargs)


class SiamDiffTestDetector(EuroMineChangeDetectionModel):
    """One shared conv encoder on both dates, |f(t1) − f(t2)|, a 1×1 change head; a semantic head
    supervised by each date's mine mask (so ``labels_t1``/``labels_t2`` reach the loss)."""

    config_class = SiamDiffTestConfig

    def __init__(self, config: SiamDiffTestConfig) -> None:
        super().__init__(config)
        h = config.base_width
        self.encoder = nn.Sequential(nn.Conv2d(config.num_channels, h, 3, padding=1, stride=2), nn.ReLU(),
                                     nn.Conv2d(h, h, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(h, 2, 1)
        self.semantic = nn.Conv2d(h, 2, 1)
        self.post_init()

    def detect_with_auxiliary(self, pixel_values_t1, pixel_values_t2):
        f1, f2 = self.encoder(pixel_values_t1), self.encoder(pixel_values_t2)
        logits = self.head((f1 - f2).abs())
        return logits, [Auxiliary(0.5, self.semantic(f1), "labels_t1"), Auxiliary(0.5, self.semantic(f2), "labels_t2")]

    def detect(self, pixel_values_t1, pixel_values_t2):
        return self.detect_with_auxiliary(pixel_values_t1, pixel_values_t2)[0]


class SegForCDConfig(EuroMineConfig):
    model_type = "euromine-test-cd-seg"


class SegForCD(EuroMineSegmentationModel):
    config_class = SegForCDConfig

    def __init__(self, config):
        super().__init__(config)
        self.body = nn.Conv2d(config.num_channels, 2, 1)
        self.post_init()

    def segment(self, pixel_values):
        return self.body(pixel_values)


@pytest.fixture(scope="module", autouse=True)
def detector_name():
    register_model(NAME, "FC-Siam-diff", SiamDiffTestConfig, SiamDiffTestDetector, task="change_detection",
                   paper={"base_width": 8}, tiny={"base_width": 4})
    register_model("test-cd-seg", "Segformer", SegForCDConfig, SegForCD, task="segmentation", paper={}, tiny={})
    yield NAME
    MODEL_ZOO.pop(NAME)  # other tests iterate the zoo
    MODEL_ZOO.pop("test-cd-seg")


def training_args(tmp_path, **kw) -> EuroMineTrainingArguments:
    defaults = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=16,
        learning_rate=1e-2, eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
        logging_steps=1, use_cpu=True, disable_tqdm=True, seed=7, dataloader_num_workers=0,
        lr_scheduler_kwargs={"min_lr": 1e-5},
    )
    defaults.update(kw)
    return EuroMineTrainingArguments(**defaults)


def _flat_params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# ---------------------------------------------------------------------------------------------
# arguments


def test_task_arguments(tmp_path):
    model, data, _, _ = parse_arguments(["--task", "change_detection", "--model", NAME, "--intervals", "3", "1",
                                         "--output_dir", str(tmp_path)])
    assert (model.task, model.model, data.sampling, data.intervals) == ("change_detection", NAME, "pairs", [1, 3])
    _, data, _, _ = parse_arguments(["--task", "change_detection", "--model", NAME, "--sampling", "timeseries",
                                     "--pairs_per_series", "5", "--output_dir", str(tmp_path)])
    assert (data.sampling, data.pairs_per_series) == ("timeseries", 5)
    model, data, _, _ = parse_arguments(["--output_dir", str(tmp_path)])
    assert (model.task, model.model, data.sampling) == ("segmentation", "unet", "per_year")
    with pytest.raises(ValueError, match="segmentation model but --task is change_detection"):
        parse_arguments(["--task", "change_detection", "--model", "unet", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="change_detection model but --task is segmentation"):
        parse_arguments(["--model", NAME, "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--pairs_per_series needs --sampling timeseries"):
        parse_arguments(["--task", "change_detection", "--model", NAME, "--pairs_per_series", "2"])
    with pytest.raises(ValueError, match="--intervals needs --task change_detection"):
        parse_arguments(["--intervals", "1"])
    with pytest.raises(ValueError, match="--intervals"):
        parse_arguments(["--task", "change_detection", "--model", NAME, "--intervals", "10"])
    from euromine_hf.training.arguments import make_parser

    help_text = " ".join(make_parser().format_help().split())
    assert NAME in help_text.split("--task change_detection:")[1]  # listed under its task, at run time


# ---------------------------------------------------------------------------------------------
# the trainer: paired augmentation, Eq. 7


def _pair_batch(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    m1 = torch.from_numpy(rng.integers(0, 2, (n, size, size)))
    m2 = torch.from_numpy(rng.integers(0, 2, (n, size, size)))
    t1 = torch.randn(n, 10, size, size)
    t2 = torch.randn(n, 10, size, size)
    t1[:, 0] = m1.float()  # band 0 carries the mask: lets the test see the transform each key got
    t2[:, 0] = m2.float()
    return {"pixel_values_t1": t1, "pixel_values_t2": t2, "labels": m1 ^ m2, "labels_t1": m1, "labels_t2": m2}


def test_augmentation_moves_both_dates_and_all_masks_together(tmp_path):
    trainer = ChangeDetectionTrainer(model=SiamDiffTestDetector(SiamDiffTestConfig()), args=training_args(tmp_path),
                                     augment=True, radiometric_jitter=0.2)
    batch = _pair_batch()
    out = trainer.augment_batch(batch)
    moved = 0
    for i in range(3):
        ks = [k for k in range(8) if np.array_equal(dihedral(batch["labels_t1"][i].numpy(), k), out["labels_t1"][i].numpy())
              and np.array_equal(dihedral(batch["labels_t2"][i].numpy(), k), out["labels_t2"][i].numpy())
              and np.array_equal(dihedral(batch["labels"][i].numpy(), k), out["labels"][i].numpy())]
        assert ks, "the masks of one pair got different transforms"
        moved += 0 not in ks
        for key, mask in (("pixel_values_t1", "labels_t1"), ("pixel_values_t2", "labels_t2")):
            band = out[key][i, 0]
            # the gain jitter scales the band (g·x + (g−1)·m/s): it stays an affine image of the mask
            on, off = band[out[mask][i] == 1], band[out[mask][i] == 0]
            assert torch.allclose(on, on[0]) and torch.allclose(off, off[0]), f"{key} moved unlike {mask}"
    assert moved, "no sample was transformed"
    assert not torch.equal(out["pixel_values_t1"][:, 1:], batch["pixel_values_t1"][:, 1:])


def test_series_pairs_and_intervals():
    pairs = series_pairs(YEARS)
    assert len(pairs) == 45 and (pairs[:, 0] < pairs[:, 1]).all()
    assert series_pairs([2015, 2016, 2018], intervals=[2, 3]).tolist() == [[0, 2], [1, 2]]
    with pytest.raises(ValueError, match="no year pair"):
        series_pairs([2015, 2016], intervals=[3])


def test_eq7_loss_is_the_mean_over_the_series_pairs_and_k_draws_are_step_seeded(tmp_path):
    torch.manual_seed(0)
    model = SiamDiffTestDetector(SiamDiffTestConfig()).eval()
    years = [2015, 2016, 2018, 2021]
    trainer = ChangeDetectionTrainer(model=model, args=training_args(tmp_path), series_years=years)
    b, t, s = 2, len(years), 32
    masks = torch.randint(0, 2, (b, t, s, s))
    batch = {"pixel_values": torch.randn(b, t, 10, s, s), "labels": masks}
    loss = trainer.compute_loss(model, batch)
    expected = []
    for i in range(b):
        for a, c in series_pairs(years):
            out = model(batch["pixel_values"][i:i + 1, a], batch["pixel_values"][i:i + 1, c],
                        labels=(masks[i:i + 1, a] != masks[i:i + 1, c]).long())
            expected.append(out.loss)
    torch.testing.assert_close(loss, torch.stack(expected).mean())  # Eq. 7 (eval mode: no auxiliary terms)

    model.train()
    trainer.pairs_per_series = 2
    draws = []
    for step, micro in ((0, 0), (0, 1), (1, 0)):  # (optimizer step, micro-batch) as training_step records them
        trainer.micro_step = (step, micro)
        pairs = trainer.series_to_pairs(batch, training=True)
        assert pairs["pixel_values_t1"].shape == (b * 2, 10, s, s)
        assert torch.equal(pairs["labels"], (pairs["labels_t1"] != pairs["labels_t2"]).long())
        draws.append(pairs["labels"])
    trainer.micro_step = (0, 0)
    assert torch.equal(trainer.series_to_pairs(batch, training=True)["labels"], draws[0])  # same step: same draw
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])  # new micro-batch / step: new draw


# ---------------------------------------------------------------------------------------------
# metrics


def test_change_metrics_on_the_pair_index_equal_those_on_materialised_cd_pairs(mapping_ds, pairs_ds):  # noqa: F811
    index_pairs = PairDataset(mapping_ds["train"], years=PAIR_YEARS)
    materialised = pairs_ds["train"]
    assert len(index_pairs) == len(materialised)
    rng = np.random.default_rng(0)
    change = np.stack([s["change"] for s in index_pairs.__getitems__(list(range(len(index_pairs))))])
    noisy = np.where(rng.random(change.shape) < 0.05, 1 - change, change).astype(np.uint8)
    results = []
    for dataset in (index_pairs, materialised):
        metrics = ChangeMetrics(dataset=dataset)
        metrics.add(noisy[:7], change[:7])  # streaming, in dataset order
        metrics.add(noisy[7:], change[7:])
        results.append(metrics.compute())
    assert results[0] == results[1]
    assert {f"F1_interval_{k}" for k in (1, 2, 3, 5, 6)} <= set(results[0]) and 0 < results[0]["OF1"] < 1
    perfect = ChangeMetrics(dataset=index_pairs)
    perfect.add(change, change)
    assert perfect.compute()["OF1"] == 1.0


# ---------------------------------------------------------------------------------------------
# training runs


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


@pytest.mark.parametrize("sampling", ["pairs", "timeseries"])
def test_resume_equals_uninterrupted_for_a_detector(tmp_path, mapping_ds, sampling):  # noqa: F811
    n = 2
    if sampling == "pairs":
        dataset, collate = PairDataset(mapping_ds["train"], years=PAIR_YEARS, intervals=[1, 3]), PairCollator(with_masks=True)
    else:
        dataset, collate = TimeseriesDataset(mapping_ds["train"], years=PAIR_YEARS), TimeseriesCollator()

    def run(out, callbacks=(), resume=None):
        torch.manual_seed(123)
        trainer = ChangeDetectionTrainer(
            model=SiamDiffTestDetector(SiamDiffTestConfig()),
            args=training_args(out, max_steps=2 * n, per_device_train_batch_size=2, save_strategy="steps", save_steps=1000),
            train_dataset=dataset, data_collator=collate, callbacks=list(callbacks), augment=True,
            radiometric_jitter=0.2, series_years=PAIR_YEARS, pairs_per_series=2,
        )
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    straight = run(tmp_path / "straight")
    first = run(tmp_path / "split", callbacks=[StopAt(n)])
    resumed = run(tmp_path / "split", resume=str(tmp_path / "split" / f"checkpoint-{n}"))
    assert resumed.state.global_step == 2 * n
    assert not torch.allclose(_flat_params(first.model), _flat_params(straight.model))
    torch.testing.assert_close(_flat_params(resumed.model), _flat_params(straight.model), rtol=1e-5, atol=1e-6)


def test_train_py_change_detection_end_to_end(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    """The CLI path: trains, its loss falls, evaluates every pair by interval F1 + OF1, keeps the best
    checkpoint by OF1, writes Table 5 beside the paper's row, the card, predictions and maps."""
    from huggingface_hub import ModelCard

    from euromine_hf.hub.cards import read_model_index
    from euromine_hf.models import AutoModelForChangeDetection
    from euromine_hf.training.main import main

    out = tmp_path / "cd"
    code = main([
        "--task", "change_detection", "--model", NAME, "--size", "tiny", "--data_dir", str(small_archive),
        "--cache_dir", str(hf_cache), "--output_dir", str(out), "--max_steps", "8", "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "48", "--learning_rate", "2e-2", "--eval_strategy", "steps", "--eval_steps", "4",
        "--save_strategy", "steps", "--save_steps", "4", "--logging_steps", "1", "--disable_tqdm", "true",
        "--use_cpu", "true", "--num_qualitative", "1", "--dataloader_num_workers", "0",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "OF1" in printed and f"{NAME} (tiny)" in printed

    results = json.loads((out / "results" / "all_results.json").read_text())
    test = results["test"]
    assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(test)
    assert results["test_pairs"] == 90  # 2 test patches x 45 pairs
    assert (results["task"], results["model"], results["size"], results["seed"]) == ("change_detection", NAME, "tiny", 42)
    assert results["data_dir"] == str(small_archive) and results["data_source"] == "synthetic"

    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    evals = [e for e in state["log_history"] if "eval_OF1" in e]
    assert len(evals) == 2 and {f"eval_F1_interval_{k}" for k in range(1, 10)} <= set(evals[0])
    best = max(evals, key=lambda e: e["eval_OF1"])
    assert state["best_metric"] == pytest.approx(best["eval_OF1"])
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best['step']}")

    rows = json.loads((out / "results" / "test_results.json").read_text())["rows"]
    assert [r["source"] for r in rows] == ["ours", "paper"] and rows[0]["model"] == "FC-Siam-diff"
    assert rows[0]["OF1"] == pytest.approx(test["OF1"]) and rows[1]["1"] == pytest.approx(0.2079)  # SiamUnet_Diff

    index = read_model_index(ModelCard.load(out / "model" / "README.md"))
    assert index["test"]["OF1"] == pytest.approx(test["OF1"], abs=1e-4)
    assert {f"F1_interval_{k}" for k in range(1, 10)} <= set(index["test"])
    reloaded = AutoModelForChangeDetection.from_pretrained(out / "model")
    assert isinstance(reloaded, SiamDiffTestDetector)
    assert len(list((out / "predictions" / "test").rglob("Patch*.npy"))) == 90
    assert list((out / "qualitative").glob("*_2015_2024.png"))
    assert not list(out.rglob("*.tmp"))

    # the written predictions re-score to the same numbers through `euromine evaluate --task change`
    from euromine_hf.metrics.evaluate_cli import evaluate_folder

    scorer = evaluate_folder(small_archive, out / "predictions" / "test", split="test", task="change")
    assert scorer.compute()["OF1"] == pytest.approx(test["OF1"], abs=1e-9)


def test_model_card_for_a_detector_round_trips_interval_scores():
    from huggingface_hub import ModelCard

    from euromine_hf.hub.cards import read_model_index, render_model_card

    scores = {f"test_F1_interval_{k}": k / 10 for k in range(1, 10)} | {"test_OF1": 0.5, "test_loss": 0.1}
    card = render_model_card("euromine-fc-siam-diff", SiamDiffTestConfig(), {"test": scores}, "euromine-synthetic-default",
                             paper_name="FC-Siam-diff", dataset_config="cd_pairs")
    index = read_model_index(ModelCard(str(card)))
    assert index == {"test": {**{f"F1_interval_{k}": k / 10 for k in range(1, 10)}, "OF1": 0.5}}
    text = str(card)
    assert "change-detection" in text and "AutoModelForChangeDetection" in text and "pixel_values_t2" in text
    assert "| F1 interval 1 | 0.1000 | 0.2079 |" in text  # the paper's SiamUnet_Diff row beside ours


# ---------------------------------------------------------------------------------------------
# post-classification (Table 6)


def test_post_classification_scores_and_table(tmp_path, mapping_ds):  # noqa: F811
    from euromine_hf.data.pairs import MappingRows
    from euromine_hf.metrics.tables import paper_row_name, write_tables
    from euromine_hf.training.post_classification import post_classification_scores, score_post_classification

    test = mapping_ds["test"]
    masks = np.stack(MappingRows(test).masks(np.arange(len(test))))
    years = list(YEARS)
    perfect = post_classification_scores(masks, test, years)
    assert perfect["OF1"] == 1.0 and all(perfect[f"F1_interval_{k}"] == 1.0 for k in range(1, 10) if f"F1_interval_{k}" in perfect)
    constant = post_classification_scores(np.zeros_like(masks), test, years)  # no change predicted anywhere
    assert constant["OF1"] == 0.0

    torch.manual_seed(0)
    segmenter = SegForCD(SegForCDConfig())
    scores = score_post_classification(segmenter, test, years)
    assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(scores)
    paths = write_tables(tmp_path, "post-classification", {"DeeplabV3P (ResNet-101)": scores}, paper=True)
    rows = json.loads(paths["json"].read_text())["rows"]
    assert [r["source"] for r in rows] == ["ours", "paper"] and rows[0]["OF1"] == pytest.approx(scores["OF1"])
    assert paper_row_name("post-classification", "DeeplabV3P (ResNet-101)") == "DeeplabV3P (ResNet101)"
    assert paper_row_name("change", "FC-Siam-diff") == "SiamUnet_Diff" and paper_row_name("change", "nope") is None
    assert paper_row_name("mapping", "UNet++") is None and paper_row_name("mapping", "unet") == "UNet"
    with pytest.raises(ValueError, match="needs a segmenter"):
        score_post_classification(SiamDiffTestDetector(SiamDiffTestConfig()), test, years)


def test_segmentation_run_writes_post_classification_table(tmp_path, small_archive, hf_cache):  # noqa: F811
    from euromine_hf.training.run import run_training

    args = parse_arguments([
        "--model", "test-cd-seg", "--size", "tiny", "--data_dir", str(small_archive), "--cache_dir", str(hf_cache),
        "--output_dir", str(tmp_path), "--max_steps", "1", "--per_device_train_batch_size", "4", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--baseline", "false", "--disable_tqdm", "true",
        "--use_cpu", "true", "--num_qualitative", "0",
    ])
    result = run_training(*args)
    assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(result.post_classification_metrics)
    rows = json.loads((tmp_path / "results" / "post_classification.json").read_text())
    assert rows["paper_table"] == 6 and rows["rows"][0]["OF1"] == pytest.approx(result.post_classification_metrics["OF1"])
    assert rows["rows"][1]["source"] == "paper"  # Segformer's Table 6 row


# ---------------------------------------------------------------------------------------------
# whole-scene change maps


def test_predict_change_maps_georeferenced_with_overlap_blending(tmp_path, small_archive):  # noqa: F811
    from euromine_hf.cli import main as cli_main
    from euromine_hf.data.archive import read_image, scan_archive
    from euromine_hf.inference import (
        default_year_pairs, parse_year_pairs, predict_change_archive, predict_change_scene, window_offsets,
    )

    assert default_year_pairs([2015, 2016, 2018]) == [(2015, 2016), (2016, 2018), (2015, 2018)]
    assert parse_year_pairs("2016:2017, 2015:2024") == [(2016, 2017), (2015, 2024)]
    with pytest.raises(ValueError, match="earlier year first"):
        parse_year_pairs("2017:2016")

    torch.manual_seed(0)
    model = SiamDiffTestDetector(SiamDiffTestConfig()).eval()
    site = next(s for s in scan_archive(small_archive) if s.height > 160 and s.width > 160)
    a, _ = read_image(site.image_path(2015))
    b, _ = read_image(site.image_path(2024))
    mask, probability = predict_change_scene(model, a, b, stride=80)
    assert mask.shape == probability.shape == (site.height, site.width) and set(np.unique(mask)) <= {0, 1}

    def window(r, c):
        from euromine_hf.bands import MEAN, STD

        norm = lambda x: torch.from_numpy(((x[:, r:r + 160, c:c + 160] - MEAN[:, None, None]) / STD[:, None, None])[None].astype(np.float32))  # noqa: E731
        with torch.no_grad():
            return torch.softmax(model(norm(a), norm(b)).logits, 1)[0, 1].numpy()

    np.testing.assert_allclose(probability[0, 0], window(0, 0)[0, 0], rtol=1e-5)  # one window only
    y, x = site.height - 100, site.width - 100  # inside several windows of the stride-80 grid
    covering = [(r, c) for r in window_offsets(site.height, 160, 80) for c in window_offsets(site.width, 160, 80)
                if r <= y < r + 160 and c <= x < c + 160]
    assert len(covering) > 1
    overlap = np.mean([window(r, c)[y - r, x - c] for r, c in covering])
    np.testing.assert_allclose(probability[y, x], overlap, rtol=1e-5)  # overlaps averaged

    written = predict_change_archive(model, small_archive, tmp_path / "default", years=[2015, 2016, 2018],
                                     sites=[site.name], progress=False)
    assert sorted(p.name for p in written) == ["Change2015_2016.tif", "Change2015_2018.tif", "Change2016_2018.tif"]
    import rasterio

    with rasterio.open(written[0]) as pred, rasterio.open(site.image_path(2015)) as src:
        assert (pred.count, pred.height, pred.width) == (1, site.height, site.width)
        assert pred.crs == src.crs and pred.transform == src.transform
        assert set(np.unique(pred.read(1))) <= {0, 1}

    model.save_pretrained(tmp_path / "model")
    code = cli_main(["predict", str(tmp_path / "model"), str(small_archive), str(tmp_path / "cli"),
                     "--pairs", "2016:2017,2015:2024", "--sites", site.name])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "cli" / site.name).iterdir()) == [
        ".euromine-predict.json", "Change2015_2024.tif", "Change2015_2024.tif.aux.xml", "Change2016_2017.tif", "Change2016_2017.tif.aux.xml"]
    with rasterio.open(tmp_path / "cli" / site.name / "Change2015_2024.tif") as pred:
        raster = pred.read(1)
    expected, _ = predict_change_scene(model, a, b)
    np.testing.assert_array_equal(raster, expected)


# ---------------------------------------------------------------------------------------------
# the demo's change-detection part


def test_demo_change_detection_part(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    from euromine_hf.training import demo

    assert demo.DEMO_DETECTOR == "fc-ef"
    assert demo.demo_detector() in MODEL_ZOO and MODEL_ZOO[demo.demo_detector()].task == "change_detection"
    post = {f"F1_interval_{k}": 0.1 * k for k in range(1, 10)} | {"OF1": 0.3}
    findings = demo.run_change_detection_demo(
        tmp_path, SimpleNamespace(post_classification_metrics=post), model=NAME,
        extra=["--data_dir", str(small_archive), "--cache_dir", str(hf_cache), "--max_steps", "3", "--eval_strategy",
               "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true",
               "--use_cpu", "true", "--per_device_train_batch_size", "2"],
    )
    printed = capsys.readouterr().out
    assert "post-classification of the demo segmenter" in printed and "Paper finding 1" in printed
    assert "Paper finding 2" in printed
    assert findings["post_classification_rises_with_interval"][0] is True
    assert isinstance(findings["detector_beats_post_classification"], bool)
    rows = json.loads(findings["table"].with_suffix(".json").read_text())["rows"]
    assert [(r["model"], r["source"]) for r in rows] == [
        ("FC-Siam-diff", "ours"), ("FC-Siam-diff", "paper"), ("post-classification of the demo segmenter", "ours")]
    assert (tmp_path / "change_detection" / "model" / "model.safetensors").is_file()


def test_push_to_hub_for_a_detector(tmp_path, small_archive, hf_cache):  # noqa: F811
    from huggingface_hub import ModelCard

    from euromine_hf.hub.cards import read_model_index
    from euromine_hf.models import AutoModelForChangeDetection
    from euromine_hf.testing import LocalHub, use_local_hub
    from euromine_hf.training.main import main

    out = tmp_path / "run"
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        code = main([
            "--task", "change_detection", "--model", NAME, "--size", "tiny", "--data_dir", str(small_archive),
            "--cache_dir", str(hf_cache), "--output_dir", str(out), "--max_steps", "1", "--per_device_train_batch_size", "2",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--num_qualitative", "0",
            "--disable_tqdm", "true", "--use_cpu", "true", "--push_to_hub", "true",
            "--hub_model_id", "user/euromine-cd-pushed", "--hub_token", hub.token,
        ])
        assert code == 0 and hub.unknown_requests == []
        pushed = AutoModelForChangeDetection.from_pretrained("user/euromine-cd-pushed").eval()
        card = ModelCard.load("user/euromine-cd-pushed")
    local = AutoModelForChangeDetection.from_pretrained(out / "model").eval()
    a, b = torch.randn(1, 10, 64, 64), torch.randn(1, 10, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pushed(a, b).logits, local(a, b).logits)
    assert "user/euromine-cd-pushed" in card.text
    assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(read_model_index(card)["test"])
