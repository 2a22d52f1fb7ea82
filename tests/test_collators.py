"""Collators: published normalisation, labels, paired augmentation consistency, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from euromine_hf.bands import MEAN, STD
from euromine_hf.data.collators import (
    MappingCollator,
    PairCollator,
    TimeseriesCollator,
    dihedral,
    normalize_images,
)

H = W = 32


def _image(rng, shape=(10, H, W)):
    return rng.integers(0, 6000, size=shape, dtype=np.uint16)


def _mask(rng, shape=(H, W)):
    return rng.integers(0, 2, size=shape, dtype=np.uint8)


def _reference(image):
    """The publishers' per-sample normalisation."""
    return (image.astype(np.float32) - MEAN[:, None, None]) / STD[:, None, None]


def _which_transform(out: np.ndarray, source: np.ndarray) -> int:
    ks = [k for k in range(8) if np.array_equal(out, _reference(dihedral(source, k)))]
    assert len(ks) == 1, ks
    return ks[0]


def test_mapping_normalisation_matches_the_published_formula():
    rng = np.random.default_rng(0)
    samples = [{"image": _image(rng), "mask": _mask(rng), "site": "X"} for _ in range(5)]
    out = MappingCollator()(samples)
    assert set(out) == {"pixel_values", "labels"}
    assert out["pixel_values"].dtype == torch.float32 and out["pixel_values"].shape == (5, 10, H, W)
    assert out["labels"].dtype == torch.int64 and out["labels"].shape == (5, H, W)
    for i, s in enumerate(samples):
        np.testing.assert_array_equal(out["pixel_values"][i].numpy(), _reference(s["image"]))
        np.testing.assert_array_equal(out["labels"][i].numpy(), s["mask"])


def test_batch_dict_and_tensor_inputs_give_the_same_result():
    rng = np.random.default_rng(1)
    images = _image(rng, (4, 10, H, W))
    masks = _mask(rng, (4, H, W))
    from_list = MappingCollator()([{"image": i, "mask": m} for i, m in zip(images, masks)])
    from_dict = MappingCollator()({"image": images, "mask": masks})
    from_torch = MappingCollator()({"image": torch.from_numpy(images.astype(np.int32)), "mask": torch.from_numpy(masks)})
    for other in (from_dict, from_torch):
        assert torch.equal(other["pixel_values"], from_list["pixel_values"])
        assert torch.equal(other["labels"], from_list["labels"])


def test_normalised_values_have_the_band_statistics():
    rng = np.random.default_rng(2)
    image = (MEAN[:, None, None] + STD[:, None, None] * rng.standard_normal((10, 64, 64))).clip(0).astype(np.uint16)
    x = normalize_images([image])[0].numpy()
    assert np.allclose(x.mean(axis=(1, 2)), 0, atol=0.05)
    assert np.allclose(x.std(axis=(1, 2)), 1, atol=0.05)


def test_pair_augmentation_is_shared_by_both_dates_and_all_masks():
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(24):
        m1, m2 = _mask(rng), _mask(rng)
        samples.append({"image_t1": _image(rng), "image_t2": _image(rng), "mask_t1": m1, "mask_t2": m2, "change": m1 ^ m2})
    out = PairCollator(augment=True, seed=7, with_masks=True)(samples)
    seen = set()
    for i, s in enumerate(samples):
        k = _which_transform(out["pixel_values_t1"][i].numpy(), s["image_t1"])
        seen.add(k)
        np.testing.assert_array_equal(out["pixel_values_t2"][i].numpy(), _reference(dihedral(s["image_t2"], k)))
        np.testing.assert_array_equal(out["labels"][i].numpy(), dihedral(s["change"], k))
        np.testing.assert_array_equal(out["labels_t1"][i].numpy(), dihedral(s["mask_t1"], k))
        np.testing.assert_array_equal(out["labels_t2"][i].numpy(), dihedral(s["mask_t2"], k))
    assert len(seen) >= 4  # not stuck on one transform


def test_timeseries_augmentation_is_shared_over_years():
    rng = np.random.default_rng(4)
    samples = [{"images": _image(rng, (3, 10, H, W)), "masks": _mask(rng, (3, H, W))} for _ in range(6)]
    out = TimeseriesCollator(augment=True, seed=0)(samples)
    assert out["pixel_values"].shape == (6, 3, 10, H, W) and out["labels"].shape == (6, 3, H, W)
    for i, s in enumerate(samples):
        k = _which_transform(out["pixel_values"][i, 0].numpy(), s["images"][0])
        for t in range(3):
            np.testing.assert_array_equal(out["pixel_values"][i, t].numpy(), _reference(dihedral(s["images"][t], k)))
            np.testing.assert_array_equal(out["labels"][i, t].numpy(), dihedral(s["masks"][t], k))


def test_augmentation_is_seeded():
    rng = np.random.default_rng(5)
    samples = [{"image": _image(rng), "mask": _mask(rng)} for _ in range(16)]
    a = MappingCollator(augment=True, seed=11)(samples)["pixel_values"]
    b = MappingCollator(augment=True, seed=11)(samples)["pixel_values"]
    c = MappingCollator(augment=True, seed=12)(samples)["pixel_values"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    plain = MappingCollator()(samples)["pixel_values"]
    assert not torch.equal(a, plain)


def test_pair_collator_computes_change_when_absent():
    rng = np.random.default_rng(6)
    m1, m2 = _mask(rng), _mask(rng)
    out = PairCollator()([{"image_t1": _image(rng), "image_t2": _image(rng), "mask_t1": m1, "mask_t2": m2}])
    np.testing.assert_array_equal(out["labels"][0].numpy(), np.abs(m2.astype(int) - m1.astype(int)))


@pytest.mark.parametrize(
    "sample, error, message",
    [
        ({"image": np.zeros((3, H, W), np.uint16), "mask": np.zeros((H, W), np.uint8)}, ValueError, r"'image'.*\(10, H, W\)"),
        ({"image": np.zeros((10, H, W), np.uint16), "mask": np.zeros((H, W + 1), np.uint8)}, ValueError, r"'mask'.*matching"),
        ({"image": np.zeros((10, H, W), np.uint16), "mask": np.zeros((H, W), np.float32)}, TypeError, r"'mask'.*dtype float32"),
        ({"image": np.zeros((10, H, W), bool), "mask": np.zeros((H, W), np.uint8)}, TypeError, r"'image'.*dtype bool"),
        ({"mask": np.zeros((H, W), np.uint8)}, KeyError, r"no 'image'"),
        ({"image": b"raw", "mask": np.zeros((H, W), np.uint8)}, TypeError, r"'image'.*bytes"),
    ],
)
def test_bad_input_is_named(sample, error, message):
    with pytest.raises(error, match=message):
        MappingCollator()([sample])


def test_mixed_shapes_and_empty_batch_are_refused():
    rng = np.random.default_rng(8)
    a = {"image": _image(rng), "mask": _mask(rng)}
    b = {"image": _image(rng, (10, 16, 16)), "mask": _mask(rng, (16, 16))}
    with pytest.raises(ValueError, match="sample 1"):
        MappingCollator()([a, b])
    with pytest.raises(ValueError, match="empty"):
        MappingCollator()([])
    with pytest.raises(ValueError, match="std"):
        MappingCollator(std=np.zeros(10))


def test_dihedral_group():
    x = np.arange(16).reshape(4, 4)
    outs = {dihedral(x, k).tobytes() for k in range(8)}
    assert len(outs) == 8
    with pytest.raises(ValueError):
        dihedral(x, 8)
