"""The evaluate modules load offline (relative and absolute paths) and agree with the core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import evaluate

from euromine_hf.metrics import CaTIoU, ChangeScorer, IntervalF1, MappingScorer, YearlyF1, binary_counts  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
YEARS = list(range(2015, 2025))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    G = (rng.random((6, 10, 32, 32)) < 0.4).astype(np.uint8)
    P = G ^ (rng.random((6, 10, 32, 32)) < 0.2).astype(np.uint8)
    return P, G, ["a", "a", "b", "b", "b", "c"], np.arange(6)


@pytest.mark.parametrize("name", ["ca_tiou", "yearly_f1", "interval_f1", "post_classification"])
def test_modules_load_offline_by_relative_and_absolute_path(name, monkeypatch):
    monkeypatch.chdir(REPO)
    rel = evaluate.load(f"metrics/{name}")
    absolute = evaluate.load(str(REPO / "metrics" / name))
    assert rel.name == absolute.name == name
    assert "EuroMineNet" in rel.citation or "eurominenet" in rel.citation
    assert (REPO / "metrics" / name / "README.md").is_file()


def test_ca_tiou_module_agrees_with_core_streaming(data, monkeypatch):
    P, G, sites, patches = data
    monkeypatch.chdir(REPO)
    module = evaluate.load("metrics/ca_tiou")
    for t in (3, 0, 9, 1, 2, 4, 5, 6, 7, 8):  # years of a patch meet across add_batch calls
        module.add_batch(predictions=P[:, t], references=G[:, t], sites=sites, patches=patches, years=[YEARS[t]] * 6)
    core = MappingScorer()
    core.add(P, G, sites=sites, patches=patches, years=YEARS)
    for protocol in ("site", "micro", "patch"):
        if protocol != "site":
            module.add_batch(predictions=P, references=G, sites=sites, patches=patches, years=YEARS)
        got = module.compute(protocol=protocol)
        want = core.compute(protocol=protocol)
        assert got["LCA-TIoU"] == pytest.approx(want["LCA-TIoU"])
        assert got["GCA-TIoU"] == pytest.approx(want["GCA-TIoU"])
        assert got["CA-TIoU_2015_2016"] == pytest.approx(core.compute_pairwise(protocol=protocol)["CA-TIoU_2015_2016"])


def test_ca_tiou_module_precomputed_pair_counts():
    module = CaTIoU(years=[2015, 2016, 2017])
    # pair 2015-2016 of site A: 1/3; 2016-2017: 1; 2015-2017: 0 -> LCA 2/3, GCA 4/9
    module.add_batch(sites=["A"] * 3, patches=[0] * 3, years_i=[2015, 2016, 2015], years_j=[2016, 2017, 2017], intersections=[1, 2, 0], unions=[3, 2, 4])
    r = module.compute(protocol="micro")
    assert r["LCA-TIoU"] == pytest.approx(2 / 3) and r["GCA-TIoU"] == pytest.approx(4 / 9)
    # without the 2015-2017 pair the series is incomplete: an error by default, a warning on request
    partial = dict(sites=["A", "A"], patches=[0, 0], years_i=[2015, 2016], years_j=[2016, 2017], intersections=[1, 2], unions=[3, 2])
    module.add_batch(**partial)
    with pytest.raises(ValueError, match=r"site 'A', patch 0: years \[2015, 2016, 2017\], 1 of 3 year pairs missing"):
        module.compute()
    lenient = CaTIoU(years=[2015, 2016, 2017], incomplete="warn")
    lenient.add_batch(**partial)
    with pytest.warns(UserWarning, match="patch 0"):
        assert lenient.compute(protocol="micro")["GCA-TIoU"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="intersections must not exceed"):
        module.add_batch(years_i=[2015], years_j=[2016], intersections=[3], unions=[2])


def test_yearly_f1_masks_counts_and_single_samples(data):
    P, G, sites, patches = data
    core = MappingScorer(temporal=False)
    core.add(P[:, 0], G[:, 0], sites=sites, patches=patches, years=[2015] * 6)
    module = YearlyF1()
    module.add_batch(predictions=P[:, 0], references=G[:, 0], sites=sites, patches=patches, years=[2015] * 6)
    assert module.compute() == pytest.approx(core.compute())
    counts = binary_counts(P[:, 0], G[:, 0])
    module.add_batch(counts=counts, sites=sites, patches=patches, years=[2015] * 6)
    assert module.compute(protocol="micro", empty="zero") == pytest.approx(core.compute(protocol="micro", empty="zero"))
    for i in range(6):
        module.add(prediction=P[i, 0], reference=G[i, 0], sites=sites[i], patches=i, years=2015)
    assert module.compute(protocol="patch") == pytest.approx(core.compute(protocol="patch"))
    with pytest.raises(ValueError, match="nothing was added"):
        module.compute()
    with pytest.raises(ValueError, match="unexpected inputs"):
        module.add_batch(predictions=P[:, 0], references=G[:, 0], years=[2015] * 6, colour=1)


def test_interval_f1_module_agrees_with_core(data, monkeypatch):
    P, G, sites, patches = data
    monkeypatch.chdir(REPO)
    module = evaluate.load("metrics/interval_f1")
    core = ChangeScorer()
    for t1, t2 in [(0, 1), (0, 5), (3, 9), (2, 3)]:
        pred = P[:, t1] ^ P[:, t2]
        kw = dict(sites=sites, patches=patches, year_t1=[YEARS[t1]] * 6, year_t2=[YEARS[t2]] * 6)
        module.add_batch(predictions=pred, references_t1=G[:, t1], references_t2=G[:, t2], **kw)
        core.add(pred, G[:, t1] ^ G[:, t2], **kw)
    assert module.compute() == pytest.approx(core.compute())
    m2 = IntervalF1()
    m2.add_batch(counts=[[1, 2, 3, 4]], intervals=[1])
    assert m2.compute()["F1_interval_1"] == pytest.approx(2 / (2 + 2 + 3))


def test_post_classification_module_agrees_with_core(data, monkeypatch):
    P, G, sites, patches = data
    monkeypatch.chdir(REPO)
    module = evaluate.load("metrics/post_classification")
    core = MappingScorer(post_classification=True)
    core.add(P, G, sites=sites, patches=patches, years=YEARS)
    got = module.compute(predictions=P, references=G, sites=sites, patches=patches, years=YEARS, protocol="micro")
    assert got == pytest.approx(core.compute_post_classification(protocol="micro"))


# --- silent acceptance in the modules ------------------------------------------------------------
def test_yearly_f1_patch_added_twice_is_an_error_naming_it(data):
    P, G, sites, patches = data
    module = YearlyF1()
    module.add_batch(predictions=P[:, 0], references=G[:, 0], sites=sites, patches=patches, years=[2015] * 6)
    module.add_batch(predictions=P[2:3, 0], references=G[2:3, 0], sites=["b"], patches=[2], years=[2015])
    with pytest.raises(ValueError, match=r"site 'b', patch 2, year 2015: added twice"):
        module.compute()
    module = YearlyF1()  # the counts path too
    counts = binary_counts(P[:2, 0], G[:2, 0])
    module.add_batch(counts=counts, sites=["a", "a"], patches=[0, 0], years=[2016, 2016])
    with pytest.raises(ValueError, match=r"site 'a', patch 0, year 2016: added twice"):
        module.compute()


def test_ca_tiou_and_post_classification_refuse_incomplete_series(data):
    from euromine_hf.metrics import PostClassificationF1

    P, G, sites, patches = data
    for cls, name in ((CaTIoU, "ca_tiou"), (PostClassificationF1, "post_classification")):
        module = cls()
        for t in range(10):
            keep = patches != 4 if t == 7 else slice(None)  # patch 4 of site b misses 2022
            module.add_batch(predictions=P[keep, t], references=G[keep, t], sites=np.asarray(sites)[keep], patches=patches[keep], years=[YEARS[t]] * len(patches[keep]))
        with pytest.raises(ValueError, match=rf"{name}: 1 patch.*site 'b', patch 4: years \[2015, .*missing \[2022\]"):
            module.compute()
    single = CaTIoU()  # one year only: no pair at all, used to vanish from the score
    single.add_batch(predictions=P[:1, 0], references=G[:1, 0], sites=["a"], patches=[0], years=[2015])
    with pytest.raises(ValueError, match=r"site 'a', patch 0: years \[2015\]"):
        single.compute()
    lenient = CaTIoU(years=YEARS[:3], incomplete="warn")
    lenient.add_batch(predictions=P[:1, :2], references=G[:1, :2], sites=["a"], patches=[0], years=YEARS[:2])
    with pytest.warns(UserWarning, match="missing \\[2017\\]"):
        assert set(lenient.compute()) == {"LCA-TIoU", "GCA-TIoU", "CA-TIoU_2015_2016"}
    with pytest.raises(ValueError, match="incomplete"):
        CaTIoU(incomplete="skip")


def test_interval_f1_rejects_unknown_intervals_years_and_double_references(data):
    P, G, _, _ = data
    pred, ref = P[:2, 0], G[:2, 0]
    with pytest.raises(ValueError, match="intervals: expected 1..9.*got 12"):
        IntervalF1().add_batch(predictions=pred, references=ref, intervals=[12, 1])
    with pytest.raises(ValueError, match="year_t1: expected one of the years 2015-2024, got 2014"):
        IntervalF1().add_batch(predictions=pred, references=ref, year_t1=[2014, 2015], year_t2=[2016, 2016])
    with pytest.raises(ValueError, match="year_t2: .*got 2025"):
        IntervalF1().add_batch(counts=binary_counts(pred, ref), year_t1=[2015, 2015], year_t2=[2025, 2016])
    with pytest.raises(ValueError, match="not both"):
        IntervalF1().add_batch(predictions=pred, references=ref, references_t1=ref, references_t2=P[:2, 1], year_t1=[2015] * 2, year_t2=[2016] * 2)
    ok = IntervalF1(years=range(2010, 2025))
    ok.add_batch(predictions=pred, references=ref, intervals=[12, 1])
    assert "F1_interval_12" in ok.compute()
