"""Property tests (hypothesis) of CA-TIoU and the streaming/merging behaviour of the scorers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euromine_hf.metrics import ChangeScorer, MappingScorer

YEARS4 = (2015, 2016, 2017, 2018)
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def series(draw, n_max=3, t=4, side_max=9):
    n = draw(st.integers(1, n_max))
    h = draw(st.integers(1, side_max))
    w = draw(st.integers(1, side_max))
    seed = draw(st.integers(0, 2**32 - 1))
    p_mine = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))
    rng = np.random.default_rng(seed)
    G = (rng.random((n, t, h, w)) < p_mine).astype(np.uint8)
    P = (rng.random((n, t, h, w)) < draw(st.sampled_from([0.0, 0.2, 0.5]))).astype(np.uint8)
    sites = [draw(st.sampled_from(["a", "b"])) for _ in range(n)]
    return P, G, sites


def _ts(P, G, sites, years=YEARS4, **kw):
    s = MappingScorer(years=years, post_classification=True, **kw)
    s.add(P, G, sites=sites, patches=np.arange(len(P)), years=list(years))
    return s


@SETTINGS
@given(series(), st.sampled_from(["site", "micro", "patch"]), st.sampled_from(["skip", "one", "zero"]))
def test_every_score_in_unit_interval(data, protocol, empty):
    P, G, sites = data
    s = _ts(P, G, sites)
    for r in (s.compute(protocol=protocol, empty=empty), s.compute_post_classification(protocol=protocol, empty=empty),
              s.compute_pairwise(protocol=protocol, empty=empty)):
        for k, v in r.items():
            assert 0.0 <= v <= 1.0, (k, v)


@SETTINGS
@given(series(t=2), st.sampled_from(["site", "micro", "patch"]))
def test_ca_tiou_symmetric(data, protocol):
    P, G, sites = data
    a = _ts(P, G, sites, years=(2015, 2016)).compute(protocol=protocol)["GCA-TIoU"]
    b = _ts(P[:, ::-1], G[:, ::-1], sites, years=(2015, 2016)).compute(protocol=protocol)["GCA-TIoU"]
    assert a == pytest.approx(b)


@SETTINGS
@given(series(), st.sampled_from(["site", "micro", "patch"]))
def test_perfect_predictions_score_one(data, protocol):
    _, G, sites = data
    r = _ts(G.copy(), G, sites).compute(protocol=protocol)
    assert r["LCA-TIoU"] == 1.0 and r["GCA-TIoU"] == 1.0 and r["OF1"] == 1.0


@SETTINGS
@given(series(t=2), st.integers(0, 2**32 - 1), st.sampled_from(["site", "micro", "patch"]))
def test_predictions_inside_changed_region_do_not_matter(data, seed, protocol):
    P, G, sites = data
    changed = G[:, 0] != G[:, 1]
    rng = np.random.default_rng(seed)
    Q = P.copy()
    for t in range(2):
        noise = rng.random(changed.shape) < 0.5
        Q[:, t] = np.where(changed, noise, Q[:, t])
    a = _ts(P, G, sites, years=(2015, 2016)).compute(protocol=protocol)["GCA-TIoU"]
    b = _ts(Q, G, sites, years=(2015, 2016)).compute(protocol=protocol)["GCA-TIoU"]
    assert a == pytest.approx(b)


@SETTINGS
@given(series(n_max=4), st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_streaming_equals_one_shot(data, seed, batch):
    P, G, sites = data
    one = _ts(P, G, sites)
    n, t = P.shape[:2]
    order = np.random.default_rng(seed).permutation(n * t)
    stream = MappingScorer(years=YEARS4, post_classification=True)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        ni, ti = idx // t, idx % t
        stream.add(P[ni, ti], G[ni, ti], sites=[sites[i] for i in ni], patches=ni, years=np.asarray(YEARS4)[ti])
        if start == 0:
            stream.compute()  # computing midway must not disturb the state
    for protocol in ("site", "micro", "patch"):
        assert stream.compute(protocol=protocol) == pytest.approx(one.compute(protocol=protocol))
        assert stream.compute_post_classification(protocol=protocol) == pytest.approx(one.compute_post_classification(protocol=protocol))


@SETTINGS
@given(series(n_max=4), st.integers(0, 2**32 - 1))
def test_two_shards_summed_equal_the_whole(data, seed):
    P, G, sites = data
    whole = _ts(P, G, sites)
    n, t = P.shape[:2]
    shard_of = np.random.default_rng(seed).integers(0, 2, (n, t))
    shards = [MappingScorer(years=YEARS4, post_classification=True) for _ in range(2)]
    for i in range(n):
        for j in range(t):
            shards[shard_of[i, j]].add(P[i, j][None], G[i, j][None], sites=[sites[i]], patches=[i], years=[YEARS4[j]])
    merged = shards[0].merge(shards[1])
    for protocol in ("site", "micro", "patch"):
        assert merged.compute(protocol=protocol) == pytest.approx(whole.compute(protocol=protocol))
    c_whole, c_parts = ChangeScorer(), [ChangeScorer(), ChangeScorer()]
    c_whole.add(P[:, 1], G[:, 1], sites=sites, patches=np.arange(n), year_t1=2015, year_t2=2016)
    for i in range(n):
        c_parts[shard_of[i, 0]].add(P[i, 1][None], G[i, 1][None], sites=[sites[i]], patches=[i], year_t1=2015, year_t2=2016)
    for part in c_parts:
        if len(part.tables["change"]) == 0:
            part.add_counts(np.zeros((0, 4)), year_t1=[], year_t2=[])
    merged_c = c_parts[0].merge(c_parts[1])
    assert merged_c.compute() == pytest.approx(c_whole.compute())
