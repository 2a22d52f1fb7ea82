"""Marker files that make a command's own outputs recognisable, so a rerun replaces only those.

A command that writes into a folder the user names (``euromine predict``, ``euromine leaderboard
show``) keeps a small JSON marker there listing each file it wrote with its SHA-256. An existing
file of an output's name may be replaced only if the marker lists it and its content is still what
was written: anything else (the user's own file, one they edited since, a link, a folder) is theirs.
Each command has its own marker name and ``created_by``, so one never claims the other's files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "read_marker", "write_marker", "not_owned"]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_marker(folder: str | Path, name: str, created_by: str) -> dict[str, Any] | None:
    """The marker ``folder/name`` written by ``created_by``, its ``files`` a mapping of file name to
    SHA-256 (malformed items dropped), or ``None`` (no marker, a link, not JSON, someone else's)."""
    folder = Path(folder)
    marker = folder / name
    if folder.is_symlink() or marker.is_symlink() or not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("created_by") != created_by:
        return None
    files = data.get("files")
    data["files"] = {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(files, dict) else {}
    return data


def write_marker(folder: str | Path, name: str, created_by: str, files: dict[str, str], **extra: Any) -> Path:
    """Write (atomically) the marker listing ``files`` (name → SHA-256) and any ``extra`` fields."""
    from euromine_hf.io import atomic_write_json

    return atomic_write_json(Path(folder) / name, {"created_by": created_by, "files": dict(sorted(files.items())), **extra})


def not_owned(path: Path, files: dict[str, str], marker: Path, command: str, changed: str | None = None) -> str | None:
    """Why the existing ``path`` is not a file ``command`` wrote (per ``files``, its folder's marker
    listing), as the end of "expected ..., found ___"; ``None`` when it is one and may be replaced.
    ``changed``: what to say instead when it is listed but its content changed since."""
    if path.is_symlink() or not path.is_file():
        return "a link" if path.is_symlink() else "a folder"
    if path.name not in files:
        return f"a file it did not write (not listed in {marker})"
    if file_sha256(path) != files[path.name]:
        return changed or f"a file it did not write (changed since {command} wrote it)"
    return None
