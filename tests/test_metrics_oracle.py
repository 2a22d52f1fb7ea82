"""Every protocol x every mapping score against an oracle written here in plain numpy.

The oracle works on whole-site rasters (``site``, ``micro``) and on 160x160 windows it cuts itself
(``patch``), with none of the package's counting, grouping or weighting helpers. Sites have
different sizes (one under 160 px, so wrap padding shows) and different numbers of years, which is
where weighting mistakes hide: a site's weight is its pixel count, not pixels x years.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from _oracle import confusion, ratio, score_units, scores, weighted_mean
from euromine_hf.metrics.change import ChangeScorer
from euromine_hf.metrics.mapping import MappingScorer

P = 160
YEARS = (2015, 2016, 2017, 2018)
SITES = {  # name: (height, width, years present)
    "Alpha_1": (170, 330, (2015, 2016, 2017, 2018)),
    "Beta_2": (97, 230, (2015, 2016, 2018)),
    "Gamma_3": (333, 161, (2016, 2017, 2018)),
    "Delta_4": (150, 200, (2015, 2017)),  # no mine in either year: every ratio empty; no consecutive pair
}


def _grid(length: int) -> list[int]:
    if length <= P:
        return [0]
    starts = list(range(0, length - P + 1, P))
    return starts if starts[-1] == length - P else starts + [length - P]


def _windows(raster: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(row, col, 160x160 window) in row-major order; a site under 160 px is tiled by wrapping."""
    h, w = raster.shape
    tiled = raster[np.arange(max(h, P)) % h][:, np.arange(max(w, P)) % w]
    return [(r, c, tiled[r : r + P, c : c + P]) for r in _grid(h) for c in _grid(w)]


def _series(h: int, w: int, years, rng) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Reference masks that persist and change a little each year; predictions = reference with flips."""
    base = rng.random((h, w)) < 0.35
    refs, preds = {}, {}
    current = base.copy()
    for y in years:
        grow = rng.random((h, w)) < 0.08
        shrink = rng.random((h, w)) < 0.04
        current = (current | grow) & ~shrink
        refs[y] = current.astype(np.uint8)
        flips = rng.random((h, w)) < 0.2
        preds[y] = (current ^ flips).astype(np.uint8)
    return preds, refs


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    out = {site: _series(h, w, ys, rng) for site, (h, w, ys) in SITES.items()}
    for masks in out["Delta_4"]:
        for y in masks:
            masks[y][:] = 0
    return out


def _units(data, protocol):
    """Scoring units: (weight, {year: (pred, ref)}) per site (whole raster) or per patch window."""
    units = []
    for site, (preds, refs) in data.items():
        h, w, years = SITES[site]
        if protocol == "patch":
            wins = {y: (_windows(preds[y]), _windows(refs[y])) for y in years}
            for k in range(len(_grid(h)) * len(_grid(w))):
                units.append((1.0, {y: (wins[y][0][k][2], wins[y][1][k][2]) for y in years}))
        else:
            units.append((float(h * w), {y: (preds[y], refs[y]) for y in years}))
    return units


def oracle(data, protocol: str, empty: str = "skip") -> dict[str, float]:
    return score_units(_units(data, protocol), YEARS, micro=protocol == "micro", empty=empty)


def _scorer(data) -> MappingScorer:
    scorer = MappingScorer(years=YEARS, incomplete="warn")
    for site, (preds, refs) in data.items():
        h, w, years = SITES[site]
        for y in years:
            pw, rw = _windows(preds[y]), _windows(refs[y])
            scorer.add(
                np.stack([x[2] for x in pw]), np.stack([x[2] for x in rw]), sites=[site] * len(pw),
                patches=list(range(len(pw))), years=[y] * len(pw), rows=[x[0] for x in pw], cols=[x[1] for x in pw],
                site_heights=[h] * len(pw), site_widths=[w] * len(pw),
            )
    return scorer


@pytest.mark.parametrize("empty", ["skip", "one", "zero"])
@pytest.mark.parametrize("protocol", ["site", "micro", "patch"])
def test_mapping_scores_equal_the_oracle(data, protocol, empty):
    scorer = _scorer(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Beta_2, Gamma_3 and Delta_4 lack years: the pairs present are scored
        got = scorer.compute(protocol=protocol, empty=empty)
    expected = oracle(data, protocol, empty)
    assert set(expected) <= set(got)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), (protocol, key)


def test_site_weight_is_pixels_not_pixels_times_years(data):
    """The three protocols disagree on this data, so a weighting mistake cannot hide behind another."""
    site, micro, patch = (oracle(data, p) for p in ("site", "micro", "patch"))
    for key in ("OF1", "GCA-TIoU", "LCA-TIoU"):
        assert len({round(site[key], 6), round(micro[key], 6), round(patch[key], 6)}) == 3, key
    # weighting each site by H*W*years instead would change the site score
    units = _units(data, "site")
    per_unit = [(scores(*map(sum, zip(*(confusion(*u[y]) for y in u))))["F1"], w * len(u)) for w, u in units]
    assert abs(weighted_mean(per_unit) - site["OF1"]) > 1e-4


@pytest.mark.parametrize("protocol", ["site", "micro", "patch"])
def test_change_interval_scores_equal_the_oracle(data, protocol):
    """ChangeScorer on the pairs of years present per site: F1 per interval and OF1."""
    scorer = ChangeScorer(protocol=protocol, years=YEARS)
    pred_change: dict[tuple[str, int, int], np.ndarray] = {}
    ref_change: dict[tuple[str, int, int], np.ndarray] = {}
    for site, (preds, refs) in data.items():
        h, w, years = SITES[site]
        for a, b in itertools.combinations(years, 2):
            pc, rc = (preds[a] != preds[b]).astype(np.uint8), (refs[a] != refs[b]).astype(np.uint8)
            pred_change[(site, a, b)], ref_change[(site, a, b)] = pc, rc
            pw, rw = _windows(pc), _windows(rc)
            scorer.add(np.stack([x[2] for x in pw]), np.stack([x[2] for x in rw]), sites=[site] * len(pw),
                       patches=list(range(len(pw))), year_t1=[a] * len(pw), year_t2=[b] * len(pw),
                       rows=[x[0] for x in pw], cols=[x[1] for x in pw], site_heights=[h] * len(pw), site_widths=[w] * len(pw))
    got = scorer.compute()

    def units_of(selected):
        """Per unit (site raster or patch window): pooled (tp, fp, fn) over the selected pairs, and its weight."""
        pooled: dict[tuple, list] = {}
        for (site, a, b) in selected:
            h, w, _ = SITES[site]
            if protocol == "patch":
                for k, ((_, _, pw), (_, _, rw)) in enumerate(zip(_windows(pred_change[(site, a, b)]), _windows(ref_change[(site, a, b)]))):
                    cell = pooled.setdefault((site, k), [0, 0, 0, 1.0])
                    for i, v in enumerate(confusion(pw, rw)):
                        cell[i] += v
            else:
                cell = pooled.setdefault((site if protocol == "site" else "all",), [0, 0, 0, float(h * w)])
                for i, v in enumerate(confusion(pred_change[(site, a, b)], ref_change[(site, a, b)])):
                    cell[i] += v
        return pooled.values()

    for k in range(1, 4):
        selected = [key for key in pred_change if key[2] - key[1] == k]
        expected = weighted_mean((ratio(2 * tp, 2 * tp + fp + fn), w) for tp, fp, fn, w in units_of(selected))
        assert got[f"F1_interval_{k}"] == pytest.approx(expected, abs=1e-12), (protocol, k)
    expected = weighted_mean((ratio(2 * tp, 2 * tp + fp + fn), w) for tp, fp, fn, w in units_of(list(pred_change)))
    assert got["OF1"] == pytest.approx(expected, abs=1e-12), protocol
