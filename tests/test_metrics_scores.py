"""The averaging helpers of the scoring core, against their documented contracts (found by mutation testing)."""

from __future__ import annotations

import numpy as np
import pytest

from euromine_hf.metrics.scores import group_ids, mean_ratio, ratio


def _oracle_ids(*keys):
    rows = list(zip(*[np.asarray(k).tolist() for k in keys]))
    order = {key: i for i, key in enumerate(sorted(set(rows)))}
    return np.array([order[r] for r in rows], np.int64), len(order)


@pytest.mark.parametrize("columns,low,high", [(1, -5, 5), (2, 0, 3), (3, -100, 100)])
def test_group_ids_are_dense_and_in_sorted_key_order(columns, low, high):
    rng = np.random.default_rng(columns)
    keys = [rng.integers(low, high, 500) for _ in range(columns)]
    ids, n = group_ids(*keys)
    expected, m = _oracle_ids(*keys)
    assert n == m and ids.dtype == np.int64 and ids.shape == (500,)
    np.testing.assert_array_equal(ids, expected)


def test_group_ids_when_the_mixed_radix_would_overflow():
    """Four columns of 70k distinct values each: 70k^4 > 2^63, so the ids must be densified midway
    (combining all four in one int64 would overflow)."""
    rng = np.random.default_rng(0)
    n = 70_000
    keys = [rng.permutation(n) * 7 - 3 for _ in range(4)]
    keys = [np.concatenate([k, k[:500]]) for k in keys]  # repeated tuples exist
    ids, count = group_ids(*keys)
    assert count == n and (ids[n:] == ids[:500]).all()
    expected, m = _oracle_ids(*keys)
    assert count == m
    np.testing.assert_array_equal(ids, expected)
    wide = [rng.integers(0, 2**40, 3000) for _ in range(3)]  # 3000^3 < 2^62 but huge raw values
    np.testing.assert_array_equal(group_ids(*wide)[0], _oracle_ids(*wide)[0])


def test_group_ids_of_nothing():
    for args in ((), (np.array([], np.int64),), (np.array([], np.int64), np.array([], np.int64))):
        ids, n = group_ids(*args)
        assert n == 0 and ids.shape == (0,) and ids.dtype == np.int64


def test_ratio_takes_integer_counts_and_applies_the_empty_rule():
    num, den = np.array([1, 3, 0, 0]), np.array([2, 4, 0, -1])
    for empty, fill, valid in (("skip", 0.0, [True, True, False, False]), ("one", 1.0, [True] * 4), ("zero", 0.0, [True] * 4)):
        values, ok = ratio(num, den, empty)
        assert values.dtype == np.float64
        np.testing.assert_array_equal(values, [0.5, 0.75, fill, fill])
        np.testing.assert_array_equal(ok, valid)


def test_weights_are_used_and_zero_weights_fall_back_to_a_plain_mean():
    units = np.array([0, 1, 1])
    num, den = np.array([1.0, 1.0, 1.0]), np.array([1.0, 4.0, 4.0])  # unit 0: 1.0, unit 1: 0.25
    assert mean_ratio(units, np.array([0.25, 0.5]), num, den, "skip") == pytest.approx((0.25 * 1.0 + 0.5 * 0.25) / 0.75)
    assert mean_ratio(units, np.array([3, 1]), num, den, "skip") == pytest.approx((3 * 1.0 + 0.25) / 4)
    assert mean_ratio(units, np.zeros(2), num, den, "skip") == pytest.approx((1.0 + 0.25) / 2)
    # a unit id with no rows (a site without this year) enters no mean, whatever the empty rule
    for empty in ("skip", "one", "zero"):
        assert mean_ratio(np.array([0, 0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([4.0, 4.0]), empty) == pytest.approx(0.25)


def test_group_ids_stay_exact_past_float_precision():
    """Three columns of 2^19 values each, rows in pairs differing only in the last key's lowest bit:
    combined ids reach 2^57, beyond float64's exact integers (2^53), so a float sum would merge pairs."""
    rng = np.random.default_rng(1)
    base = rng.permutation(2**19)
    keys = [np.concatenate([base, base]), np.concatenate([base, base]), np.concatenate([base, base ^ 1])]
    ids, count = group_ids(*keys)
    assert count == 2**20
    expected = np.empty(2**20, np.int64)
    expected[np.lexsort(keys[::-1])] = np.arange(2**20)  # rank of each (k0, k1, k2) tuple; all distinct
    np.testing.assert_array_equal(ids, expected)
