"""The one way this package writes files: atomically, with the permissions the user's umask asks for.

Every output (tables, JSON, cards, rasters, plots, exports) is written to a temporary name in the
destination folder and renamed into place, so an interrupted run never leaves a half-written file.
``tempfile.mkstemp``/``mkdtemp`` create private files (0600) and folders (0700) whatever the umask;
left as they are, outputs that users share (a group-readable ``outputs/`` folder, a lab server)
become unreadable to everyone else. So the temp file is set to ``0o666 & ~umask`` (folders
``0o777 & ~umask``) before the rename: exactly what ``open()``/``mkdir`` would have created.

* :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`atomic_write_json`: whole content
  in memory.
* :func:`atomic_path`: a context manager yielding a temporary path for writers that need a path
  (rasterio, matplotlib, ``np.save``); renamed into place when the block exits cleanly, removed
  otherwise.
* :func:`make_temp_dir`: a temporary folder with ordinary permissions, for writers that assemble
  a whole folder and rename it (``euromine export``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "current_umask",
    "file_mode",
    "dir_mode",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "make_temp_dir",
    "replace_folder",
]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable read is set-and-restore
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode a new file gets from ``open()``: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode a new folder gets from ``mkdir``: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it gets ordinary permissions and is
    renamed to ``path``, on any error it is removed.

    The temporary name keeps ``path``'s extension last (``.x.png.k3j2.tmp.png``) so writers that
    pick a format from the name (matplotlib) see the right one; ``suffix`` overrides it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (``newline=""`` writes line endings as given)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding, newline=newline) as fh:
        fh.write(text)
    return path


def atomic_write_json(path: str | os.PathLike[str], payload: Any, indent: int | None = 2, **dump_kwargs: Any) -> Path:
    """Write ``payload`` as JSON (with a final newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=indent, **dump_kwargs) + "\n")


def make_temp_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with ordinary (umask) permissions."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, dir_mode())
    return tmp


def replace_folder(new: str | os.PathLike[str], dest: str | os.PathLike[str], aside_prefix: str | None = None) -> Path:
    """Rename the finished folder ``new`` to ``dest``. An existing ``dest`` is first renamed aside
    (``.{name}.old-XXXX`` beside it), restored if the swap fails, and removed only once ``new`` is
    in place, so at every moment one complete folder exists under one of the two names."""
    new, dest = Path(new), Path(dest)
    if not dest.exists():
        os.replace(new, dest)
        return dest
    aside = dest.parent / f"{aside_prefix or f'.{dest.name}.old-'}{secrets.token_hex(4)}"
    os.replace(dest, aside)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(aside, dest)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return dest
