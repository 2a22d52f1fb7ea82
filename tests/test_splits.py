"""Site splits: official lists with their duplicate / unlisted / excluded sites, seeded random split."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from euromine_hf.bands import load_resource
from euromine_hf.data.splits import (
    SPLITS,
    UNLISTED_SITE_SPLIT,
    assign_splits,
    check_disjoint,
    official_excluded_sites,
    official_site_names,
    official_split,
    random_site_split,
)


def _all(splits: dict[str, list[str]]) -> list[str]:
    return [s for split in SPLITS for s in splits[split]]


def test_official_split_is_disjoint_and_complete() -> None:
    split = official_split()
    assert set(split) == set(SPLITS)
    sites = _all(split)
    assert len(sites) == len(set(sites)) == 133  # the paper's 133 sites once Greece_3 is placed
    assert len(split["validation"]) == 14 and len(split["test"]) == 17
    assert "Greece_3" in split[UNLISTED_SITE_SPLIT] and UNLISTED_SITE_SPLIT == "train"
    assert not set(sites) & {"Spain_4", "Sweden_6", "Poland_16"}
    assert official_excluded_sites() == ["Poland_16", "Spain_4", "Sweden_6"]
    assert {"Spain_4", "Greece_3", "Bulgaria_1"} <= official_site_names()


def test_duplicate_unlisted_and_excluded_handling(caplog) -> None:
    raw = dict(load_resource("euromine_official_split.json"))
    raw["train"] = [*raw["train"], "Germany_13", "Spain_4"]  # the published duplicate, an excluded site
    with caplog.at_level(logging.INFO, logger="euromine_hf.data.splits"):
        split = official_split(raw)
    assert split["train"].count("Germany_13") == 1
    assert "Spain_4" not in _all(split)
    assert "Greece_3" in split["train"]
    text = caplog.text
    assert "Germany_13 more than once" in text and "Spain_4" in text and "Greece_3 is published but unlisted" in text


def test_site_in_two_official_lists_is_an_error() -> None:
    raw = dict(load_resource("euromine_official_split.json"))
    raw["test"] = [*raw["test"], raw["val"][0]]
    with pytest.raises(ValueError, match=raw["val"][0]):
        official_split(raw)


@given(st.integers(1, 60), st.integers(0, 10_000))
def test_random_split_disjoint_seeded_non_empty(n: int, seed: int) -> None:
    sites = [f"Site_{i}" for i in range(n)]
    split = random_site_split(sites, seed=seed)
    assert sorted(_all(split)) == sorted(sites)
    check_disjoint(split)
    if n >= 3:
        assert all(split[k] for k in SPLITS)
    assert random_site_split(list(reversed(sites)), seed=seed) == split


def test_random_split_fractions_and_seed() -> None:
    sites = [f"Site_{i}" for i in range(100)]
    split = random_site_split(sites, seed=3)
    assert [len(split[k]) for k in SPLITS] == [70, 10, 20]
    assert random_site_split(sites, seed=4) != split


def test_assign_splits_schemes() -> None:
    official_names = ["Bulgaria_12", "Bulgaria_1", "Austria_1", "Greece_3", "Sweden_6"]
    with pytest.warns(UserWarning, match="published site"):  # auto on a partial archive says what it lacks
        auto = assign_splits(official_names)
    assert auto == {"train": ["Austria_1", "Greece_3"], "validation": ["Bulgaria_12"], "test": ["Bulgaria_1"]}
    assert assign_splits(official_names, scheme="official", partial=True) == auto
    other = assign_splits(["Synth_1", "Synth_2", "Synth_3", "Austria_1"], scheme="auto", seed=1)
    assert sorted(_all(other)) == ["Austria_1", "Synth_1", "Synth_2", "Synth_3"] and all(other[k] for k in SPLITS)
    with pytest.raises(ValueError, match=r"Synth_1.*no published list"):
        assign_splits(["Synth_1", "Austria_1"], scheme="official")
    with pytest.raises(ValueError, match="split scheme"):
        assign_splits(["a"], scheme="stratified")


def test_check_disjoint_rejects_overlap() -> None:
    with pytest.raises(ValueError, match="'x' is in both"):
        check_disjoint({"train": ["x"], "validation": [], "test": ["x"]})


def _published() -> list[str]:
    return [site for split in SPLITS for site in official_split()[split]]


def test_official_scheme_refuses_missing_published_sites_naming_them_and_their_splits() -> None:
    """Issue (s17 data item 2): one test site missing used to be dropped silently (16 of 17 scored)."""
    everything = _published()
    assert assign_splits(everything, scheme="official") == official_split()
    without = [s for s in everything if s != "Bulgaria_1"]
    with pytest.raises(ValueError, match=r"1 published site\(s\) missing \(train 0 of \d+, validation 0 of \d+, "
                                         r"test 1 of 17\): Bulgaria_1; expected every site of the published lists"):
        assign_splits(without, scheme="official")
    # an explicit subset opts in; auto applies the lists to the sites there are and warns with the counts
    assert len(assign_splits(without, scheme="official", partial=True)["test"]) == 16
    with pytest.warns(UserWarning, match=r"auto' chose the official lists: 1 published site\(s\) missing .*test 1 of 17\): Bulgaria_1"):
        assert len(assign_splits(without, scheme="auto")["test"]) == 16


def test_official_scheme_names_a_split_left_empty() -> None:
    test_sites = set(official_split()["test"])
    train_and_validation = [s for s in _published() if s not in test_sites]
    with pytest.raises(ValueError, match=r"test 17 of 17\): .*split\(s\) test would be empty"):
        assign_splits(train_and_validation, scheme="official")
    with pytest.warns(UserWarning, match=r"split\(s\) test would be empty"):
        assert assign_splits(train_and_validation, scheme="auto")["test"] == []
