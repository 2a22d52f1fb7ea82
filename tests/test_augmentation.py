"""Training's augmentation (``EuroMineTrainer.augment_batch``) and its batched flips (``dihedral_batch``).

Which transform and gain each sample gets is a pure function of (seed, step, micro-batch, rank), so
a resumed run continues exactly. The batched implementation must give, bit for bit, the batches of
the per-sample version it replaced: that version is kept below, verbatim, as the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from euromine_hf.bands import MEAN, STD
from euromine_hf.data.collators import NUM_DIHEDRAL, _dihedral_groups, dihedral, dihedral_batch
from euromine_hf.training.arguments import EuroMineTrainingArguments
from euromine_hf.training.trainer import EuroMineTrainer

SIZE = 12
IMAGE_KEYS = ("pixel_values", "pixel_values_t1", "pixel_values_t2")
MASK_KEYS = ("labels", "labels_t1", "labels_t2")


# ---------------------------------------------------------------------------------------------
# the oracle: augment_batch as it was before issue 20 (per sample: strided view, copy, np.stack)


def _old_scale_gain(pixel_values: torch.Tensor, gains: np.ndarray) -> torch.Tensor:
    bands = pixel_values.shape[-3]
    shape = (-1,) + (1,) * (pixel_values.ndim - 1)
    g = torch.as_tensor(gains, dtype=pixel_values.dtype, device=pixel_values.device).reshape(shape)
    offset = torch.as_tensor(MEAN / STD, dtype=pixel_values.dtype, device=pixel_values.device).reshape(bands, 1, 1)
    return g * pixel_values + (g - 1) * offset


def old_augment_batch(inputs, *, seed, step, micro, rank, augment, jitter):
    image_keys = [k for k in IMAGE_KEYS if k in inputs]
    pixel_values = inputs[image_keys[0]]
    rng = np.random.default_rng([int(seed), step, micro, int(rank)])
    ks = rng.integers(0, NUM_DIHEDRAL, size=pixel_values.shape[0]).tolist()
    out = dict(inputs)
    if jitter > 0:
        gains = 1.0 + rng.uniform(-jitter, jitter, size=pixel_values.shape[0])
        inputs = dict(inputs, **{k: _old_scale_gain(inputs[k], gains) for k in image_keys})
        out.update({k: inputs[k] for k in image_keys})
    if not augment:
        return out, ks
    for key in (*IMAGE_KEYS, *MASK_KEYS):
        if key not in inputs:
            continue
        tensor = inputs[key]
        array = tensor.detach().cpu().numpy()
        moved = np.stack([np.ascontiguousarray(dihedral(a, k)) for a, k in zip(array, ks)])
        out[key] = torch.from_numpy(moved).to(tensor.device)
    return out, ks


# ---------------------------------------------------------------------------------------------
# batches as the collators hand them to the Trainer


def _images(rng, *lead):
    return torch.from_numpy(rng.normal(0, 1, (*lead, 10, SIZE, SIZE)).astype(np.float32))


def _masks(rng, *lead):
    masks = rng.integers(0, 2, (*lead, SIZE, SIZE))
    masks[..., 0, 0] = 255  # an ignored pixel, so a transform that loses it shows
    return torch.from_numpy(masks.astype(np.int64))


def mapping_batch(rng, n=16):
    return {"pixel_values": _images(rng, n), "labels": _masks(rng, n)}


def pair_batch(rng, n=16):
    m1, m2 = _masks(rng, n), _masks(rng, n)
    return {"pixel_values_t1": _images(rng, n), "pixel_values_t2": _images(rng, n),
            "labels": (m1 != m2).long(), "labels_t1": m1, "labels_t2": m2}


def series_batch(rng, n=16, years=4):
    return {"pixel_values": _images(rng, n, years), "labels": _masks(rng, n, years)}


def trainer(tmp_path, augment=True, jitter=0.0, seed=11):
    args = EuroMineTrainingArguments(output_dir=str(tmp_path), use_cpu=True, seed=seed, report_to="none",
                                     eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    return EuroMineTrainer(model=nn.Conv2d(10, 2, 1), args=args, augment=augment, radiometric_jitter=jitter)


@pytest.mark.parametrize("make_batch", [mapping_batch, pair_batch, series_batch], ids=["mapping", "pairs", "series"])
@pytest.mark.parametrize("augment,jitter", [(True, 0.0), (True, 0.3), (False, 0.3)])
def test_augment_batch_is_bit_identical_to_the_per_sample_version(tmp_path, make_batch, augment, jitter):
    trainer_ = trainer(tmp_path, augment=augment, jitter=jitter)
    rng = np.random.default_rng(0)
    drawn = set()
    for step, micro_batches in ((0, 2), (5, 1), (6, 3)):  # the draw follows (step, micro-batch) as training does
        trainer_.state.global_step = step
        for micro in range(micro_batches):
            batch = make_batch(rng)
            before = {k: v.clone() for k, v in batch.items()}
            got = trainer_.augment_batch(batch)
            want, ks = old_augment_batch(batch, seed=11, step=step, micro=micro, rank=0, augment=augment, jitter=jitter)
            drawn.update(ks)
            assert sorted(got) == sorted(want)
            for key in want:
                assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape, key
                assert torch.equal(got[key], want[key]), f"{key} differs at step {step}, micro-batch {micro}"
                assert got[key].is_contiguous(), key
            for key, value in before.items():  # the caller's batch is left as it was
                assert torch.equal(batch[key], value), f"augment_batch wrote into the input's {key}"
    assert drawn == set(range(NUM_DIHEDRAL)), "the batches drew too few transforms to compare them all"


def test_augmentation_stays_on_the_batch_device(tmp_path):
    """Off the CPU (meta here: shapes only) the flips run where the batch is: no copy to host memory
    and back, which the per-sample numpy version needed."""
    trainer_ = trainer(tmp_path, jitter=0.2)
    batch = {k: v.to("meta") for k, v in pair_batch(np.random.default_rng(1), n=8).items()}
    out = trainer_.augment_batch(batch)
    for key, value in batch.items():
        assert out[key].device.type == "meta" and out[key].shape == value.shape and out[key].dtype == value.dtype


# ---------------------------------------------------------------------------------------------
# dihedral_batch


@pytest.mark.parametrize("shape,dtype", [((16, 10, 9, 9), np.float32), ((16, 9, 9), np.int64), ((16, 3, 10, 9, 9), np.float32),
                                         ((16, 9, 9), np.uint8), ((16, 2, 9, 9), np.uint16)])
def test_dihedral_batch_equals_stacked_views(shape, dtype):
    rng = np.random.default_rng(2)
    array = rng.integers(0, 200, shape).astype(dtype)
    ks = rng.permutation(list(range(NUM_DIHEDRAL)) * 2).tolist()
    want = np.stack([dihedral(a, k) for a, k in zip(array, ks)])
    got = dihedral_batch(array, ks)
    assert got.dtype == want.dtype and got.flags.c_contiguous and np.array_equal(got, want)
    tensor = dihedral_batch(torch.from_numpy(array), ks)
    assert isinstance(tensor, torch.Tensor) and np.array_equal(tensor.numpy(), want)
    if dtype != np.uint16:  # torch has no CPU flip kernel for uint16; accelerators get float/int batches
        grouped = _dihedral_groups(torch.from_numpy(array), ks)  # the accelerator path, run on the CPU
        assert grouped.is_contiguous() and np.array_equal(grouped.numpy(), want)


def test_dihedral_batch_rejects_bad_transforms():
    batch = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="2 samples but 1 transforms"):
        dihedral_batch(batch, [1])
    with pytest.raises(ValueError, match=r"expected k in 0\.\.7, got \[0, 8\]"):
        dihedral_batch(batch, [0, 8])
    with pytest.raises(ValueError, match="rotations need square images, got 4x5"):
        dihedral_batch(np.zeros((2, 4, 5), np.float32), [0, 1])
    assert np.array_equal(dihedral_batch(np.ones((2, 4, 5)), [0, 0]), np.ones((2, 4, 5)))
