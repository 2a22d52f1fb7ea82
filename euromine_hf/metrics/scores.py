"""Ratios of pooled counts, and how they are averaged under each scoring protocol.

Protocols (every scorer takes ``protocol=``):

``site`` (default; the paper's "averaged by different mining sites, with the weight given by
    the number of pixels"): each score is computed per site on the whole-site raster (patch counts
    over *owned* pixels summed, so overlapping edge pixels count once), then the mean over sites
    weighted by the site's pixel count (the owned pixels of its scored patches in one year or
    pair, i.e. H×W when the whole site is scored).
``micro`` (as the publishers' own test scripts): counts over owned pixels pooled over every site,
    one ratio. CA-TIoU: one ratio per year pair, then the mean over pairs.
``patch``: every patch is scored on its own full 160×160 window (wrap padding and overlaps
    included, as a model sees it), exactly like a site in ``site``, then the *unweighted* mean
    over patches (all patches have the same size).

Empty denominators (``empty=``; a site/year with neither reference nor predicted positives, a
site-pair whose union inside the unchanged region is empty, ...):

``skip`` (default): the unit is left out of the mean it would enter (weights renormalised). A
    unit whose every part is empty is itself empty. If nothing is left, the score is 1.0 —
    nothing to find and nothing found. ``micro`` pools first, so it is empty only if all are.
``one``: the empty ratio counts as 1.0 (perfect agreement).
``zero``: the empty ratio counts as 0.0.

No rule ever yields NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PROTOCOLS", "EMPTY_RULES", "check_protocol", "check_empty", "ratio", "mean_ratio", "pairwise_mean_ratio", "group_ids"]

PROTOCOLS: tuple[str, ...] = ("site", "micro", "patch")
EMPTY_RULES: tuple[str, ...] = ("skip", "one", "zero")
#: Score when ``empty="skip"`` leaves nothing to average.
ALL_EMPTY_SCORE = 1.0


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
    return protocol


def check_empty(empty: str) -> str:
    if empty not in EMPTY_RULES:
        raise ValueError(f"empty: expected one of {EMPTY_RULES}, got {empty!r}")
    return empty


def ratio(num: np.ndarray, den: np.ndarray, empty: str) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise ``num / den`` and a validity mask (False only for skipped empties)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    is_empty = den <= 0
    out = np.divide(num, den, out=np.zeros_like(num), where=~is_empty)
    if empty == "one":
        out[is_empty] = 1.0
    elif empty == "zero":
        out[is_empty] = 0.0
    valid = ~is_empty if empty == "skip" else np.ones_like(is_empty)
    return out, valid


def _weighted(values: np.ndarray, weights: np.ndarray, valid: np.ndarray) -> float:
    if not valid.any():
        return ALL_EMPTY_SCORE
    w = np.asarray(weights, dtype=np.float64)[valid]
    v = values[valid]
    total = w.sum()
    if total <= 0:  # units of zero pixels carry no weight: fall back to a plain mean
        return float(v.mean())
    return float((w * v).sum() / total)


def group_ids(*keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense group ids (0..G-1, in sorted key order) for rows identified by integer key columns.

    Columns are densified one by one and combined in mixed radix, so only 1-D sorts are needed
    (``np.unique(axis=0)`` is an order of magnitude slower on the 10^5-row tables here).
    """
    if not keys or len(keys[0]) == 0:
        return np.zeros(0, np.int64), 0
    combined = np.zeros(len(keys[0]), np.int64)
    radix = 1
    for col in keys:
        uniq, inv = np.unique(np.asarray(col, np.int64), return_inverse=True)
        if radix * len(uniq) >= 2**62:  # cannot combine: densify what we have first
            _, combined = np.unique(combined, return_inverse=True)
            radix = int(combined.max()) + 1
        combined = combined * len(uniq) + inv.reshape(-1)
        radix *= len(uniq)
    _, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    return inverse, int(inverse.max()) + 1


def _sum_by(ids: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(ids, weights=np.asarray(values, np.float64), minlength=n)


def mean_ratio(units: np.ndarray, unit_weights: np.ndarray, num: np.ndarray, den: np.ndarray, empty: str) -> float:
    """Pool ``num``/``den`` per unit, take the ratio per unit, weighted mean over units.

    ``units``: dense unit id per row; ``unit_weights``: one weight per unit id.
    """
    if len(units) == 0:
        return ALL_EMPTY_SCORE
    n = len(unit_weights)
    values, valid = ratio(_sum_by(units, n, num), _sum_by(units, n, den), empty)
    present = np.bincount(units, minlength=n) > 0
    return _weighted(values, unit_weights, valid & present)


def pairwise_mean_ratio(
    units: np.ndarray, unit_weights: np.ndarray, pairs: np.ndarray, num: np.ndarray, den: np.ndarray, empty: str
) -> float:
    """CA-TIoU shape: ratio per (unit, pair), mean over the unit's pairs, weighted mean over units."""
    if len(units) == 0:
        return ALL_EMPTY_SCORE
    n = len(unit_weights)
    cell, ncell = group_ids(units, pairs)
    values, valid = ratio(_sum_by(cell, ncell, num), _sum_by(cell, ncell, den), empty)
    cell_unit = np.zeros(ncell, np.int64)
    cell_unit[cell] = units
    valid_f = valid.astype(np.float64)
    sums = np.bincount(cell_unit, weights=values * valid_f, minlength=n)
    counts = np.bincount(cell_unit, weights=valid_f, minlength=n)
    unit_valid = counts > 0
    unit_values = np.divide(sums, counts, out=np.zeros(n), where=unit_valid)
    return _weighted(unit_values, unit_weights, unit_valid)


def unit_layout(
    protocol: str, sites: np.ndarray, patches: np.ndarray, times: np.ndarray, pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unit id per row and one weight per unit for ``protocol``.

    ``site``: unit = site, weight = max over time keys of the site's owned pixels (H×W for a
    fully scored site). ``micro``: one unit. ``patch``: unit = (site, patch), weight 1.
    """
    n = len(sites)
    if protocol == "micro":
        return np.zeros(n, np.int64), np.ones(1)
    if protocol == "patch":
        units, nu = group_ids(sites, patches)
        return units, np.ones(nu)
    units, nu = group_ids(sites)
    cell, ncell = group_ids(units, times)
    per_cell = _sum_by(cell, ncell, pixels)
    cell_unit = np.zeros(ncell, np.int64)
    cell_unit[cell] = units
    weights = np.zeros(nu)
    np.maximum.at(weights, cell_unit, per_cell)
    return units, weights
