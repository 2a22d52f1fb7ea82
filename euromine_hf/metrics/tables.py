"""Result tables shaped like the paper's Tables 4 (mapping), 5 (change detection) and 6
(post-classification change), as Markdown, CSV and JSON.

One row per model; columns in the paper's order. With ``paper=True`` the numbers the paper
reports (``resources/paper_results.json``) are placed beside ours: each of our rows is followed
by the paper's row for the same model name (when the paper has one), labelled ``(paper)``.
Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Mapping

from euromine_hf.bands import YEARS, load_resource

__all__ = ["TASKS", "PAPER_ALIASES", "paper_row_name", "table_columns", "table_rows", "to_markdown", "to_csv", "to_json", "write_tables", "table_paths", "score_key"]

#: task name -> (paper_results.json section, paper table number)
TASKS: dict[str, tuple[str, int]] = {
    "mapping": ("mapping", 4),
    "change": ("change_detection", 5),
    "post-classification": ("post_classification", 6),
}


def table_columns(task: str) -> list[str]:
    """Column labels of a table (as the paper heads them)."""
    if task == "mapping":
        return [str(y) for y in YEARS] + ["OF1", "GCA-TIoU", "LCA-TIoU"]
    if task in ("change", "post-classification"):
        return [str(k) for k in range(1, 10)] + ["OF1"]
    raise ValueError(f"task: expected one of {list(TASKS)}, got {task!r}")


def score_key(task: str, column: str) -> str:
    """The scorer key behind a column label (``"2015"`` -> ``"F1_2015"``, ``"3"`` -> ``"F1_interval_3"``)."""
    if column.isdigit():
        return f"F1_{column}" if task == "mapping" else f"F1_interval_{column}"
    return column


#: Names the detectors' own papers use → the row names of the EuroMineNet paper's Table 5.
PAPER_ALIASES: dict[str, str] = {
    "fcsiamdiff": "SiamUnet_Diff",
    "fcsiamconc": "SiamUnet_Conc",
    "siamunetdiff": "SiamUnet_Diff",
    "siamunetconc": "SiamUnet_Conc",
    "fcef": "FC-EF",
    "snunetcd": "SNUNet",
    "tinycd": "Tiny_CD",
    "bitcd": "BIT",
}


def _squash(name: str) -> str:
    """Lower case without spaces, hyphens, underscores, dots, brackets; ``+`` kept (UNet++ is not UNet)."""
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == "+")


def paper_row_name(task: str, model: str) -> str | None:
    """The paper's row for ``model`` in a task's table: exact, then ignoring case and punctuation other
    than ``+`` (``DeeplabV3P (ResNet-101)`` = ``DeeplabV3P (ResNet101)``), then :data:`PAPER_ALIASES`."""
    reported = load_resource("paper_results.json")[TASKS[task][0]]
    if model in reported:
        return model
    by_squash = {_squash(name): name for name in reported}
    key = _squash(model)
    if key in by_squash:
        return by_squash[key]
    alias = PAPER_ALIASES.get(key)
    return alias if alias in reported else None


def table_rows(
    task: str, results: Mapping[str, Mapping[str, float]], paper: bool = False, all_paper_rows: bool = False
) -> list[dict[str, Any]]:
    """Rows ``{"model": name, "source": "ours"|"paper", column: value or None}``.

    With ``paper``, each of our rows is followed by the paper's row of the same model; with
    ``all_paper_rows`` too, every other row the paper reports for the task follows ours (what a
    comparison needs when our rows are not named after a paper model)."""
    columns = table_columns(task)
    reported = load_resource("paper_results.json")[TASKS[task][0]] if paper else {}
    # "UNet [site]", "UNet [micro]", ... (evaluate --protocol all) are one model: its paper row follows the last
    names = [paper_row_name(task, re.sub(r" \[[a-z]+\]$", "", model)) if paper else None for model in results]
    rows: list[dict[str, Any]] = []
    for i, (model, scores) in enumerate(results.items()):
        row: dict[str, Any] = {"model": model, "source": "ours"}
        for c in columns:
            v = scores.get(score_key(task, c), scores.get(c))
            row[c] = None if v is None else float(v)
        rows.append(row)
        name = names[i]
        if name is not None and (i + 1 == len(names) or names[i + 1] != name):
            label = re.sub(r" \[[a-z]+\]$", "", model)
            rows.append({"model": label, "source": "paper", **{c: reported[name].get(c) for c in columns}})
    if paper and all_paper_rows:
        shown = set(names)
        rows += [{"model": name, "source": "paper", **{c: values.get(c) for c in columns}}
                 for name, values in reported.items() if name not in shown]
    return rows


def _fmt(v: Any, digits: int) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def to_markdown(task: str, rows: list[dict[str, Any]], digits: int = 2) -> str:
    """A Markdown table, values in percent as in the paper."""
    columns = table_columns(task)
    number = TASKS[task][1]
    head = "F1 per year" if task == "mapping" else "F1 per interval (years)"
    lines = [
        f"Table {number}-style {task} results ({head}; values in %).",
        "",
        "| Model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in rows:
        label = row["model"] + (" (paper)" if row["source"] == "paper" else "")
        lines.append(f"| {label} | " + " | ".join(_fmt(row[c], digits) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def to_csv(task: str, rows: list[dict[str, Any]]) -> str:
    """CSV with fractions (not percent), one row per model and source."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["model", "source"] + table_columns(task), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def to_json(task: str, rows: list[dict[str, Any]]) -> str:
    return json.dumps({"task": task, "paper_table": TASKS[task][1], "columns": table_columns(task), "rows": rows}, indent=2) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    from euromine_hf.io import atomic_write_text

    atomic_write_text(path, text)


def table_paths(out_dir: str | Path, task: str, stem: str | None = None) -> dict[str, Path]:
    """The files :func:`write_tables` writes (``{stem}.md|csv|json``), for checking them beforehand."""
    stem = stem or f"table{TASKS[task][1]}_{task.replace('-', '_')}"
    out = Path(out_dir)
    return {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "json": out / f"{stem}.json"}


def write_tables(
    out_dir: str | Path, task: str, results: Mapping[str, Mapping[str, float]], paper: bool = False, stem: str | None = None,
    all_paper_rows: bool = False,
) -> dict[str, Path]:
    """Write ``{stem}.md``, ``.csv`` and ``.json`` (stem defaults to ``table{4,5,6}_{task}``)."""
    rows = table_rows(task, results, paper, all_paper_rows)
    paths = table_paths(out_dir, task, stem)
    _atomic_write(paths["md"], to_markdown(task, rows))
    _atomic_write(paths["csv"], to_csv(task, rows))
    _atomic_write(paths["json"], to_json(task, rows))
    return paths
