"""Training that can be trusted for every zoo model (issue 7): best-model reload, exact resume, seeding.

One parametrised test over :data:`euromine_hf.models.MODEL_ZOO` (tiny presets, so models added
later are covered without editing this file).  Each model trains 3 epochs of 2 steps on 32×32
samples, evaluating and checkpointing every epoch, with a validation score that is best at epoch
2 (neither the first nor the last checkpoint), and must satisfy:

(a) ``load_best_model_at_end`` leaves exactly the best checkpoint's weights: every tensor equals
    that checkpoint as ``from_pretrained`` reads it, and differs from the last checkpoint;
(b) resuming from the epoch-1 checkpoint ends with the same checkpoints and final weights as the
    uninterrupted run;
(c) a second run with the same seed (after disturbing every RNG) gives identical weights.

The models composed from transformers (Segformer, UperNet-Swin, Mask2Former) store renamed keys
on disk, which is what broke (a) and (b); the task's ``build_model`` seeding is what (c) checks.
Detectors go through the change-detection task (its ``build_model`` + ``ChangeDetectionTrainer`` on
pairs with both dates' masks); series models through the multitemporal task's ``MultitemporalTrainer``
on 3-year series.  The 11 segmenters, the series models and the 6 detectors of :data:`FAST_DETECTORS` run by
default (about 45 s on 2 loaded CPU cores); the other 14 detectors (about 40 s more) are ``slow``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset

from euromine_hf.bands import MEAN, STD
from euromine_hf.data.collators import MappingCollator, PairCollator, TimeseriesCollator
from euromine_hf.models import MODEL_ZOO, build_model, zoo_names
from euromine_hf.training.arguments import EuroMineTrainingArguments, ModelArguments
from euromine_hf.training.change_trainer import ChangeDetectionTrainer
from euromine_hf.training.multitemporal_trainer import MultitemporalTrainer
from euromine_hf.training.tasks import get_task
from euromine_hf.training.trainer import EuroMineTrainer

SIZE = 32
EPOCHS = 3
STEPS_PER_EPOCH = 2
BATCH = 4
#: validation score per epoch: the best checkpoint is epoch 2's, not the last one
SCORES = {1: 0.5, 2: 0.9, 3: 0.1}
SEED = 11


def _image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = MEAN[:, None, None] + STD[:, None, None] * rng.normal(0, 0.5, (10, SIZE, SIZE))
    image[:, mask == 1] += 1.5 * STD[:, None]
    return np.clip(image, 0, 65535).astype(np.uint16)


def _mask(i: int, grow: int = 0) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[4 + i % 5:20 + i % 7 + grow, 6:22 + grow] = 1
    return mask


def _series(n: int, seed: int) -> list[dict]:
    """Series of :data:`SERIES_YEARS` whose mine grows year by year (series models, ``--task multitemporal``)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        masks = np.stack([_mask(i, grow=3 * t) for t in range(len(SERIES_YEARS))])
        samples.append({"images": np.stack([_image(m, rng) for m in masks]), "masks": masks, "years": list(SERIES_YEARS)})
    return samples


def _rows(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    masks = [_mask(i) for i in range(n)]
    images = [_image(m, rng) for m in masks]
    return Dataset.from_dict({"image": images, "mask": masks}).with_format("numpy", dtype=None)


def _pair_rows(n: int, seed: int) -> Dataset:
    """Pairs whose mine grows between the dates (so the change mask is not empty), with both masks
    (``labels_t1``/``labels_t2`` feed the dual-task detectors' semantic branches)."""
    rng = np.random.default_rng(seed)
    first, second = [_mask(i) for i in range(n)], [_mask(i, grow=6) for i in range(n)]
    return Dataset.from_dict({
        "image_t1": [_image(m, rng) for m in first], "image_t2": [_image(m, rng) for m in second],
        "mask_t1": first, "mask_t2": second,
    }).with_format("numpy", dtype=None)


SERIES_YEARS = (2015, 2016, 2018)
SERIES_TRAIN = _series(BATCH * STEPS_PER_EPOCH, seed=4)
SERIES_VALIDATION = _series(4, seed=5)
TRAIN = _rows(BATCH * STEPS_PER_EPOCH, seed=0)
VALIDATION = _rows(4, seed=1)
PAIR_TRAIN = _pair_rows(BATCH * STEPS_PER_EPOCH, seed=2)
PAIR_VALIDATION = _pair_rows(4, seed=3)

#: Detectors checked in the default suite: one of each kind (Siamese difference, tokens + transformer,
#: dual task with per-date semantic branches, hierarchical transformer, one sigmoid output + BCE,
#: frozen idle convolutions). The full sweep over every detector is the slow variant.
FAST_DETECTORS = ("fc-siam-diff", "bit", "dtcdscn", "changeformer", "a2net", "mspsnet")


class EpochScore:
    """``compute_metrics`` whose value depends only on the epoch being evaluated (see :data:`SCORES`)."""

    def __init__(self) -> None:
        self.trainer: EuroMineTrainer | None = None

    def __call__(self, eval_prediction) -> dict[str, float]:
        return {"score": SCORES[round(self.trainer.state.epoch)]}


def _disturb_rngs() -> None:
    """Leave every global RNG somewhere new, so only explicit seeding can make two runs agree."""
    entropy = int.from_bytes(np.random.bytes(4), "little") ^ random.getrandbits(32)
    torch.manual_seed(entropy)
    np.random.seed(entropy % 2**32)
    random.seed(entropy)


def _train(name: str, out: Path, resume: Path | None = None, overrides: str | None = None) -> EuroMineTrainer:
    """Train through the task's own path: the task's ``build_model`` + ``EuroMineTrainer`` on mapping rows,
    or ``ChangeDetectionTrainer`` on pairs (as the change-detection task wires them)."""
    _disturb_rngs()
    task = MODEL_ZOO[name].task
    detector = task == "change_detection"
    model_args = ModelArguments(task=task, model=name, size="tiny", config_overrides=overrides)
    model = get_task(task).build_model(model_args, seed=SEED)
    args = EuroMineTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
        num_train_epochs=EPOCHS, learning_rate=5e-3, lr_scheduler_kwargs={"min_lr": 1e-5},
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=None, load_best_model_at_end=True,
        metric_for_best_model="score", greater_is_better=True, batch_eval_metrics=False,
        logging_steps=1, use_cpu=True, disable_tqdm=True, seed=SEED, dataloader_num_workers=0,
    )
    metric = EpochScore()
    if task == "multitemporal":  # the series task's trainer: Eq. 6 + Eq. 7, pairs drawn per series and step
        trainer = MultitemporalTrainer(
            model=model, args=args, train_dataset=SERIES_TRAIN, eval_dataset=SERIES_VALIDATION,
            data_collator=TimeseriesCollator(with_years=True), compute_metrics=metric, augment=True,
            pairs_per_series=2,
        )
    elif detector:
        trainer = ChangeDetectionTrainer(
            model=model, args=args, train_dataset=PAIR_TRAIN, eval_dataset=PAIR_VALIDATION,
            data_collator=PairCollator(with_masks=True), eval_data_collator=PairCollator(), compute_metrics=metric,
            augment=True,
        )
    else:
        trainer = EuroMineTrainer(
            model=model, args=args, train_dataset=TRAIN, eval_dataset=VALIDATION,
            data_collator=MappingCollator(), compute_metrics=metric, augment=True,
        )
    metric.trainer = trainer
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    return trainer


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _from_pretrained(model: torch.nn.Module, folder: Path) -> dict[str, torch.Tensor]:
    return _weights(type(model).from_pretrained(folder))


def _differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    assert a.keys() == b.keys(), f"different tensors: {sorted(a.keys() ^ b.keys())[:5]}"
    return [k for k in a if not torch.equal(a[k], b[k])]


def _frozen(model: torch.nn.Module) -> set[str]:
    return {k for k, p in model.named_parameters() if not p.requires_grad}


def _zoo_params() -> list:
    """Every segmenter; the detectors of :data:`FAST_DETECTORS` by default, the others marked slow."""
    params = []
    for name in sorted(MODEL_ZOO):
        slow = MODEL_ZOO[name].task == "change_detection" and name not in FAST_DETECTORS
        params.append(pytest.param(name, marks=pytest.mark.slow) if slow else name)
    return params


def test_fast_detectors_are_zoo_detectors():
    assert set(FAST_DETECTORS) <= set(zoo_names("change_detection"))


@pytest.mark.parametrize("name", _zoo_params())
def test_best_model_resume_and_seed_for_every_zoo_model(name, tmp_path):
    straight = _train(name, tmp_path / "straight")
    out = tmp_path / "straight"
    best, last = out / f"checkpoint-{2 * STEPS_PER_EPOCH}", out / f"checkpoint-{EPOCHS * STEPS_PER_EPOCH}"
    assert straight.state.global_step == EPOCHS * STEPS_PER_EPOCH
    assert Path(straight.state.best_model_checkpoint) == best

    # (a) the final model is exactly the best checkpoint, as from_pretrained reads it; parameters
    # the model keeps frozen (idle convolutions, pretrained parts) stay frozen through the reload
    final = _weights(straight.model)
    assert _frozen(straight.model) == _frozen(build_model(name, "tiny"))
    assert _differing(final, _from_pretrained(straight.model, best)) == []
    assert _differing(final, _from_pretrained(straight.model, last)), "best and last checkpoints should differ"

    # (b) resume from the epoch-1 checkpoint: same last checkpoint, same final weights
    resumed = _train(name, tmp_path / "resumed", resume=out / f"checkpoint-{STEPS_PER_EPOCH}")
    assert resumed.state.global_step == EPOCHS * STEPS_PER_EPOCH
    resumed_last = tmp_path / "resumed" / last.name
    assert _differing(_from_pretrained(resumed.model, resumed_last), _from_pretrained(straight.model, last)) == []
    assert _differing(_weights(resumed.model), final) == []

    # (c) the same seed again: identical weights
    again = _train(name, tmp_path / "again")
    assert _differing(_weights(again.model), final) == []
    assert _differing(_from_pretrained(again.model, tmp_path / "again" / last.name),
                      _from_pretrained(straight.model, last)) == []


@pytest.mark.parametrize("name", ["mspsnet", "hanet"])
def test_frozen_idle_convs_survive_best_model_reload_and_resume(name, tmp_path):
    """MSPSNet/HANet keep the reference's never-run convolutions frozen (``keep_idle_convs``, on in the
    paper preset): the best-model reload and resume must load them strictly and leave them frozen and
    untouched (never in the optimizer)."""
    overrides = "keep_idle_convs=true"
    straight = _train(name, tmp_path / "straight", overrides=overrides)
    frozen = _frozen(straight.model)
    assert frozen and all(k.startswith("idle_convs.") for k in frozen), sorted(frozen)[:4]
    detector_args = ModelArguments(task="change_detection", model=name, size="tiny", config_overrides=overrides)
    initial = _weights(get_task("change_detection").build_model(detector_args, seed=SEED))
    final = _weights(straight.model)
    assert all(torch.equal(final[k], initial[k]) for k in frozen), "a frozen idle convolution was trained"
    out = tmp_path / "straight"
    best = out / f"checkpoint-{2 * STEPS_PER_EPOCH}"
    assert _differing(final, _from_pretrained(straight.model, best)) == []
    assert _frozen(type(straight.model).from_pretrained(best)) == frozen, "from_pretrained unfroze the idle convolutions"
    resumed = _train(name, tmp_path / "resumed", resume=out / f"checkpoint-{STEPS_PER_EPOCH}", overrides=overrides)
    assert _frozen(resumed.model) == frozen
    assert _differing(_weights(resumed.model), final) == []
