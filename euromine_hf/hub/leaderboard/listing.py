"""The bounded listing of a submission folder: names, types and sizes, no file opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def list_files(root: Path, max_entries: int, problems: list[str]) -> list[tuple[tuple[str, ...], int]]:
    """Regular files under ``root`` as (relative parts, size), reading directory entries only.

    Symlinks (to anything) and special files are problems; folders deeper than the layouts allow
    are not entered; the walk stops after ``max_entries`` entries so a folder of millions of
    files costs nothing before it is refused.
    """
    files: list[tuple[tuple[str, ...], int]] = []
    seen = 0
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{folder}: folder: expected a readable folder, found {type(exc).__name__}: {exc}")
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                problems.append(
                    f"{root}: file count: expected at most {max_entries} files and folders for this task's test sites, "
                    "found more (listing stopped)"
                )
                return files
            rel = (*parts, entry.name)
            path = Path(entry.path)
            if entry.is_symlink():
                problems.append(f"{path}: symlink: expected regular files and folders only (no links in a submission)")
            elif entry.is_dir(follow_symlinks=False):
                if len(rel) >= 3:
                    problems.append(f"{path}: unexpected folder (the layouts are at most SITE/KEY/PatchN deep)")
                else:
                    stack.append((path, rel))
            elif entry.is_file(follow_symlinks=False):
                files.append((rel, entry.stat(follow_symlinks=False).st_size))
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
                problems.append(f"{path}: file type: expected a regular file, found {stat.filemode(mode)}")
    return files
