"""The rendered leaderboard written to a folder: Markdown, one CSV per task and the HTML page.

The folder is the user's (``show --out``), so, as for ``euromine predict``'s maps, a marker file
:data:`SHOW_MARKER` lists what ``show`` wrote there with its SHA-256 (:mod:`euromine_hf.output_marker`).
A rerun replaces only those files while their content is unchanged; any other file of an output's
name (the user's own ``index.html``, a page they edited since) is refused before anything is
written. The folder never lies in the entries it renders (``RESULTS/entries``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from euromine_hf import output_marker
from euromine_hf.hub.leaderboard.render_csv import to_csv
from euromine_hf.hub.leaderboard.render_html import to_html
from euromine_hf.hub.leaderboard.render_markdown import to_markdown
from euromine_hf.hub.leaderboard.tasks import TASKS

#: Written into every folder ``euromine leaderboard show`` writes into.
SHOW_MARKER = ".euromine-leaderboard.json"
_CREATED_BY = "euromine_hf.hub.leaderboard.show"
_COMMAND = "euromine leaderboard show"


def output_names(tasks: Sequence[str] = tuple(TASKS)) -> list[str]:
    """The files ``show`` writes for ``tasks`` (besides its marker)."""
    return ["leaderboard.md", *(f"{task}.csv" for task in tasks), "index.html"]


def check_destination(out_dir: str | Path, tasks: Sequence[str] = tuple(TASKS), results_dir: str | Path | None = None) -> None:
    """Refuse, before anything is read from the Hub or written, an output folder that is a file or
    lies in ``results_dir/entries`` (the entries being rendered), and any existing output that is not
    a file ``show`` wrote there unchanged (per the folder's marker): one line naming the file."""
    out = Path(out_dir)
    if results_dir is not None:
        entries = Path(results_dir) / "entries"
        real, real_entries = out.resolve(), entries.resolve()
        if real == real_entries or real_entries in real.parents:
            relation = "is" if real == real_entries else "lies inside"
            raise ValueError(f"{out}: --out: expected a folder outside the entries it renders ({entries}), found one that {relation} it")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out}: --out: expected a folder, found {'a link' if out.is_symlink() else 'a file'} (kept, nothing written)")
    marker = out / SHOW_MARKER
    listed = output_marker.read_marker(out, SHOW_MARKER, _CREATED_BY)
    if listed is None and (marker.exists() or marker.is_symlink()):
        raise FileExistsError(f"{marker}: expected the marker {_COMMAND} writes, found a file it did not write (kept, nothing written)")
    files = (listed or {}).get("files", {})
    for name in output_names(tasks):
        path = out / name
        if not (path.exists() or path.is_symlink()):
            continue
        found = output_marker.not_owned(path, files, marker, _COMMAND)
        if found is not None:
            raise FileExistsError(f"{path}: expected a file {_COMMAND} wrote, found {found}; kept, nothing written")


def write_outputs(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS),
                  endpoint: str = "https://huggingface.co", results_dir: str | Path | None = None) -> dict[str, Path]:
    """``leaderboard.md``, ``{task}.csv`` and ``index.html`` in ``out_dir`` (each atomically, after
    :func:`check_destination`), each listed in the folder's marker as soon as it is in place."""
    from euromine_hf.io import atomic_write_text

    out = Path(out_dir)
    check_destination(out, tasks, results_dir)
    texts = {"md": ("leaderboard.md", to_markdown(rows, tasks), None)}
    texts.update({f"csv_{task}": (f"{task}.csv", to_csv(rows, task), "") for task in tasks})
    texts["html"] = ("index.html", to_html(rows, tasks, endpoint), None)
    files = dict((output_marker.read_marker(out, SHOW_MARKER, _CREATED_BY) or {}).get("files", {}))
    paths = {}
    for key, (name, text, newline) in texts.items():
        paths[key] = atomic_write_text(out / name, text, newline=newline)
        files[name] = output_marker.file_sha256(paths[key])
        output_marker.write_marker(out, SHOW_MARKER, _CREATED_BY, files)
    return paths
