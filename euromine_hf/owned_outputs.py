"""Where a report-style command (``euromine evaluate``, ``euromine benchmark``, ``train.py``) may write:
over its own earlier files only, and never into, over or around a folder it reads.

Each such folder holds a marker file per tool, ``.euromine-{tool}.outputs.json``, listing the files
the tool wrote there (paths relative to the folder) with their SHA-256. A file of a name the tool is
about to write is replaced only if the marker lists it and its content is still what the tool wrote:
a file the user put there, or edited since, is theirs and the command stops before writing anything
(:func:`check`). :func:`record` lists files once they are in place.

A tool that owns a whole folder (``train.py``: checkpoints, ``model/``, reports whose names it does
not know up front) uses :func:`check_folder` / :func:`claim_folder`: an existing non-empty folder is
used only if it carries the tool's marker.

Every check also refuses an output folder that is, lies inside, or contains a path the command
reads (:func:`check_apart`): reports never land in the archive or predictions being scored.
Checks only read; they raise :class:`OutputConflictError` (a ``ValueError``: one line, exit 2 through
``euromine_hf.cli.run_guarded``) naming the file and what was expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from euromine_hf.output_marker import file_sha256

__all__ = ["OutputConflictError", "marker_path", "read_marker", "check_apart", "check", "record",
           "owns_folder", "check_folder", "claim_folder", "FolderClaim"]

MARKER_FORMAT = "euromine-outputs/1"
_TOOL = re.compile(r"^[a-z][a-z0-9-]*$")


class OutputConflictError(ValueError):
    """An output would replace a file the tool did not write, or land in what the command reads."""


def marker_path(folder: str | Path, tool: str) -> Path:
    """The marker file of ``tool`` (e.g. ``evaluate``) in ``folder``."""
    if not _TOOL.match(tool):
        raise ValueError(f"tool name: expected lower-case letters, digits and '-', got {tool!r}")
    return Path(folder) / f".euromine-{tool}.outputs.json"


def _command(tool: str) -> str:
    return f"euromine {tool}"


def read_marker(folder: str | Path, tool: str) -> dict[str, str] | None:
    """The files ``tool`` listed in ``folder`` (relative path -> sha256), or ``None`` without a marker.

    A file of the marker's name that is not such a marker is the user's: an error naming it."""
    path = marker_path(folder, tool)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a plain file")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT or data.get("tool") != tool \
                or not isinstance(data.get("files"), dict):
            raise ValueError("not a marker")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise OutputConflictError(
            f"{path}: expected the marker {_command(tool)} keeps of the files it wrote, found something else "
            f"({error}); not replaced") from error
    return {k: v for k, v in data["files"].items() if isinstance(k, str) and isinstance(v, str)}


def check_apart(folder: str | Path, reads: Iterable[str | Path], option: str = "output folder") -> None:
    """Refuse an output ``folder`` that is, lies inside, or contains a path the command reads."""
    folder = Path(folder)
    real = folder.resolve()
    for read in reads:
        if read is None:
            continue
        real_read = Path(read).resolve()
        if real == real_read:
            relation = "is"
        elif real_read in real.parents:
            relation = "lies inside"
        elif real in real_read.parents:
            relation = "contains"
        else:
            continue
        raise OutputConflictError(
            f"{folder}: {option}: expected a folder apart from {read} (which this command reads), found one that "
            f"{relation} it; nothing written (choose another {option})")


def _check_is_folder(folder: Path, option: str) -> None:
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise OutputConflictError(f"{folder}: {option}: expected a folder, found a file; nothing written")


def check(folder: str | Path, tool: str, names: Iterable[str], reads: Iterable[str | Path] = (),
          option: str = "output folder") -> None:
    """Before anything is written: ``folder`` is a folder (or absent) apart from ``reads``, and each
    of ``names`` (relative to ``folder``) is absent or a file ``tool`` wrote there, unchanged since."""
    folder = Path(folder)
    check_apart(folder, reads, option)
    _check_is_folder(folder, option)
    listed: dict[str, str] | None = None
    for name in names:
        path = folder / name
        if not path.exists() and not path.is_symlink():
            continue
        if listed is None:
            listed = read_marker(folder, tool) or {}
        marker = marker_path(folder, tool)
        key = Path(name).as_posix()
        if path.is_symlink() or not path.is_file():
            found = "a link" if path.is_symlink() else "a folder"
        elif key not in listed:
            found = f"a file it did not write (not listed in {marker.name})"
        elif file_sha256(path) != listed[key]:
            found = f"a file changed since it wrote it (its SHA-256 differs from {marker.name})"
        else:
            continue
        raise OutputConflictError(
            f"{path}: expected a file {_command(tool)} wrote, found {found}; not replaced, nothing written "
            f"(move it or choose another {option})")


def record(folder: str | Path, tool: str, paths: Iterable[str | Path] = ()) -> Path:
    """List ``paths`` (inside ``folder``, already in place: as the writer returned them, or relative to
    ``folder``) with their SHA-256 in ``tool``'s marker,
    atomically; creates the folder and the marker if needed. Entries of files gone since are dropped."""
    from euromine_hf.io import atomic_write_json

    folder = Path(folder)
    listed = read_marker(folder, tool) or {}
    real_folder = folder.resolve()
    for path in paths:
        path = Path(path)
        # a path as a writer returned it (absolute, or relative to the working folder and inside
        # ``folder``), or a name relative to ``folder``
        as_given = path.resolve()
        inside = as_given.is_file() and real_folder in as_given.parents
        full = path if path.is_absolute() or inside else folder / path
        listed[full.resolve().relative_to(folder.resolve()).as_posix()] = file_sha256(full)
    listed = {k: v for k, v in listed.items() if (folder / k).is_file()}
    return atomic_write_json(marker_path(folder, tool),
                             {"format": MARKER_FORMAT, "tool": tool, "files": dict(sorted(listed.items()))})


def owns_folder(folder: str | Path, tool: str) -> bool:
    """Whether ``folder`` carries ``tool``'s marker (it made the folder its own)."""
    return read_marker(folder, tool) is not None


def _marker_temp(name: str, tool: str) -> bool:
    """``io.atomic_path``'s temporary file of the marker (another process claiming the folder now)."""
    return name.startswith(f".{marker_path('.', tool).name}.") and name.endswith(".tmp.json")


def check_folder(folder: str | Path, tool: str, reads: Iterable[str | Path] = (), option: str = "output folder",
                 recognised: Callable[[Path], bool] | None = None) -> None:
    """Before anything is written: ``folder`` (which ``tool`` fills as a whole) is apart from ``reads``,
    and absent, empty, marked as ``tool``'s own, or holding only entries ``recognised`` says are the
    tool's by their format (train.py: Trainer checkpoints copied in to resume from)."""
    folder = Path(folder)
    check_apart(folder, reads, option)
    _check_is_folder(folder, option)
    if not folder.is_dir() or owns_folder(folder, tool):
        return
    others = sorted(p.name for p in folder.iterdir()
                    if not _marker_temp(p.name, tool) and not (recognised is not None and recognised(p)))
    if others:
        raise OutputConflictError(
            f"{folder}: {option}: expected a new or empty folder, or one {_command(tool)} wrote before (with its "
            f"{marker_path(folder, tool).name}), found one holding {others[0]!r}"
            + (f" and {len(others) - 1} more" if len(others) > 1 else "")
            + "; nothing written (choose another " + option + ")")


class FolderClaim:
    """A folder marked as ``tool``'s; :meth:`release` undoes a claim whose run wrote nothing else."""

    def __init__(self, folder: Path, tool: str, created: list[Path], marked: bool) -> None:
        self.folder, self.tool, self.created, self.marked = folder, tool, created, marked

    def release(self) -> None:
        """After a failed start: the marker this claim wrote, if the folder holds nothing else, and
        the folders it created, if empty. Anything else stays."""
        marker = marker_path(self.folder, self.tool)
        if self.marked and self.folder.is_dir() and [p.name for p in self.folder.iterdir()] == [marker.name]:
            marker.unlink(missing_ok=True)
        for folder in reversed(self.created):
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break


def claim_folder(folder: str | Path, tool: str, reads: Iterable[str | Path] = (), option: str = "output folder",
                 recognised: Callable[[Path], bool] | None = None) -> FolderClaim:
    """:func:`check_folder`, then create ``folder`` and mark it as ``tool``'s (if not already)."""
    folder = Path(folder)
    check_folder(folder, tool, reads, option, recognised)
    created = list(reversed([p for p in (folder, *folder.parents) if not p.exists()]))
    marked = not owns_folder(folder, tool)
    if marked:
        record(folder, tool)
    return FolderClaim(folder, tool, created, marked)
