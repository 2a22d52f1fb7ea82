"""Atomic writes honour the umask, leave nothing behind on failure, and are the package's only writer."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from euromine_hf.io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, current_umask, make_temp_dir

PACKAGE = Path(__file__).resolve().parents[1] / "euromine_hf"


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_files_and_folders_get_umask_permissions(tmp_path, umask):
    assert _mode(atomic_write_text(tmp_path / "a" / "t.txt", "x")) == 0o666 & ~umask
    assert _mode(atomic_write_bytes(tmp_path / "b.bin", b"x")) == 0o666 & ~umask
    assert _mode(atomic_write_json(tmp_path / "c.json", {"a": 1})) == 0o666 & ~umask
    assert _mode(make_temp_dir(tmp_path, ".d-")) == 0o777 & ~umask


def test_package_writers_honour_the_umask(tmp_path, umask):
    """GeoTIFFs, error maps, tables and run JSON: shared outputs must be readable as the umask says."""
    from rasterio.transform import Affine

    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.metrics.maps import save_error_map
    from euromine_hf.metrics.tables import write_tables
    from euromine_hf.training.results import write_json_atomic

    written = [
        write_geotiff(tmp_path / "r.tif", np.zeros((8, 8), np.uint8), "EPSG:32633", Affine(10, 0, 0, 0, -10, 0)),
        save_error_map(tmp_path / "m.png", np.zeros((4, 4, 3), np.uint8)),
        write_json_atomic(tmp_path / "run.json", {"a": 1}),
        *write_tables(tmp_path / "tables", "mapping", {"m": {"f1": 0.5}}).values(),
    ]
    for path in written:
        assert _mode(Path(path)) == 0o666 & ~umask, path
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "x.png"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".png"
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_one_atomic_writer_in_the_package():
    """Hand-written temp-file + rename writers drift (permissions, clean-up): all go through io.py."""
    pattern = re.compile(r"\bmkstemp\(|\bmkdtemp\(|getpid\(\)}\.tmp")
    allowed = {"io.py"}
    offenders = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        if p.name not in allowed
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
