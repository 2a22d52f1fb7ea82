"""Session-wide synthetic data for the datasets-layer tests (builder, pairs, export).

One small synthetic archive (3 sites: 181x181 → 4 patches, 102x137 → 1 wrap-padded patch,
164x108 → 2 patches; all ten years) and its built ``mapping`` dataset are made once per test
session and shared: the helpers below cache by key at module level, so importing the fixtures
into several test modules still does the work once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

#: The archive every data-layer test reads.
SMALL_ARCHIVE = SyntheticConfig(seed=1, num_sites=3, min_size=100, max_size=200)
#: Four of the ten years: keeps materialised cd_pairs (6 pairs per patch) small in tests.
PAIR_YEARS = (2015, 2016, 2018, 2021)

_CACHE: dict[tuple[str, str], Any] = {}


def _once(key: tuple[str, str], make: Callable[[], Any]) -> Any:
    """``make()`` once per key. Every key holds something of this session (its temp folder, or the
    archive made in it): one process can run several sessions (mutmut forks one per mutant from a
    process that ran one already), and a later session must not get paths pytest has since deleted."""
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def make() -> Path:
        out = tmp_path_factory.mktemp("euromine_archive") / "archive"
        generate_archive(out, SMALL_ARCHIVE)
        return out

    return _once(("archive", str(tmp_path_factory.getbasetemp())), make)


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _once(("hf_cache", str(tmp_path_factory.getbasetemp())), lambda: tmp_path_factory.mktemp("euromine_hf_cache"))


@pytest.fixture(scope="session")
def mapping_ds(small_archive: Path, hf_cache: Path):
    from euromine_hf.data.builder import load_euromine

    return _once(("mapping", str(small_archive)), lambda: load_euromine(small_archive, "mapping", cache_dir=hf_cache))


@pytest.fixture(scope="session")
def pairs_ds(small_archive: Path, hf_cache: Path):
    """Materialised ``cd_pairs`` over :data:`PAIR_YEARS`."""
    from euromine_hf.data.builder import load_euromine

    return _once(("cd_pairs", str(small_archive)), lambda: load_euromine(small_archive, "cd_pairs", cache_dir=hf_cache, years=PAIR_YEARS))


@pytest.fixture(scope="session")
def sites(small_archive: Path):
    from euromine_hf.data.archive import scan_archive

    return _once(("sites", str(small_archive)), lambda: {s.name: s for s in scan_archive(small_archive)})
