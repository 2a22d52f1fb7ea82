"""The leaderboard as Markdown (``leaderboard.md``); every submitted text is an inert cell."""

from __future__ import annotations

import html
import re
from typing import Any, Mapping, Sequence

from euromine_hf.hub.leaderboard.cells import LOCAL_TRUST, about_text, apart_title, column_label, percent, verification_text
from euromine_hf.hub.leaderboard.rows import PAPER_SOURCE, SCORED_HERE, SELF_REPORTED
from euromine_hf.hub.leaderboard.tasks import TASKS

#: Markdown's inline syntax (links, emphasis, code, tables) and the escape character itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def md_cell(text: str) -> str:
    """Submitted text as one inert Markdown table cell: HTML escaped as on the HTML page (a
    ``<script>`` name stays text), Markdown syntax backslash-escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split())))


def to_markdown(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS)) -> str:
    """``leaderboard.md``: one ranked table per task, then the rows not ranked with their reasons."""
    lines = ["# EuroMineNet leaderboard", "",
             "Test split, site protocol, values in %. Rows marked *reference* are the paper's Tables 4–6 "
             f"({PAPER_SOURCE}); submissions scored on a synthetic archive are not comparable with them. "
             f"*{SCORED_HERE}*: scored by `euromine leaderboard submit` from the predictions (their sha256); "
             f"*{SELF_REPORTED}*: read from a model card or `.eval_results`, not checked against predictions. "
             f"{LOCAL_TRUST}", ""]
    for task in tasks:
        spec = TASKS[task]
        mine = [r for r in rows if r["task"] == task and not r.get("problems")]
        apart = [r for r in rows if r["task"] == task and r.get("problems")]
        lines += [f"## {spec.title} (`{spec.hub_task_id}`, ranked by {spec.primary})", "",
                  "| Rank | Model | Source | Verification | Data | " + " | ".join(column_label(c) for c in spec.columns) + " | About |",
                  "|---:|---|---|---|---|" + "---:|" * len(spec.columns) + "---|"]
        for r in mine:
            rank = str(r["rank"]) if r["rank"] is not None else "*reference*"
            lines.append(f"| {rank} | {md_cell(r['model'])} | {md_cell(r['source'])} | {md_cell(verification_text(r))} | "
                         f"{md_cell(r['data'])} | " + " | ".join(percent(r["scores"][c]) for c in spec.columns)
                         + f" | {md_cell(about_text(r))} |")
        lines.append("")
        if apart:
            lines += [f"### Not ranked: {apart_title(spec.hub_task_id)}", "",
                      "| Model | Source | Verification | Reason |", "|---|---|---|---|"]
            lines += [f"| {md_cell(r['model'])} | {md_cell(r['source'])} | {md_cell(verification_text(r))} | "
                      f"{md_cell('; '.join(r['problems']))} |" for r in apart]
            lines.append("")
    return "\n".join(lines)
