"""Patching as published: grid, edge-aligned last row/column, wrap padding, inverse, ownership."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euromine_hf.data.patching import (
    extract_patches,
    num_patches,
    ownership_mask,
    ownership_window,
    pad_to_patch,
    patch_offsets,
    reconstruct,
)

sizes = st.integers(min_value=1, max_value=500)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (160, 160, [(0, 0)]),
        (320, 160, [(0, 0), (160, 0)]),
        (170, 330, [(0, 0), (0, 160), (0, 170), (10, 0), (10, 160), (10, 170)]),
        (100, 50, [(0, 0)]),
        (100, 400, [(0, 0), (0, 160), (0, 240)]),
        (481, 161, [(0, 0), (0, 1), (160, 0), (160, 1), (320, 0), (320, 1), (321, 0), (321, 1)]),
    ],
)
def test_exact_offsets(height: int, width: int, expected: list[tuple[int, int]]) -> None:
    assert patch_offsets(height, width) == expected


@given(sizes, sizes)
def test_patch_count_and_edges(height: int, width: int) -> None:
    offsets = patch_offsets(height, width)
    assert len(offsets) == num_patches(height, width) == math.ceil(height / 160) * math.ceil(width / 160)
    assert offsets == sorted(offsets)  # row-major
    rows = sorted({r for r, _ in offsets})
    cols = sorted({c for _, c in offsets})
    assert rows[-1] == max(height - 160, 0) and cols[-1] == max(width - 160, 0)
    assert all(r % 160 == 0 for r in rows[:-1]) and all(c % 160 == 0 for c in cols[:-1])


@settings(max_examples=40, deadline=None)
@given(sizes, sizes, st.integers(1, 3))
def test_reconstruction_is_identity(height: int, width: int, bands: int) -> None:
    rng = np.random.default_rng(height * 1000 + width)
    site = rng.integers(0, 10000, size=(bands, height, width), dtype=np.uint16)
    patches, offsets = extract_patches(site)
    assert patches.shape == (len(offsets), bands, 160, 160)
    assert patches.dtype == np.uint16
    np.testing.assert_array_equal(reconstruct(patches, offsets, height, width), site)
    # 2-D masks too
    np.testing.assert_array_equal(reconstruct(*extract_patches(site[0]), height, width), site[0])


def test_reconstruct_writes_each_pixel_from_first_covering_patch() -> None:
    patches = np.stack([np.full((160, 160), i + 1, dtype=np.int32) for i in range(4)])
    out = reconstruct(patches, patch_offsets(170, 170), 170, 170)
    assert out[0, 0] == 1 and out[100, 165] == 2 and out[165, 100] == 3 and out[165, 165] == 4
    assert out[10, 10] == 1  # overlapped by all four; the first wins


def test_reconstruct_generic_offsets_first_listed_patch_wins_and_gaps_stay_zero() -> None:
    """Offsets that are not the published grid (a subset, another order, overlaps): each pixel comes
    from the first patch in the list that covers it; pixels no patch covers are 0. Oracle: a loop
    over pixels written here."""
    height, width, size = 300, 260, 160
    offsets = [(100, 90), (0, 0), (140, 100), (120, 0)]  # not row-major, overlapping, partly off the edge
    patches = np.stack([np.full((size, size), i + 1, dtype=np.int32) for i in range(len(offsets))])
    patches += np.arange(size * size, dtype=np.int32).reshape(size, size) * 10  # position inside the patch shows too
    expected = np.zeros((height, width), dtype=np.int32)
    for y in range(height):
        for x in range(width):
            for patch, (r, c) in zip(patches, offsets):
                if r <= y < r + size and c <= x < c + size:
                    expected[y, x] = patch[y - r, x - c]
                    break
    assert offsets != patch_offsets(height, width, size)
    out = reconstruct(patches, offsets, height, width, size)
    np.testing.assert_array_equal(out, expected)
    assert (out[:100, 160:] == 0).all() and out[150, 150] % 10 == 1  # a gap; the first patch wins its overlap


def test_small_site_wrap_padding() -> None:
    site = np.arange(3 * 5, dtype=np.uint16).reshape(3, 5)
    padded = pad_to_patch(site, size=8)
    assert padded.shape == (8, 8)
    np.testing.assert_array_equal(padded[:, :5][:3], site)
    np.testing.assert_array_equal(padded[3:6, :5], site)  # rows repeat from the first row
    np.testing.assert_array_equal(padded[:3, 5:8], site[:, :3])  # columns repeat from the first column
    np.testing.assert_array_equal(padded[6:8, 5:8], site[:2, :3])
    # through extract_patches at the real size
    small = np.random.default_rng(0).integers(0, 255, size=(2, 100, 40)).astype(np.uint8)
    patches, offsets = extract_patches(small)
    assert offsets == [(0, 0)]
    np.testing.assert_array_equal(patches[0][:, :100, :40], small)
    np.testing.assert_array_equal(patches[0][:, 100:160, :40], small[:, :60])
    np.testing.assert_array_equal(patches[0][:, :100, 40:80], small)
    np.testing.assert_array_equal(reconstruct(patches, offsets, 100, 40), small)


def test_no_padding_copy_when_large_enough() -> None:
    site = np.zeros((200, 200), dtype=np.uint8)
    assert pad_to_patch(site) is site


@settings(max_examples=60, deadline=None)
@given(sizes, sizes)
def test_ownership_partitions_the_site(height: int, width: int) -> None:
    cover = np.zeros((height, width), dtype=np.int32)
    for r, c in patch_offsets(height, width):
        own = ownership_mask(r, c, height, width)
        assert own.shape == (160, 160) and own.dtype == bool
        ys, xs = np.nonzero(own)
        cover[r + ys, c + xs] += 1  # never lands in padding: owned pixels are real site pixels
    assert (cover == 1).all()


def test_ownership_counts_equal_whole_site_counts() -> None:
    rng = np.random.default_rng(1)
    site = (rng.random((333, 170)) > 0.6).astype(np.uint8)
    patches, offsets = extract_patches(site)
    total = sum(int(p[ownership_mask(r, c, 333, 170)].sum()) for p, (r, c) in zip(patches, offsets))
    assert total == int(site.sum())
    window_total = 0
    for p, (r, c) in zip(patches, offsets):
        rs, cs = ownership_window(r, c, 333, 170)
        window_total += int(p[rs, cs].sum())
    assert window_total == total


def test_ownership_masks_are_cached_and_read_only() -> None:
    a = ownership_mask(160, 10, 320, 170)
    assert a is ownership_mask(160, 10, 320, 170)
    with pytest.raises(ValueError):
        a[0, 0] = True
    unknown = ownership_mask(-1, -1, -1, -1)
    assert unknown.all()
    with pytest.raises(ValueError, match="offset"):
        ownership_mask(5, 0, 320, 320)


def test_reconstruct_rejects_mismatched_inputs() -> None:
    patches = np.zeros((2, 160, 160), dtype=np.uint8)
    with pytest.raises(ValueError, match="2 patches but 1 offsets"):
        reconstruct(patches, [(0, 0)], 160, 160)


# ---- other patch sizes and the edges of the input checks (found by mutation testing) -----------


def test_a_non_default_patch_size_is_used_throughout() -> None:
    """size=8 on a 13x20 site: the grid, the padding, the patches and their inverse all follow it."""
    site = np.arange(2 * 13 * 20, dtype=np.int32).reshape(2, 13, 20)
    assert patch_offsets(13, 20, 8) == [(0, 0), (0, 8), (0, 12), (5, 0), (5, 8), (5, 12)]
    patches, offsets = extract_patches(site, 8)
    assert patches.shape == (6, 2, 8, 8) and patches.dtype == site.dtype and offsets == patch_offsets(13, 20, 8)
    for patch, (r, c) in zip(patches, offsets):
        np.testing.assert_array_equal(patch, site[:, r : r + 8, c : c + 8])
    np.testing.assert_array_equal(reconstruct(patches, offsets, 13, 20, 8), site)
    np.testing.assert_array_equal(reconstruct(patches, offsets, 13, 20), site)  # size read off the patches
    small = np.arange(5 * 3, dtype=np.uint8).reshape(5, 3)
    padded = pad_to_patch(small, 8)
    assert padded.shape == (8, 8) and padded.dtype == np.uint8
    np.testing.assert_array_equal(padded, small[np.arange(8) % 5][:, np.arange(8) % 3])
    for dtype in (np.float32, np.uint16):
        assert reconstruct(np.ones((1, 8, 8), dtype), [(0, 0)], 8, 8).dtype == dtype  # the patches' dtype is kept


def test_generic_reconstruct_crops_patches_at_the_site_edge() -> None:
    """An off-grid patch reaching past the bottom-right edge is cropped, not shifted or refused."""
    patch = np.arange(64, dtype=np.int32).reshape(1, 8, 8) + 1
    out = reconstruct(patch, [(7, 9)], 10, 12, 8)
    expected = np.zeros((10, 12), np.int32)
    expected[7:10, 9:12] = patch[0, :3, :3]
    np.testing.assert_array_equal(out, expected)


def test_a_site_of_exactly_one_patch_is_not_copied() -> None:
    site = np.zeros((160, 160), dtype=np.uint8)
    assert pad_to_patch(site) is site
    assert pad_to_patch(np.zeros((8, 30)), 8).shape == (8, 30)


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_patch_size_must_be_a_positive_integer(size) -> None:
    with pytest.raises(ValueError, match=r"patch size: expected a positive integer, got"):
        patch_offsets(10, 10, size)


def test_patch_size_one_is_valid() -> None:
    assert patch_offsets(3, 2, 1) == [(r, c) for r in range(3) for c in range(2)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pad_to_patch(np.zeros(5)), r"pad_to_patch: expected an array with at least 2 dimensions, got shape \(5,\)"),
        (lambda: pad_to_patch(np.zeros((0, 5))), r"pad_to_patch: cannot pad an empty raster of shape \(0, 5\)"),
        (lambda: pad_to_patch(np.zeros((5, 0))), r"pad_to_patch: cannot pad an empty raster of shape \(5, 0\)"),
        (lambda: extract_patches(np.zeros(5)), r"extract_patches: expected an array \(\.\.\., H, W\), got shape \(5,\)"),
        (lambda: reconstruct(np.zeros((2, 8)), [(0, 0)], 8, 8), r"reconstruct: expected patches \(N, \.\.\., size, size\), got shape \(2, 8\)"),
        (lambda: reconstruct(np.zeros((1, 8, 9)), [(0, 0)], 8, 8), r"reconstruct: expected square 9x9 patches, got shape \(1, 8, 9\)"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(0, 0)], 8, 8, 9), r"reconstruct: expected square 9x9 patches, got shape \(1, 8, 8\)"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(0, 0)], 0, 8), r"reconstruct: expected a positive site size, got 0x8"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(0, 0)], 8, 0), r"reconstruct: expected a positive site size, got 8x0"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(8, 0)], 8, 20), r"reconstruct: patch offset \(8, 0\) lies outside a 8x20 site"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(0, 20)], 8, 20), r"reconstruct: patch offset \(0, 20\) lies outside a 8x20 site"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(-1, 0)], 8, 20), r"reconstruct: patch offset \(-1, 0\) lies outside"),
        (lambda: reconstruct(np.zeros((1, 8, 8)), [(0, -1)], 8, 20), r"reconstruct: patch offset \(0, -1\) lies outside"),
    ],
)
def test_bad_inputs_name_the_function_and_what_was_expected(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
