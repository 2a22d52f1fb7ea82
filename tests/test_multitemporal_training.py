"""Training the series model (``--task multitemporal``, issue 17): series with gaps over the mapping
rows, Eq. 6 + Eq. 7 with pairs drawn per series and step, scores of both tasks from one pass (checked
against the segmenter's and the detector's own scorers), exact resume, and the ``train.py`` path with
its ``all_results.json``, tables and both prediction layouts read back by ``euromine evaluate``."""

from __future__ import annotations

import json
from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from euromine_hf.data.collators import TimeseriesCollator
from euromine_hf.data.pairs import PairDataset, TimeseriesDataset
from euromine_hf.training.arguments import EuroMineTrainingArguments, ModelArguments, parse_arguments
from euromine_hf.training.compute_metrics import ChangeMetrics, MappingMetrics
from euromine_hf.training.multitemporal_metrics import SeriesMetrics, split_series_metrics
from euromine_hf.training.multitemporal_trainer import MultitemporalTrainer, all_pairs
from euromine_hf.training.tasks import get_task

from _data_fixtures import PAIR_YEARS, hf_cache, mapping_ds, small_archive  # noqa: F401


def _without_one_year(mapping, year):
    """The mapping rows less the first patch's row of ``year``: a series with a gap."""
    site, patch = mapping[0]["site"], int(mapping[0]["patch"])
    keep = [i for i, (s, p, y) in enumerate(zip(mapping["site"], mapping["patch"], mapping["year"]))
            if not (s == site and int(p) == patch and int(y) == year)]
    return mapping.select(keep).with_format("numpy", dtype=None), (site, patch)


def test_series_with_a_missing_year_have_a_year_mask(mapping_ds):  # noqa: F811
    rows, (site, patch) = _without_one_year(mapping_ds["train"], 2016)
    with pytest.raises(ValueError, match="complete series"):
        TimeseriesDataset(rows, years=PAIR_YEARS)
    series = TimeseriesDataset(rows, years=PAIR_YEARS, allow_missing=True)
    assert len(series) == len(TimeseriesDataset(mapping_ds["train"], years=PAIR_YEARS))
    gap = [i for i in range(len(series)) if not series.year_mask[i].all()]
    assert len(gap) == 1 and series.year_mask[gap[0]].tolist() == [True, False, True, True]
    sample = series[gap[0]]
    assert (sample["site"], int(sample["patch"])) == (site, patch)
    assert not sample["images"][1].any() and (sample["masks"][1] == 255).all()
    batch = TimeseriesCollator(with_years=True)(series.__getitems__([gap[0], (gap[0] + 1) % len(series)]))
    assert batch["year_mask"].tolist() == [[True, False, True, True], [True] * 4]
    assert batch["years"].tolist() == [list(PAIR_YEARS)] * 2 and batch["pixel_values"].shape[:2] == (2, 4)
    assert set(TimeseriesCollator()(series.__getitems__([0]))) == {"pixel_values", "labels"}  # segmenters unchanged


def test_series_metrics_equal_the_segmenter_and_detector_scorers(mapping_ds):  # noqa: F811
    """The same class ids scored per year (MappingMetrics over the mapping rows), per pair (ChangeMetrics
    over the pair index) and as post-classification agree with one SeriesMetrics pass."""
    rows = mapping_ds["test"].with_format("numpy", dtype=None)
    series = TimeseriesDataset(rows, years=PAIR_YEARS, allow_missing=True)
    rng = np.random.default_rng(3)
    samples = series.__getitems__(list(range(len(series))))
    references = np.stack([s["masks"] for s in samples]).astype(np.int64)
    yearly = np.where(rng.random(references.shape) < 0.2, 1 - references, references).astype(np.uint8)
    pairs = list(combinations(range(len(PAIR_YEARS)), 2))
    change = (rng.random((len(series), len(pairs), *references.shape[-2:])) < 0.3).astype(np.uint8)

    metrics = SeriesMetrics(PAIR_YEARS)
    metrics.bind(series)
    scores = metrics(SimpleNamespace(predictions=(yearly, change), label_ids=references))
    mapping, change_scores, post = split_series_metrics(scores)

    index = {(s["site"], int(s["patch"])): k for k, s in enumerate(samples)}
    per_year = rows.select([i for i, y in enumerate(rows["year"]) if int(y) in PAIR_YEARS])
    order = [(index[(str(site), int(patch))], PAIR_YEARS.index(int(year)))
             for site, patch, year in zip(per_year["site"], per_year["patch"], per_year["year"])]
    expected_scores = MappingMetrics(PAIR_YEARS, dataset=per_year)(SimpleNamespace(
        predictions=np.stack([yearly[k, t] for k, t in order]), label_ids=np.stack([references[k, t] for k, t in order])))
    assert mapping == pytest.approx(expected_scores)

    pair_set = PairDataset(rows, years=PAIR_YEARS)
    pair_keys = [(index[(str(s), int(p))], pairs.index((PAIR_YEARS.index(int(a)), PAIR_YEARS.index(int(b)))))
                 for s, p, a, b in zip(*(np.asarray(pair_set.rows.keys[c])[pair_set.index.row_t1] for c in ("site", "patch")),
                                       pair_set.index.year_t1, pair_set.index.year_t2)]
    truth = np.stack([references[k, pairs[q][0]] != references[k, pairs[q][1]] for k, q in pair_keys]).astype(np.uint8)
    detector = ChangeMetrics(dataset=pair_set)
    assert change_scores == pytest.approx(detector(SimpleNamespace(predictions=np.stack([change[k, q] for k, q in pair_keys]),
                                                                   label_ids=truth)))
    implied = np.stack([yearly[k, pairs[q][0]] != yearly[k, pairs[q][1]] for k, q in pair_keys]).astype(np.uint8)
    assert post == pytest.approx(detector(SimpleNamespace(predictions=implied, label_ids=truth)))
    assert scores["series_OF1"] == pytest.approx((mapping["OF1"] + change_scores["OF1"]) / 2)


def test_series_metrics_skip_a_missing_year_and_its_pairs(mapping_ds):  # noqa: F811
    rows, _ = _without_one_year(mapping_ds["test"], 2016)
    series = TimeseriesDataset(rows, years=PAIR_YEARS, allow_missing=True)
    references = np.stack([s["masks"] for s in series.__getitems__(list(range(len(series))))]).astype(np.int64)
    yearly = np.clip(references, 0, 1).astype(np.uint8)
    change = np.zeros((len(series), 6, *references.shape[-2:]), np.uint8)
    for q, (i, j) in enumerate(combinations(range(4), 2)):
        change[:, q] = yearly[:, i] != yearly[:, j]
    metrics = SeriesMetrics(PAIR_YEARS)
    metrics.bind(series)
    with pytest.warns(UserWarning, match="lack some of the years"):  # CA-TIoU scores the pairs present
        scores = metrics(SimpleNamespace(predictions=(yearly, change), label_ids=references))
    assert scores["OF1"] == pytest.approx(1.0) and scores["change_OF1"] == pytest.approx(1.0)  # 255s never scored


def test_an_archive_missing_a_year_trains_the_series_task_with_that_year_masked(tmp_path, small_archive):  # noqa: F811
    """README: "a year missing from the archive is masked, never seen nor scored". The builder used to
    refuse any missing year, so ``TimeseriesDataset(allow_missing=True)`` was never reached from an archive."""
    import shutil

    from euromine_hf.data.archive import ArchiveError

    archive = tmp_path / "archive"
    shutil.copytree(small_archive, archive)
    site = sorted(p.name for p in archive.iterdir() if p.is_dir())[0]
    for folder in ("image", "label"):
        next((archive / site / folder).glob("*2016.tif")).unlink()
    _, data, _, _ = parse_arguments(["--task", "multitemporal", "--data_dir", str(archive), "--cache_dir", str(tmp_path / "cache"),
                                     "--years", *map(str, PAIR_YEARS)])
    splits = get_task("multitemporal").load_splits(archive, data)
    gaps = {}
    for name in ("train", "validation", "test"):
        series = splits[name]
        if series is None:
            continue
        for k in np.flatnonzero(~series.year_mask.all(axis=1)):
            sample = series[int(k)]
            gaps[(str(sample["site"]), int(sample["patch"]))] = series.year_mask[k].tolist()
            assert not sample["images"][1].any() and (sample["masks"][1] == 255).all()  # never seen nor scored
    assert gaps and {s for s, _ in gaps} == {site} and all(m == [True, False, True, True] for m in gaps.values())
    with pytest.raises(ArchiveError, match="image for year 2016"):  # segmenters still need every year
        get_task("segmentation").load_splits(archive, parse_arguments(
            ["--data_dir", str(archive), "--cache_dir", str(tmp_path / "cache"), "--years", *map(str, PAIR_YEARS)])[1])


def test_task_arguments(tmp_path):
    model, data, training, _ = parse_arguments(["--task", "multitemporal", "--output_dir", str(tmp_path),
                                                "--pairs_per_series", "4"])
    assert (model.task, model.model, data.sampling, data.pairs_per_series) == ("multitemporal", "utae-series", "timeseries", 4)
    assert training.metric_for_best_model == "series_OF1"
    _, _, training, _ = parse_arguments(["--task", "multitemporal", "--metric_for_best_model", "GCA-TIoU"])
    assert training.metric_for_best_model == "GCA-TIoU"
    with pytest.raises(ValueError, match="--sampling pairs"):
        parse_arguments(["--task", "multitemporal", "--sampling", "pairs"])
    with pytest.raises(ValueError, match="--intervals needs --task change_detection"):
        parse_arguments(["--task", "multitemporal", "--intervals", "1"])
    with pytest.raises(ValueError, match="segmentation model but --task is multitemporal"):
        parse_arguments(["--task", "multitemporal", "--model", "unet"])
    with pytest.raises(ValueError, match="temporal_consistency_weight"):
        parse_arguments(["--task", "multitemporal", "--temporal_consistency_weight", "0.1"])


def _training_args(out, **kw):
    defaults = dict(output_dir=str(out), per_device_train_batch_size=2, per_device_eval_batch_size=2, learning_rate=1e-2,
                    eval_strategy="no", save_strategy="no", load_best_model_at_end=False, logging_steps=1, use_cpu=True,
                    disable_tqdm=True, seed=7, dataloader_num_workers=0, lr_scheduler_kwargs={"min_lr": 1e-5})
    return EuroMineTrainingArguments(**{**defaults, **kw})


def _model():
    return get_task("multitemporal").build_model(ModelArguments(task="multitemporal", model="utae-series", size="tiny"), seed=5)


def test_pairs_per_series_draws_are_a_function_of_seed_step_and_micro_batch(tmp_path):
    trainer = MultitemporalTrainer(model=_model(), args=_training_args(tmp_path), pairs_per_series=2)
    year_mask = torch.tensor([[True] * 4, [True, False, True, True]])
    trainer.micro_step = (3, 0)
    pairs, drawn = trainer.draw_pairs(year_mask)
    assert drawn.sum(dim=1).tolist() == [2, 2]
    for s in range(2):  # only pairs of the years a series has
        assert all(year_mask[s, i] and year_mask[s, j] for i, j in pairs[drawn[s]].tolist())
    again = trainer.draw_pairs(year_mask)
    assert torch.equal(again[0], pairs) and torch.equal(again[1], drawn)
    trainer.micro_step = (4, 0)
    other = trainer.draw_pairs(year_mask)
    assert not (torch.equal(other[0], pairs) and torch.equal(other[1], drawn))
    assert all_pairs(10).shape == (45, 2)


def test_drawn_pairs_loss_with_every_pair_is_the_models_own_loss(tmp_path):
    model = _model().train()
    trainer = MultitemporalTrainer(model=model, args=_training_args(tmp_path), pairs_per_series=6)
    torch.manual_seed(0)
    batch = {"pixel_values": torch.randn(2, 4, 10, 32, 32), "labels": torch.randint(0, 2, (2, 4, 32, 32)),
             "years": torch.tensor([list(PAIR_YEARS)] * 2), "year_mask": torch.tensor([[True] * 4, [True, True, False, True]])}
    trainer.micro_step = (0, 0)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm statistics move in train mode
    drawn = trainer._drawn_pairs_loss(model, dict(batch), return_outputs=False)
    model.load_state_dict(state)
    own = model(**batch).loss
    assert float(drawn.detach()) == pytest.approx(float(own.detach()), rel=1e-5)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


def test_resume_equals_uninterrupted(tmp_path, mapping_ds):  # noqa: F811
    rows, _ = _without_one_year(mapping_ds["train"], 2018)
    dataset = TimeseriesDataset(rows, years=PAIR_YEARS, allow_missing=True)

    def run(out, callbacks=(), resume=None):
        trainer = MultitemporalTrainer(
            model=_model(), args=_training_args(out, max_steps=4, save_strategy="steps", save_steps=1000),
            train_dataset=dataset, data_collator=TimeseriesCollator(with_years=True), callbacks=list(callbacks),
            augment=True, radiometric_jitter=0.2, pairs_per_series=2)
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    flat = lambda m: torch.cat([p.detach().reshape(-1) for p in m.parameters()])  # noqa: E731
    straight = run(tmp_path / "straight")
    first = run(tmp_path / "split", callbacks=[StopAt(2)])
    resumed = run(tmp_path / "split", resume=str(tmp_path / "split" / "checkpoint-2"))
    assert resumed.state.global_step == 4
    assert not torch.allclose(flat(first.model), flat(straight.model))
    torch.testing.assert_close(flat(resumed.model), flat(straight.model), rtol=1e-5, atol=1e-6)


def test_train_py_multitemporal_end_to_end(tmp_path, small_archive, hf_cache, capsys):  # noqa: F811
    """train.py's path: all_results holds the mapping scores (``test``), the change scores of all 45 pairs
    (``change``) and post-classification; the best checkpoint is chosen by series_OF1 on validation; the
    tables, maps and both prediction layouts are written, and ``euromine evaluate`` re-scores them."""
    from huggingface_hub import ModelCard

    from euromine_hf.hub.cards import read_model_index
    from euromine_hf.metrics.evaluate_cli import evaluate_folder
    from euromine_hf.models import AutoModelForMultitemporalSegmentation
    from euromine_hf.training.main import main

    out = tmp_path / "series"
    code = main([
        "--task", "multitemporal", "--model", "utae-series", "--size", "tiny", "--data_dir", str(small_archive),
        "--cache_dir", str(hf_cache), "--output_dir", str(out), "--max_steps", "4", "--per_device_train_batch_size", "2",
        "--per_device_eval_batch_size", "2", "--learning_rate", "1e-2", "--eval_strategy", "steps", "--eval_steps", "2",
        "--save_strategy", "steps", "--save_steps", "2", "--logging_steps", "1", "--disable_tqdm", "true",
        "--use_cpu", "true", "--num_qualitative", "1", "--dataloader_num_workers", "0", "--pairs_per_series", "3",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "utae-series (tiny) change maps" in printed and "GCA-TIoU" in printed

    results = json.loads((out / "results" / "all_results.json").read_text())
    assert (results["task"], results["model"], results["size"], results["seed"]) == ("multitemporal", "utae-series", "tiny", 42)
    assert {f"F1_{y}" for y in range(2015, 2025)} | {"OF1", "GCA-TIoU", "LCA-TIoU"} <= set(results["test"])
    assert not any(k.startswith(("change_", "post_classification_")) for k in results["test"])
    for key in ("change", "post_classification"):
        assert {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} <= set(results[key])
    assert (results["test_series"], results["pairs_per_series"], results["selection_metric"]) == (2, 3, "series_OF1")

    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    evals = [e for e in state["log_history"] if "eval_series_OF1" in e]
    assert len(evals) == 2 and {"eval_GCA-TIoU", "eval_change_F1_interval_1", "eval_post_classification_OF1"} <= set(evals[0])
    best = max(evals, key=lambda e: e["eval_series_OF1"])
    assert state["best_metric"] == pytest.approx(best["eval_series_OF1"])

    for stem in ("test_results", "change_results", "post_classification"):
        assert (out / "results" / f"{stem}.md").is_file()
    assert isinstance(AutoModelForMultitemporalSegmentation.from_pretrained(out / "model"), torch.nn.Module)
    index = read_model_index(ModelCard.load(out / "model" / "README.md"))  # the series card: both tasks' scores
    assert index["test"]["OF1"] == pytest.approx(results["test"]["OF1"], abs=1e-4)
    assert index["test"]["Change-OF1"] == pytest.approx(results["change"]["OF1"], abs=1e-4)
    assert index["test"]["F1_interval_1"] == pytest.approx(results["change"]["F1_interval_1"], abs=1e-4)
    predictions, change_predictions = out / "predictions" / "test", out / "predictions" / "test_change"
    assert len(list(predictions.rglob("Patch*.npy"))) == 2 * 10 and len(list(change_predictions.rglob("Patch*.npy"))) == 2 * 45
    assert len(list((out / "qualitative").glob("*_2024.png"))) == 2  # the last year's mask and the 2015-2024 change
    assert len(list((out / "qualitative").glob("*_2015_2024.png"))) == 1
    assert not list(out.rglob("*.tmp"))
    mapping = evaluate_folder(small_archive, predictions, split="test", task="mapping").compute()
    assert mapping["OF1"] == pytest.approx(results["test"]["OF1"], abs=1e-9)
    assert mapping["GCA-TIoU"] == pytest.approx(results["test"]["GCA-TIoU"], abs=1e-9)
    change = evaluate_folder(small_archive, change_predictions, split="test", task="change").compute()
    assert change["OF1"] == pytest.approx(results["change"]["OF1"], abs=1e-9)


def test_ddp_unused_parameter_probe_runs_a_series_model():
    """Under DDP the trainer asks which parameters one step leaves without a gradient; a series model
    takes a series, not one image (the probe raised before)."""
    from euromine_hf.models import build_model
    from euromine_hf.training.trainer import parameters_without_gradient

    assert parameters_without_gradient(build_model("utae-series", "tiny"), size=32) == []


def test_one_augmentation_per_series_for_all_its_years_and_uint8_evaluation_ids(tmp_path):
    """Every year of a series gets its series' flip/rotation (images and masks alike); years and
    year_mask are left as they are; evaluation keeps uint8 class ids of the masks and change maps."""
    from euromine_hf.training.multitemporal_trainer import series_class_ids

    trainer = MultitemporalTrainer(model=_model(), args=_training_args(tmp_path, seed=3), augment=True)
    labels = torch.randint(0, 2, (3, 4, 16, 16))
    pixels = torch.randn(3, 4, 10, 16, 16)
    pixels[:, :, 0] = labels.float()  # band 0 carries the mask: the image and the mask must move together
    batch = {"pixel_values": pixels, "labels": labels, "years": torch.tensor([list(PAIR_YEARS)] * 3),
             "year_mask": torch.tensor([[True, True, False, True]] * 3)}
    moved = trainer.augment_batch(batch)
    assert torch.equal(moved["pixel_values"][:, :, 0], moved["labels"].float())
    assert torch.equal(moved["years"], batch["years"]) and torch.equal(moved["year_mask"], batch["year_mask"])
    assert not torch.equal(moved["labels"], labels)  # some series were transformed (seeded)
    from euromine_hf.data.collators import NUM_DIHEDRAL, dihedral

    for s in range(3):  # one transform per series, the same for all four years
        assert any(np.array_equal(dihedral(labels[s].numpy(), k), moved["labels"][s].numpy()) for k in range(NUM_DIHEDRAL))
    yearly, change = series_class_ids((torch.randn(2, 4, 2, 8, 8), torch.randn(2, 6, 2, 8, 8), all_pairs(4)))
    assert (yearly.dtype, change.dtype, tuple(yearly.shape), tuple(change.shape)) == (torch.uint8, torch.uint8, (2, 4, 8, 8), (2, 6, 8, 8))


def test_a_series_run_is_an_entry_on_both_leaderboards(tmp_path, small_archive, mapping_ds):  # noqa: F811
    """The benchmark records a series run's yearly masks (predictions/test) on the mapping board and its
    change maps (predictions/test_change) on the change board, each scored here (perfect maps: 1.0)."""
    from euromine_hf.benchmark import jobs
    from euromine_hf.bands import YEARS
    from euromine_hf.training.series_reports import write_series_predictions

    series = TimeseriesDataset(mapping_ds["test"].with_format("numpy", dtype=None), years=YEARS, allow_missing=True)
    masks = np.stack([s["masks"] for s in series.__getitems__(list(range(len(series))))])
    change = np.stack([masks[:, i] != masks[:, j] for i, j in combinations(range(len(YEARS)), 2)], axis=1)
    run = tmp_path / "runs" / "multitemporal" / "utae-series" / "seed0"
    write_series_predictions((masks, change.astype(np.uint8)), series, run / "predictions" / "test",
                             run / "predictions" / "test_change")
    spec = {"task": "multitemporal", "model": "utae-series", "seed": 0, "leaderboard_dir": str(tmp_path / "board"),
            "options": {"size": "tiny", "max_steps": 2, "data_dir": str(small_archive), "train_options": []}}
    board = jobs.record_leaderboard_entry(run, spec, {})
    assert "error" not in board and set(board["entries"]) == {"mapping", "change_detection"}
    for task, key in (("mapping", "OF1"), ("change_detection", "OF1")):
        entry = json.loads(open(board["entries"][task]["entry"]).read())
        assert entry["task"] == task and entry["scores"][key] == pytest.approx(1.0), entry["scores"]


def test_train_py_resume_from_a_checkpoint_continues_exactly(tmp_path, small_archive, hf_cache):  # noqa: F811
    """train.py --resume_from_checkpoint on a series run: the resumed run's last checkpoint holds the same
    weights as the uninterrupted run's (the trainer-level check is test_resume_equals_uninterrupted)."""
    import shutil

    from safetensors.torch import load_file

    from euromine_hf.training.main import main

    def train(out, *extra):
        assert main(["--task", "multitemporal", "--size", "tiny", "--data_dir", str(small_archive), "--cache_dir",
                     str(hf_cache), "--output_dir", str(out), "--max_steps", "4", "--per_device_train_batch_size", "2",
                     "--per_device_eval_batch_size", "2", "--learning_rate", "1e-2", "--eval_strategy", "steps",
                     "--eval_steps", "2", "--save_strategy", "steps", "--save_steps", "2", "--disable_tqdm", "true",
                     "--use_cpu", "true", "--num_qualitative", "0", "--dataloader_num_workers", "0",
                     "--pairs_per_series", "3", "--years", "2015", "2016", "2018", "2021", *extra]) == 0

    train(tmp_path / "straight")
    shutil.copytree(tmp_path / "straight" / "checkpoint-2", tmp_path / "resumed" / "checkpoint-2")
    train(tmp_path / "resumed", "--resume_from_checkpoint", str(tmp_path / "resumed" / "checkpoint-2"))
    straight = load_file(tmp_path / "straight" / "checkpoint-4" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "checkpoint-4" / "model.safetensors")
    halfway = load_file(tmp_path / "straight" / "checkpoint-2" / "model.safetensors")
    assert any(not torch.equal(halfway[k], straight[k]) for k in straight)  # steps 3-4 changed the weights
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6, msg=key)
