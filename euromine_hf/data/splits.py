"""Site-level splits: the official EuroMineNet lists, or a seeded 70/10/20 split for other data.

Splitting is by site, never by patch or year, so no pixel of a test site is ever seen in training.

The official lists (``resources/euromine_official_split.json``, copied from the publishers'
release) need two explicit decisions:

* **Duplicates**: as published the train list names ``Germany_13`` twice. A name listed more than
  once is kept once (first place) and logged; a name listed in two *different* splits is an error.
* **Unlisted site**: ``Greece_3`` is a published site (it is in the archive and in the paper's 133
  sites) but no list names it. It goes to ``train`` (:data:`UNLISTED_SITE_SPLIT`): the split is by
  site, so it cannot leak into validation or test through another split's data, and train is the
  largest list, so adding one site changes its composition least and leaves the paper's
  validation and test sets exactly as published.
* **Excluded sites** (``Spain_4``, ``Sweden_6``, ``Poland_16``) are not part of the benchmark: they
  are dropped from every split and reported (logged) when an archive contains them.
* **Missing sites**: scheme ``"official"`` is the benchmark's split, so every published site must be
  there; a missing one is an error naming the missing sites and how many of each split (a split
  left empty is named as such), since scores over 16 of the 17 test sites would sit silently beside
  the paper's. A subset is an explicit choice: ``partial=True`` (the builder passes it when
  ``sites=`` names the sites to build, as predict and stats do for ``--sites``). Scheme ``"auto"``
  means "the published lists for the sites there are": when it chooses the official lists for an
  archive that lacks published sites, it warns with the same counts (and names empty splits)
  instead of failing, so a partial copy of the archive still works and says what it lacks.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from euromine_hf.bands import load_resource

__all__ = [
    "SPLITS",
    "UNLISTED_SITE_SPLIT",
    "official_split",
    "official_excluded_sites",
    "official_site_names",
    "random_site_split",
    "assign_splits",
    "check_disjoint",
]

logger = logging.getLogger(__name__)

SPLITS: tuple[str, str, str] = ("train", "validation", "test")
#: Where the published-but-unlisted sites (Greece_3) are placed; see the module docstring.
UNLISTED_SITE_SPLIT = "train"
#: Key of each split in the published JSON.
_JSON_KEYS = {"train": "train", "validation": "val", "test": "test"}
_RESOURCE = "euromine_official_split.json"


def check_disjoint(splits: Mapping[str, Sequence[str]]) -> None:
    """Raise if any site is in two splits (or twice in one)."""
    seen: dict[str, str] = {}
    for split, sites in splits.items():
        for site in sites:
            if site in seen:
                raise ValueError(f"split assignment: site {site!r} is in both {seen[site]!r} and {split!r}; expected each site in exactly one split")
            seen[site] = split


def _parse_official(raw: Mapping[str, Any], source: str = _RESOURCE) -> tuple[dict[str, list[str]], list[str]]:
    excluded = list(dict.fromkeys(raw.get("excluded_sites", [])))
    splits: dict[str, list[str]] = {}
    placed: dict[str, str] = {}
    for split in SPLITS:
        key = _JSON_KEYS[split]
        if key not in raw:
            raise ValueError(f"{source}: field {key!r}: expected a list of site names, found nothing")
        kept: list[str] = []
        for site in raw[key]:
            if site in excluded:
                logger.warning("%s: %s lists excluded site %s; dropped", source, key, site)
                continue
            if site in placed:
                if placed[site] != split:
                    raise ValueError(f"{source}: site {site!r}: expected in one split, found in {placed[site]!r} and {split!r}")
                logger.info("%s: %s names %s more than once; kept once", source, key, site)
                continue
            placed[site] = split
            kept.append(site)
        splits[split] = kept
    for site in raw.get("unlisted_sites", []):
        if site in placed or site in excluded:
            continue
        logger.info("%s: %s is published but unlisted; placed in %s", source, site, UNLISTED_SITE_SPLIT)
        splits[UNLISTED_SITE_SPLIT].append(site)
        placed[site] = UNLISTED_SITE_SPLIT
    result = {split: sorted(sites) for split, sites in splits.items()}
    check_disjoint(result)
    return result, sorted(excluded)


def official_split(raw: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """The published site lists as ``{"train", "validation", "test"} -> sorted site names``.

    Duplicates are kept once, Greece_3 is placed in :data:`UNLISTED_SITE_SPLIT`, excluded sites
    are absent. ``raw`` replaces the packaged JSON (for tests and forks of the split file).
    """
    data = load_resource(_RESOURCE) if raw is None else raw
    return {k: list(v) for k, v in _parse_official(data)[0].items()}


def official_excluded_sites(raw: Mapping[str, Any] | None = None) -> list[str]:
    """Sites the publishers excluded from the benchmark (dropped from every split)."""
    return _parse_official(load_resource(_RESOURCE) if raw is None else raw)[1]


def official_site_names(raw: Mapping[str, Any] | None = None) -> set[str]:
    """Every published site name: the three lists, the unlisted site and the excluded ones."""
    splits, excluded = _parse_official(load_resource(_RESOURCE) if raw is None else raw)
    return {s for sites in splits.values() for s in sites} | set(excluded)


def random_site_split(
    sites: Iterable[str], seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
) -> dict[str, list[str]]:
    """A seeded split of sites into train / validation / test by the given fractions.

    With three or more sites every split gets at least one (validation and test are rounded, at
    least 1, and train takes the rest); two sites give one train and one test site; one site goes
    to train. The same sites and seed always give the same split, whatever their input order.
    """
    names = sorted(set(sites))
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"random_site_split: fractions: expected three non-negative numbers, got {fractions}")
    total = float(sum(fractions))
    n = len(names)
    order = [names[i] for i in np.random.default_rng(seed).permutation(n)]
    if n >= 3:
        n_val = max(1, round(n * fractions[1] / total))
        n_test = max(1, round(n * fractions[2] / total))
        while n - n_val - n_test < 1:  # keep train non-empty
            if n_test >= n_val and n_test > 1:
                n_test -= 1
            else:
                n_val -= 1
    elif n == 2:
        n_val, n_test = 0, 1
    else:
        n_val = n_test = 0
    n_train = n - n_val - n_test
    result = {
        "train": sorted(order[:n_train]),
        "validation": sorted(order[n_train : n_train + n_val]),
        "test": sorted(order[n_train + n_val :]),
    }
    check_disjoint(result)
    return result


def _missing_sites(names: Sequence[str], official: Mapping[str, Sequence[str]]) -> tuple[str, list[str]]:
    """What the published lists have that ``names`` lacks: one phrase with the count of each split
    (empty splits named), and the missing names; ``("", [])`` when nothing is missing."""
    have = set(names)
    missing = {split: [s for s in official[split] if s not in have] for split in SPLITS}
    lacking = [s for split in SPLITS for s in missing[split]]
    if not lacking:
        return "", []
    counts = ", ".join(f"{split} {len(missing[split])} of {len(official[split])}" for split in SPLITS)
    empty = [split for split in SPLITS if official[split] and len(missing[split]) == len(official[split])]
    shown = ", ".join(lacking[:10]) + (f" and {len(lacking) - 10} more" if len(lacking) > 10 else "")
    phrase = f"{len(lacking)} published site(s) missing ({counts}): {shown}"
    if empty:
        phrase += f"; split(s) {', '.join(empty)} would be empty"
    return phrase, lacking


def assign_splits(sites: Iterable[str], scheme: str = "auto", seed: int = 0, partial: bool = False) -> dict[str, list[str]]:
    """Split the given sites: ``"official"`` lists, a seeded ``"random"`` 70/10/20, or ``"auto"``
    (official when every site is a published name, random otherwise).

    Only the given sites appear in the result. Under the official scheme, excluded sites are
    dropped and logged, a site that is not a published name is an error, and so is a published
    site missing from ``sites`` unless ``partial`` (an explicit subset); ``"auto"`` choosing the
    official lists warns about missing sites instead (module docstring).
    """
    names = sorted(set(sites))
    if scheme not in ("auto", "official", "random"):
        raise ValueError(f"split scheme: expected 'auto', 'official' or 'random', got {scheme!r}")
    chosen_by_auto = scheme == "auto"
    if scheme == "auto":
        known = official_site_names()
        scheme = "official" if names and all(s in known for s in names) else "random"
        logger.info("split scheme 'auto' chose %r for %d sites", scheme, len(names))
    if scheme == "random":
        return random_site_split(names, seed=seed)
    official = official_split()
    where = {site: split for split, members in official.items() for site in members}
    excluded = [s for s in names if s in set(official_excluded_sites())]
    if excluded:
        logger.warning("official split: excluded sites dropped: %s", ", ".join(excluded))
    unknown = [s for s in names if s not in where and s not in excluded]
    if unknown:
        raise ValueError(
            f"official split ({_RESOURCE}): sites {unknown} are in no published list; "
            "expected published site names (use scheme='random' for other data)"
        )
    phrase, _ = _missing_sites(names, official)
    if phrase and not partial:
        if not chosen_by_auto:
            raise ValueError(
                f"official split ({_RESOURCE}): {phrase}; expected every site of the published lists "
                "(use split scheme 'auto' to split the sites there are by the published lists, or name the sites to use)"
            )
        warnings.warn(f"split scheme 'auto' chose the official lists: {phrase}; scores cover only the sites there are",
                      UserWarning, stacklevel=2)
    result = {split: [s for s in names if where.get(s) == split] for split in SPLITS}
    check_disjoint(result)
    return result
