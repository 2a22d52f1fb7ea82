"""Where ``euromine predict`` may write: never over an input, never into the archive it reads, and
over an existing file only with ``--overwrite`` and only if predict itself wrote it.

Every folder predict writes maps into holds a marker file :data:`PREDICT_MARKER` listing the maps
it wrote there with their SHA-256 (added once each file is in place) and the runs writing into it
(pid, host). The marker is what makes a file recognisably predict's own: ``--overwrite`` replaces a
listed map whose content is still what predict wrote, nothing else (a map the user edited or
replaced under the same name is theirs now). It also makes leftovers recognisable: a run killed mid-write (SIGKILL, power loss)
leaves ``.Year2019.tif.XXXXXXXX.tmp.tif`` files (``.Year2019.tif.aux.xml.XXXXXXXX.tmp.xml`` for the GIS
side-car) and ``.Year2019.tif.partial-XXXXXXXX/`` folders; the
next run into a marked folder removes those whose name says predict made them, unless another
run writing into that folder is still alive. Nothing in an unmarked folder is ever removed.

All checks run before any model is called or any file is created.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from euromine_hf import output_marker

__all__ = ["PREDICT_MARKER", "PredictDestinationError", "check_destination", "OutputFolders", "read_marker"]

#: Written into every folder ``euromine predict`` writes maps into.
PREDICT_MARKER = ".euromine-predict.json"
_CREATED_BY = "euromine_hf.inference"
#: Names of the maps predict writes (the tasks of ``euromine_hf/inference/`` name them).
_OUTPUT_NAME = r"(?:Year\d{4}|Probability\d{4}|Change[^/]+|ChangeProbability[^/]+|[^/]+_mine|[^/]+_probability)\.tif"
#: ``io.atomic_path``'s temporary file and ``predict_geotiff``'s scratch folder for such a map.
#: GDAL's side-car of a map (class names, ``data/geotiff.py``) has its own temporary ``….tmp.xml``.
_LEFTOVER_FILE = re.compile(rf"^\.{_OUTPUT_NAME}(?:\.[A-Za-z0-9_]+\.tmp\.tif|\.aux\.xml\.[A-Za-z0-9_]+\.tmp\.xml)$")
_LEFTOVER_DIR = re.compile(rf"^\.{_OUTPUT_NAME}\.partial-[A-Za-z0-9_]+$")
_SCRATCH_FILE = re.compile(r"^(?:map|probability)\.tif(?:\.aux\.xml|\.ovr)?$")


class PredictDestinationError(ValueError):
    """The output path would overwrite or write into the input being read."""


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of a folder predict wrote into, or ``None`` (no marker, a link, not ours)."""
    data = output_marker.read_marker(folder, PREDICT_MARKER, _CREATED_BY)
    if data is not None:
        runs = data.get("runs")
        data["runs"] = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
    return data


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_destination(inputs: Iterable[Path], input_folders: Iterable[Path], out_dir: Path, outputs: Sequence[Path],
                      overwrite: bool) -> None:
    """Refuse, before anything runs, outputs that are (or resolve to) an input file, that lie in an
    input folder (the archive, site folder or folder of images being read), or that exist (unless
    ``overwrite``, and then only maps listed in their folder's marker)."""
    real_inputs = {Path(p).resolve(): Path(p) for p in inputs}
    roots = [(Path(f).resolve(), Path(f)) for f in input_folders]
    real_out = out_dir.resolve()
    for real_root, root in roots:
        if _within(real_out, real_root):
            relation = "is" if real_out == real_root else "lies inside"
            raise PredictDestinationError(
                f"{out_dir}: output folder: expected a folder outside the input {root}, found one that {relation} it (maps are never written into the data they are read from)"
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: output folder: expected a folder, found a file (not replaced)")
    for out in outputs:
        real = out.resolve()
        if real in real_inputs:
            raise PredictDestinationError(f"{out}: output: expected a new file, found the input {real_inputs[real]} (not replaced)")
        for real_root, root in roots:
            if _within(real, real_root):
                raise PredictDestinationError(f"{out}: output: expected a path outside the input {root}, found one that resolves into it ({real})")
    existing = [out for out in outputs if out.exists() or out.is_symlink()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FileExistsError(f"{existing[0]}: exists{more}; kept (pass --overwrite to replace maps euromine predict wrote)")
    owned: dict[Path, dict[str, str]] = {}
    for out in existing:
        if out.parent not in owned:
            owned[out.parent] = (read_marker(out.parent) or {}).get("files", {})
        side_car = ("a side-car changed since euromine predict wrote it (GIS software such as QGIS writes statistics "
                    "there when it opens the map); remove the side-car to let --overwrite replace the map")
        found = output_marker.not_owned(out, owned[out.parent], out.parent / PREDICT_MARKER, "euromine predict",
                                        changed=side_car if out.name.endswith(".aux.xml") else None)
        if found is None:
            continue
        raise FileExistsError(f"{out}: --overwrite: expected a map euromine predict wrote, found {found}; not replaced")


def _alive(run: dict[str, Any]) -> bool:
    """Whether a run recorded in a marker may still be writing (a pid alive on this host, or any
    run on another host, which cannot be checked from here)."""
    from euromine_hf.data.export import _process_alive

    if run.get("host") != socket.gethostname():
        return True
    return run.get("pid") != os.getpid() and _process_alive(run.get("pid"))


class OutputFolders:
    """The folders one predict run writes into: marked and cleaned before the first map, each map
    recorded once in place, the run's entry removed at the end (on success or failure)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = list(dict.fromkeys(Path(f) for f in folders))
        self.me = {"pid": os.getpid(), "host": socket.gethostname()}
        self.created_dirs: list[Path] = []
        self.removed: list[Path] = []

    def _write(self, folder: Path, marker: dict[str, Any]) -> None:
        output_marker.write_marker(folder, PREDICT_MARKER, _CREATED_BY, marker["files"], runs=marker["runs"])

    def open(self) -> None:
        """Create and mark each folder; remove leftovers of earlier killed runs where none is alive."""
        for folder in self.folders:
            missing = [p for p in (folder, *folder.parents) if not p.exists()]
            folder.mkdir(parents=True, exist_ok=True)
            self.created_dirs.extend(reversed(missing))
            marker = read_marker(folder)
            if marker is None:
                marker = {"files": {}, "runs": []}
            else:
                others = [r for r in marker["runs"] if _alive(r)]
                if not others:
                    self.removed += _remove_leftovers(folder)
                marker["runs"] = others
            marker["runs"].append(self.me)
            self._write(folder, marker)

    def record(self, paths: Iterable[Path]) -> None:
        """List finished maps and their content hash in their folder's marker (once in place)."""
        by_folder: dict[Path, list[Path]] = {}
        for path in paths:
            by_folder.setdefault(Path(path).parent, []).append(Path(path))
        for folder, done in by_folder.items():
            marker = read_marker(folder) or {"files": {}, "runs": [self.me]}
            marker["files"].update({path.name: output_marker.file_sha256(path) for path in done})
            self._write(folder, marker)

    def close(self, failed: bool) -> None:
        """Drop this run from the markers. After a failure, a marker that lists no map and a
        folder this run created that is left empty are removed: a failed run leaves nothing."""
        for folder in self.folders:
            marker = read_marker(folder)
            if marker is None:
                continue
            marker["runs"] = [r for r in marker["runs"] if r != self.me]
            if failed and not marker["files"] and not marker["runs"]:
                (folder / PREDICT_MARKER).unlink(missing_ok=True)
            else:
                self._write(folder, marker)
        if failed:
            for folder in reversed(self.created_dirs):
                try:
                    folder.rmdir()  # only if empty
                except OSError:
                    pass


def _remove_leftovers(folder: Path) -> list[Path]:
    """Temporary files and scratch folders of predict's own maps in a marked folder."""
    removed = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_file() and _LEFTOVER_FILE.match(entry.name):
            entry.unlink(missing_ok=True)
            removed.append(entry)
        elif entry.is_dir() and _LEFTOVER_DIR.match(entry.name):
            inside = list(entry.iterdir())
            if all(p.is_file() and not p.is_symlink() and _SCRATCH_FILE.match(p.name) for p in inside):
                shutil.rmtree(entry)
                removed.append(entry)
    return removed
