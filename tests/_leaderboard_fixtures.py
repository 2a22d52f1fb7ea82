"""Shared leaderboard test data: a small archive and valid submissions of both tasks, in both layouts.

Imported by the leaderboard test modules (``from _leaderboard_fixtures import ...``); the validation
tests copy a valid folder and break it one way at a time, none writes into the shared one.

The data is made once per process, in a temp folder of its own that the process which made it removes
at exit. A pytest run is one process, so that is once per session; mutmut runs one session per
mutant in forks of one process, and each fork reuses the folder instead of rebuilding it (a folder
under pytest's ``tmp_path_factory`` would be deleted by a later session's clean-up).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from _data_fixtures import SMALL_ARCHIVE
from euromine_hf.bands import YEARS

PAIRS = list(combinations(YEARS, 2))


def split_sites(archive):
    """(test sites, other sites) of ``archive`` under the default split."""
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    sites = scan_archive(archive)
    test = set(assign_splits([s.name for s in sites])["test"])
    return [s for s in sites if s.name in test], [s for s in sites if s.name not in test]


def write_meta(folder: Path, task: str, model: str, **extra) -> None:
    (folder / "submission.json").write_text(json.dumps({"model": model, "task": task, **extra}))


_MADE: dict[str, tuple[Path, Path]] = {}


def _board_data() -> tuple[Path, Path]:
    """(archive, submissions folder), made on first use in this process."""
    if "data" not in _MADE:
        from euromine_hf.data.synthetic import generate_archive

        root = Path(tempfile.mkdtemp(prefix="euromine-leaderboard-tests-"))
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(root, ignore_errors=True))
        generate_archive(root / "archive", SMALL_ARCHIVE)
        _MADE["data"] = (root / "archive", _make_subs(root / "archive", root / "subs"))
    return _MADE["data"]


@pytest.fixture(scope="session")
def board_archive() -> Path:
    """The archive the submissions below are made for (``_data_fixtures.SMALL_ARCHIVE``)."""
    return _board_data()[0]


@pytest.fixture(scope="session")
def subs(board_archive: Path) -> Path:
    """Valid submissions made from the ground truth with ~5% (or ~15%) of pixels flipped: ``map_good``,
    ``map_worse`` (Year*.tif), ``map_patches`` (Patch*.npy), ``cd_good``, ``cd_worse`` (Change*.tif)."""
    return _board_data()[1]


def _make_subs(archive: Path, root: Path) -> Path:
    from euromine_hf.data.archive import read_site_label
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.patching import extract_patches

    test_sites, _ = split_sites(archive)
    for name, flip in (("good", 0.05), ("worse", 0.15)):
        rng = np.random.default_rng(int(flip * 100))
        for site in test_sites:
            preds = {}
            for y in YEARS:
                g = read_site_label(site, y)
                p = (g ^ (rng.random(g.shape) < flip)).astype(np.uint8)
                preds[y] = p
                write_geotiff(root / f"map_{name}" / site.name / f"Year{y}.tif", p[None] * 255, site.crs, site.transform)
                if name == "good":
                    for n, patch in enumerate(extract_patches(p)[0]):
                        (root / "map_patches" / site.name / str(y)).mkdir(parents=True, exist_ok=True)
                        np.save(root / "map_patches" / site.name / str(y) / f"Patch{n}.npy", patch)
            for y1, y2 in PAIRS:
                change = preds[y1] ^ preds[y2]
                write_geotiff(root / f"cd_{name}" / site.name / f"Change{y1}_{y2}.tif", change[None], site.crs, site.transform)
        write_meta(root / f"map_{name}", "mapping", f"UNet {name}", model_repo=f"user/unet-{name}", links=["https://example.org/code"])
        write_meta(root / f"cd_{name}", "change_detection", f"BIT {name}", model_repo=f"user/bit-{name}")
    write_meta(root / "map_patches", "mapping", "UNet patches")
    return root


def copy_sub(subs: Path, name: str, dest: Path) -> Path:
    shutil.copytree(subs / name, dest)
    return dest

