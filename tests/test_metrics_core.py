"""Hand-computed cases for every score of the metrics core, protocols, empties, state and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from euromine_hf.data.patching import extract_patches
from euromine_hf.metrics import ChangeScorer, MappingScorer, PostClassificationScorer, binary_counts, counts_torch


def m(*rows):
    return np.asarray(rows, dtype=np.uint8)


def test_confusion_counts_and_f1_family_by_hand():
    pred = m([1, 1], [0, 0])[None]
    ref = m([1, 0], [1, 0])[None]
    assert binary_counts(pred, ref).tolist() == [[1, 1, 1, 1]]
    s = MappingScorer(years=(2015,), temporal=False)
    s.add(pred, ref, years=[2015])
    r = s.compute()
    assert r["F1_2015"] == pytest.approx(0.5) and r["OF1"] == pytest.approx(0.5)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5)
    assert r["IoU"] == pytest.approx(1 / 3)


def test_nonzero_is_positive_and_float_rejected():
    pred = m([255, 0], [2, 0])[None]
    ref = m([1, 0], [0, 0])[None]
    assert binary_counts(pred, ref).tolist() == [[1, 1, 0, 2]]
    assert binary_counts(pred.astype(np.int64), ref.astype(bool)).tolist() == [[1, 1, 0, 2]]
    with pytest.raises(TypeError, match="predictions"):
        binary_counts(pred.astype(np.float32), ref)


def _three_year_case():
    G = np.stack([m([1, 1, 0, 0]), m([1, 0, 0, 0]), m([1, 0, 0, 0])])
    P = np.stack([m([1, 1, 1, 0]), m([1, 0, 0, 1]), m([1, 0, 0, 1])])
    return P, G


def test_ca_tiou_by_hand():
    # pair (1,2): U = {0,2,3}; inside U inter = {0}, union = {0,2,3} -> 1/3
    # pair (2,3): U = all; P2 == P3 -> 1; pair (1,3) as (1,2) -> 1/3
    P, G = _three_year_case()
    s = MappingScorer(years=(2015, 2016, 2017))
    for t in range(3):
        s.add(P[t][None], G[t][None], sites=["A"], patches=[0], years=[2015 + t])
    r = s.compute()
    assert r["LCA-TIoU"] == pytest.approx((1 / 3 + 1) / 2)
    assert r["GCA-TIoU"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    pw = s.compute_pairwise()
    assert pw == pytest.approx({"CA-TIoU_2015_2016": 1 / 3, "CA-TIoU_2015_2017": 1 / 3, "CA-TIoU_2016_2017": 1.0})


def test_timeseries_input_equals_per_year_input():
    P, G = _three_year_case()
    a = MappingScorer(years=(2015, 2016, 2017), post_classification=True)
    a.add(P[None], G[None], sites=["A"], patches=[0], years=[2015, 2016, 2017])
    b = MappingScorer(years=(2015, 2016, 2017), post_classification=True)
    for t in (2, 0, 1):
        b.add(P[t][None], G[t][None], sites=["A"], patches=[0], years=[2015 + t])
    assert a.compute() == pytest.approx(b.compute())
    assert a.compute_post_classification() == pytest.approx(b.compute_post_classification())


def test_post_classification_by_hand():
    # dp = |P2 - P1| = [0,1,1,0]; dg = |G2 - G1| = [0,0,1,0] -> tp 1, fp 1, fn 0 -> F1 2/3
    P = np.stack([m([1, 1, 0, 0]), m([1, 0, 1, 0])])
    G = np.stack([m([1, 1, 0, 0]), m([1, 1, 1, 0])])
    s = PostClassificationScorer(years=(2015, 2016))
    s.add(P[None], G[None], sites="A", patches=[0], years=[2015, 2016])
    r = s.compute()
    assert r["F1_interval_1"] == pytest.approx(2 / 3) and r["OF1"] == pytest.approx(2 / 3)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(1.0)


def test_change_interval_f1_pools_pairs_of_one_interval():
    c = ChangeScorer()
    # interval 1: pair a tp1 fp1, pair b fn2 -> pooled tp1 fp1 fn2 -> 2/5; interval 2: tp2 -> 1
    c.add(m([1, 1, 0, 0])[None], m([1, 0, 0, 0])[None], year_t1=[2015], year_t2=[2016], sites="S", patches=[0])
    c.add(m([0, 0, 0, 0])[None], m([1, 1, 0, 0])[None], year_t1=[2016], year_t2=[2017], sites="S", patches=[0])
    c.add(m([1, 1, 0, 0])[None], m([1, 1, 0, 0])[None], year_t1=[2015], year_t2=[2017], sites="S", patches=[0])
    r = c.compute()
    assert r["F1_interval_1"] == pytest.approx(2 / 5)
    assert r["F1_interval_2"] == pytest.approx(1.0)
    assert r["OF1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    # change ground truth formed from the two mapping references
    d = ChangeScorer()
    d.add(m([1, 1, 0, 0])[None], references_t1=m([1, 0, 0, 1])[None], references_t2=m([0, 0, 0, 1])[None], intervals=[1])
    assert d.compute()["F1_interval_1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="year_t2"):
        c.add(m([1])[None], m([1])[None], year_t1=[2017], year_t2=[2016])


def _site_micro_patch_case(scorer):
    # site A: one 2x2 patch tp1 fp1 fn1 (F1 1/2), 4 px
    scorer.add(m([1, 1], [0, 0])[None], m([1, 0], [1, 0])[None], sites=["A"], patches=[0], years=[2015])
    # site B: three 2x2 patches, 12 px: (tp2) F1 1, (fn1) F1 0, (tp1) F1 1 -> pooled tp3 fn1 -> 6/7
    pred = np.stack([m([1, 1], [0, 0]), m([0, 0], [0, 0]), m([1, 0], [0, 0])])
    ref = np.stack([m([1, 1], [0, 0]), m([0, 0], [0, 1]), m([1, 0], [0, 0])])
    scorer.add(pred, ref, sites=["B"] * 3, patches=[0, 1, 2], years=[2015] * 3)
    return scorer


def test_site_micro_patch_differ_and_match_hand_values():
    s = _site_micro_patch_case(MappingScorer(years=(2015,), temporal=False))
    site, micro, patch = (s.compute(protocol=p)["F1_2015"] for p in ("site", "micro", "patch"))
    assert site == pytest.approx((4 * 0.5 + 12 * 6 / 7) / 16)
    assert micro == pytest.approx(8 / 11)  # pooled tp4 fp1 fn2
    assert patch == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert len({round(site, 9), round(micro, 9), round(patch, 9)}) == 3


def test_overlapping_edge_pixels_count_once():
    rng = np.random.default_rng(0)
    H, W = 170, 333  # overlapping last row/column of patches
    G = (rng.random((2, H, W)) < 0.3).astype(np.uint8)
    P = G ^ (rng.random((2, H, W)) < 0.2).astype(np.uint8)
    pp, offsets = extract_patches(P)
    gp, _ = extract_patches(G)
    rows, cols = np.asarray(offsets).T
    s = MappingScorer(years=(2015, 2016))
    s.add(pp, gp, sites="X", patches=np.arange(len(offsets)), years=[2015, 2016], rows=rows, cols=cols, site_heights=H, site_widths=W)
    tp = (P & G).sum()
    fp = (P & (1 - G)).sum()
    fn = ((1 - P) & G).sum()
    assert s.compute()["OF1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    U = G[0] == G[1]
    ca = (P[0] & P[1] & U).sum() / ((P[0] | P[1]) & U).sum()
    assert s.compute()["GCA-TIoU"] == pytest.approx(ca)
    # patch protocol: every patch whole (overlaps counted per patch), unweighted mean
    f1s = []
    for i in range(len(offsets)):
        p, g = pp[i].astype(bool), gp[i].astype(bool)
        t, a, b = (p & g).sum(), (p & ~g).sum(), (~p & g).sum()
        f1s.append(2 * t / (2 * t + a + b))
    assert s.compute(protocol="patch")["OF1"] == pytest.approx(np.mean(f1s))


def test_small_site_padding_is_not_counted():
    G = np.zeros((100, 120), np.uint8)
    G[:10] = 1
    P = G.copy()
    P[50:60, :5] = 1  # 50 fp pixels inside the site
    pp, offsets = extract_patches(P)  # wrap-padded to 160x160: padding repeats the fp rows
    gp, _ = extract_patches(G)
    s = MappingScorer(years=(2015,), temporal=False)
    s.add(pp, gp, years=[2015], rows=[0], cols=[0], site_heights=[100], site_widths=[120])
    tp = 10 * 120
    assert s.compute()["precision"] == pytest.approx(tp / (tp + 50))


@pytest.mark.parametrize(
    "empty, expected",
    [("skip", 0.5), ("one", (4 * 1.0 + 4 * 0.5) / 8), ("zero", (4 * 0.0 + 4 * 0.5) / 8)],
)
def test_empty_f1_rules(empty, expected):
    s = MappingScorer(years=(2015,), temporal=False, empty=empty)
    s.add(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 2), np.uint8), sites=["empty"], years=[2015])
    s.add(m([1, 1], [0, 0])[None], m([1, 0], [1, 0])[None], sites=["B"], years=[2015])
    r = s.compute()
    assert r["F1_2015"] == pytest.approx(expected)
    assert all(np.isfinite(v) for v in r.values())


def test_everything_empty_is_defined():
    z = np.zeros((1, 1, 4), np.uint8)
    for empty, expected in (("skip", 1.0), ("one", 1.0), ("zero", 0.0)):
        s = MappingScorer(years=(2015, 2016), empty=empty)
        s.add(np.concatenate([z, z])[None], np.concatenate([z, z])[None], sites="A", patches=[0], years=[2015, 2016])
        for protocol in ("site", "micro", "patch"):
            r = s.compute(protocol=protocol)
            assert r["OF1"] == expected and r["GCA-TIoU"] == expected and r["LCA-TIoU"] == expected
            assert r["precision"] == expected and r["recall"] == expected


def test_empty_union_inside_unchanged_region():
    # site E: predictions only where the reference changed -> union inside U empty
    G = np.stack([m([1, 0]), m([0, 0])])
    P = np.stack([m([1, 0]), m([0, 0])])
    # site F: CA 1/2 by hand: U = all; inter {0}, union {0,1}
    G2 = np.stack([m([1, 1]), m([1, 1])])
    P2 = np.stack([m([1, 1]), m([1, 0])])
    res = {}
    for empty in ("skip", "one", "zero"):
        s = MappingScorer(years=(2015, 2016), empty=empty)
        s.add(P[None], G[None], sites=["E"], patches=[0], years=[2015, 2016])
        s.add(P2[None], G2[None], sites=["F"], patches=[0], years=[2015, 2016])
        res[empty] = s.compute()["GCA-TIoU"]
    assert res == pytest.approx({"skip": 0.5, "one": 0.75, "zero": 0.25})


def test_merge_sums_counts_and_pending_years():
    rng = np.random.default_rng(1)
    G = (rng.random((3, 10, 16, 16)) < 0.4).astype(np.uint8)
    P = (rng.random((3, 10, 16, 16)) < 0.4).astype(np.uint8)
    whole = MappingScorer(post_classification=True)
    whole.add(P, G, sites=["a", "b", "b"], patches=[0, 0, 1], years=list(range(2015, 2025)))
    shards = [MappingScorer(post_classification=True) for _ in range(2)]
    for n, site in enumerate(["a", "b", "b"]):
        for t in range(10):  # years of one patch split between the shards
            shards[(n + t) % 2].add(P[n, t][None], G[n, t][None], sites=[site], patches=[[0, 0, 1][n]], years=[2015 + t])
    merged = shards[0].merge(shards[1])
    assert merged.compute() == pytest.approx(whole.compute())
    assert merged.compute_post_classification() == pytest.approx(whole.compute_post_classification())
    restored = MappingScorer(post_classification=True)
    restored.load_state_dict(whole.state_dict())
    assert restored.compute() == pytest.approx(whole.compute())


def test_duplicate_sample_and_bad_inputs_raise_clear_errors():
    s = MappingScorer(years=(2015, 2016))
    s.add(m([1, 0])[None], m([1, 0])[None], sites=["A"], patches=[0], years=[2015])
    with pytest.raises(ValueError, match="added twice"):
        s.add(m([1, 0])[None], m([1, 0])[None], sites=["A"], patches=[0], years=[2015])
    with pytest.raises(ValueError, match="years: \\[2030\\]"):
        s.add(m([1, 0])[None], m([1, 0])[None], sites=["A"], patches=[1], years=[2030])
    with pytest.raises(ValueError, match="patches: required"):
        s.add(m([1, 0])[None], m([1, 0])[None], years=[2016])
    with pytest.raises(ValueError, match="expected equal shapes"):
        s.add(m([1, 0])[None], m([1, 0, 0])[None], patches=[3], years=[2016])
    with pytest.raises(ValueError, match="protocol"):
        s.compute(protocol="macro")
    with pytest.raises(ValueError, match="empty"):
        MappingScorer(empty="nan")
    with pytest.raises(ValueError, match="no samples"):
        MappingScorer().compute()


def test_torch_paths_agree_with_numpy():
    rng = np.random.default_rng(2)
    G = (rng.random((4, 2, 24, 24)) < 0.5).astype(np.uint8)
    P = (rng.random((4, 2, 24, 24)) < 0.5).astype(np.uint8)
    expected = binary_counts(P[:, 0], G[:, 0])
    assert counts_torch(torch.from_numpy(P[:, 0]), torch.from_numpy(G[:, 0])).numpy().tolist() == expected.tolist()
    assert binary_counts(torch.from_numpy(P[:, 0]), torch.from_numpy(G[:, 0])).tolist() == expected.tolist()
    a, b = MappingScorer(years=(2015, 2016)), MappingScorer(years=(2015, 2016))
    a.add(P, G, patches=np.arange(4), years=[2015, 2016])
    b.add(torch.from_numpy(P), torch.from_numpy(G), patches=torch.arange(4), years=torch.tensor([2015, 2016]))
    assert a.compute() == pytest.approx(b.compute())
    owned = torch.zeros(24, 24, dtype=torch.bool)
    owned[:10] = True
    c = counts_torch(torch.from_numpy(P[:, 0]), torch.from_numpy(G[:, 0]), owned)
    assert c.numpy().tolist() == binary_counts(P[:, 0, :10], G[:, 0, :10]).tolist()


def test_precomputed_counts_equal_masks():
    rng = np.random.default_rng(3)
    G = (rng.random((6, 8, 8)) < 0.5).astype(np.uint8)
    P = (rng.random((6, 8, 8)) < 0.5).astype(np.uint8)
    sites = ["a", "a", "b", "b", "c", "c"]
    years = [2015, 2016] * 3
    a = MappingScorer(temporal=False)
    a.add(P, G, sites=sites, patches=[0] * 6, years=years)
    b = MappingScorer(temporal=False)
    b.add_counts(binary_counts(P, G), sites=sites, patches=[0] * 6, years=years)
    assert a.compute() == pytest.approx(b.compute())
    c = ChangeScorer()
    c.add_counts(binary_counts(P, G), sites=sites, year_t1=[2015] * 6, year_t2=[2016] * 6)
    d = ChangeScorer()
    d.add(P, G, sites=sites, year_t1=2015, year_t2=2016)
    assert c.compute() == pytest.approx(d.compute())


# --- silent acceptance: each of these used to return a score -------------------------------------
def test_a_sample_added_twice_is_named_not_double_counted():
    pred, ref = m([1, 1], [0, 0])[None], m([1, 0], [1, 0])[None]
    s = MappingScorer(years=(2015, 2016), temporal=False)
    s.add(pred, ref, sites="Spain_1", patches=[3], years=[2016])
    s.add(pred, ref, sites="Spain_1", patches=[3], years=[2016])
    with pytest.raises(ValueError, match=r"site 'Spain_1', patch 3, year 2016: added twice"):
        s.compute()
    c = ChangeScorer()
    c.add_counts([[1, 0, 0, 3]] * 2, sites="A", patches=[0, 0], year_t1=2015, year_t2=2017)
    with pytest.raises(ValueError, match=r"site 'A', patch 0, year_t1 2015, year_t2 2017: added twice"):
        c.compute()
    # shards that scored the same sample: the merge names it
    a, b = ChangeScorer(), ChangeScorer()
    a.add_counts([[1, 0, 0, 3]], sites="A", patches=[1], year_t1=2015, year_t2=2016)
    b.add_counts([[1, 0, 0, 3]], sites="A", patches=[1], year_t1=2015, year_t2=2016)
    with pytest.raises(ValueError, match="added twice"):
        a.merge(b).compute()
    # rows without patch indices cannot be told apart: they are pooled as before
    u = ChangeScorer()
    u.add_counts([[1, 0, 0, 3]] * 2, year_t1=2015, year_t2=2016)
    assert u.compute(protocol="micro")["OF1"] == pytest.approx(1.0)


def test_change_years_outside_the_series_and_double_references_are_errors():
    pred = m([1, 0], [0, 0])[None]
    with pytest.raises(ValueError, match="intervals: expected 1..9.*got 12"):
        ChangeScorer().add(pred, pred, intervals=[12])
    with pytest.raises(ValueError, match="year_t2: expected one of the years 2015-2024, got 2027"):
        ChangeScorer().add(pred, pred, year_t1=[2015], year_t2=[2027])
    with pytest.raises(ValueError, match="year_t1: .* got 2010"):
        ChangeScorer().add_counts([[1, 0, 0, 0]], year_t1=[2010], year_t2=[2016])
    with pytest.raises(ValueError, match="not both"):
        ChangeScorer().add(pred, pred, references_t1=pred, references_t2=pred, year_t1=[2015], year_t2=[2016])
    assert ChangeScorer(years=range(2000, 2020)).add(pred, pred, intervals=[12]) is None  # a longer series allows it


def test_ca_tiou_of_an_incomplete_series_is_an_error_or_a_named_warning():
    years = (2015, 2016, 2017)
    same = m([1, 1], [0, 0])[None]
    strict = MappingScorer(years=years, incomplete="error")
    for y in (2015, 2016):  # patch 0 misses 2017: its one pair would give GCA = LCA = 1.0
        strict.add(same, same, sites="A", patches=[0], years=[y])
    strict.add(same, same, sites="A", patches=[1], years=[2017])  # patch 1 has a single year, no pair at all
    with pytest.raises(ValueError, match=r"2 patch\(es\).*site 'A', patch 0: years \[2015, 2016\], missing \[2017\]"):
        strict.compute()
    with pytest.raises(ValueError, match="post-classification: 1 patch"):
        _partial_post(years).compute()
    lenient = MappingScorer(years=years)  # default "warn": the rule for truncated evaluation sets
    lenient.add(same, same, sites="A", patches=[0], years=[2015])
    lenient.add(same, same, sites="A", patches=[0], years=[2016])
    with pytest.warns(UserWarning, match=r"patch 0: years \[2015, 2016\], missing \[2017\]"):
        assert lenient.compute()["GCA-TIoU"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="incomplete"):
        MappingScorer(incomplete="ignore")
    # timeseries with a subset of the years: named too
    ts = MappingScorer(years=years, incomplete="error")
    ts.add(np.stack([same, same], 1), np.stack([same, same], 1), sites="B", patches=[4], years=[2015, 2017])
    with pytest.raises(ValueError, match=r"site 'B', patch 4: years \[2015, 2017\], missing \[2016\]"):
        ts.compute_ca_tiou()


def _partial_post(years):
    s = PostClassificationScorer(years=years, incomplete="error")
    one = m([1, 0], [0, 0])[None]
    s.add(one, one, sites="A", patches=[0], years=[years[0]])
    s.add(one, one, sites="A", patches=[0], years=[years[1]])
    return s


@pytest.mark.parametrize("bad,found", [(float("nan"), "found NaN in 1 row"), (float("inf"), "found an infinity"),
                                       (2.5, "found 2.5"), (-1, "negative values in ['fp']")])
def test_count_rows_report_nan_as_nan_not_as_negative(bad, found):
    """NaN cast to int64 is a huge negative number: it was reported as "negative values"."""
    import warnings

    rows = np.array([[1, bad, 0, 3]], dtype=np.float64 if isinstance(bad, float) else np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even the cast warning: the value is checked before
        with pytest.raises(ValueError, match="column fp" if found != "negative values in ['fp']" else "counts >= 0") as m:
            MappingScorer().add_counts(rows, sites=["A"], patches=[0], years=[2015])
        assert found in str(m.value)
        with pytest.raises(ValueError) as c:
            ChangeScorer().add_counts(rows, sites=["A"], year_t1=[2015], year_t2=[2016])
        assert found in str(c.value)
        if isinstance(bad, float) and not np.isfinite(bad):
            with pytest.raises(ValueError, match="fp: expected integers, found (NaN|an infinity)"):
                MappingScorer().add_rows("mapping", {"site": ["A"], "patch": [0], "year": [2015], "tp": [1], "fp": [bad],
                                                     "fn": [0], "tn": [3], "tp_full": [1], "fp_full": [0], "fn_full": [0], "tn_full": [3]})
