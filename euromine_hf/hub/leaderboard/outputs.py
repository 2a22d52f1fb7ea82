"""The rendered leaderboard written to a folder: Markdown, one CSV per task and the HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from euromine_hf.hub.leaderboard.render_csv import to_csv
from euromine_hf.hub.leaderboard.render_html import to_html
from euromine_hf.hub.leaderboard.render_markdown import to_markdown
from euromine_hf.hub.leaderboard.tasks import TASKS


def write_outputs(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS),
                  endpoint: str = "https://huggingface.co") -> dict[str, Path]:
    """``leaderboard.md``, ``{task}.csv`` and ``index.html`` in ``out_dir`` (each atomically)."""
    from euromine_hf.io import atomic_write_text

    out = Path(out_dir)
    paths = {"md": atomic_write_text(out / "leaderboard.md", to_markdown(rows, tasks))}
    for task in tasks:
        paths[f"csv_{task}"] = atomic_write_text(out / f"{task}.csv", to_csv(rows, task), newline="")
    paths["html"] = atomic_write_text(out / "index.html", to_html(rows, tasks, endpoint))
    return paths
