"""Shared leaderboard test data: valid submissions of both tasks, in both layouts, made once per session.

Imported by the leaderboard test modules (``from _leaderboard_fixtures import ...``); the validation
tests copy a valid folder and break it one way at a time.
"""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from _data_fixtures import _once, small_archive  # noqa: F401  (session fixture)
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


@pytest.fixture(scope="session")
def subs(small_archive, tmp_path_factory):  # noqa: F811
    """Valid submissions made from the ground truth with ~5% (or ~15%) of pixels flipped: built once per
    test session (and cached like ``small_archive``), then copied by the tests that alter one."""
    return _once("leaderboard_subs", lambda: _make_subs(small_archive, tmp_path_factory.mktemp("subs")))


def _make_subs(small_archive, root):
    from euromine_hf.data.archive import read_site_label
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.patching import extract_patches

    test_sites, _ = split_sites(small_archive)
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

