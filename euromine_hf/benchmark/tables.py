"""The benchmark's Tables 4-6: every cell the mean ± standard deviation over seeds, with the number of
seeds, and the paper's published row under ours.

Built from the ``result.json`` files of the finished runs (:mod:`euromine_hf.benchmark.jobs`), so the
tables show whatever finished; a planned run that did not finish is listed as missing, never counted
as zero. Every score read from a ``result.json`` is checked first (:func:`check_result`: the task's
columns, each a finite number in [0, 1]); a damaged one stops the request with one line naming the
file and field, before any table is written. Only runs trained with the request's options (size, archive, steps, training options) enter
a table: runs of the same folder trained otherwise are named as excluded, never averaged in.

Columns, paper names and the paper's numbers come from :mod:`euromine_hf.metrics.tables` (the same
as every single run's ``results/test_results``). The standard deviation is the sample one (n - 1).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from euromine_hf.benchmark.plan import RESULT_FILE, RunSpec, read_json

#: output stem -> (metrics.tables kind, {benchmark task of the runs: the result field holding its scores}, title);
#: a series model (task ``multitemporal``) has a row in every table, after the paper's models
TABLES: dict[str, tuple[str, dict[str, str], str]] = {
    "table4": ("mapping", {"mapping": "test", "multitemporal": "test"},
               "Table 4: multitemporal mapping (F1 per year, OF1, GCA/LCA-TIoU)"),
    "table5": ("change", {"change_detection": "test", "multitemporal": "change"},
               "Table 5: change detection (F1 per interval, OF1)"),
    "table6": ("post-classification", {"mapping": "post_classification", "multitemporal": "post_classification"},
               "Table 6: post-classification change of the segmenters (F1 per interval, OF1)"),
}
#: zoo task of each benchmark task's models (row order)
_ZOO_TASKS = {"mapping": "segmentation", "change_detection": "change_detection", "multitemporal": "multitemporal"}
#: options that differ between the runs of one table by design
PER_RUN_OPTIONS = ("task", "model", "seed")


def load_results(output_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished run's ``result.json`` under ``OUTPUT/runs``, each checked (:func:`check_result`);
    a damaged one is an error naming it."""
    root = Path(output_dir) / "runs"
    paths = sorted(root.glob(f"*/*/seed*/{RESULT_FILE}")) if root.is_dir() else []
    return [check_result(p, read_json(p, "run result")) for p in paths]


def check_result(path: Path | str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` (read from ``path``) if every value the tables read is sound: a benchmark task, a zoo
    model name, an integer seed, and in each scores field the task's tables read (``test``, ``change``,
    ``post_classification``) every column's score a finite number in [0, 1]. Otherwise a ValueError
    naming the file and the field (a cell computed from a hand-edited or damaged file is never shown)."""
    task = result.get("task")
    fields = {field: kind for kind, by_task, _ in TABLES.values() for t, field in by_task.items() if t == task}
    if not fields:
        raise ValueError(f"{path}: field 'task': expected one of {', '.join(_ZOO_TASKS)}, found {task!r:.80}")
    if not isinstance(result.get("model"), str):
        raise ValueError(f"{path}: field 'model': expected a zoo model name, found {result.get('model')!r:.80}")
    seed = result.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{path}: field 'seed': expected a non-negative integer, found {seed!r:.80}")
    from euromine_hf.metrics.tables import score_key, table_columns

    for field, kind in fields.items():
        scores = result.get(field)
        if scores is None and field == "post_classification":
            continue  # not scored (e.g. one test year): Table 6 shows it missing
        if not isinstance(scores, dict):
            raise ValueError(f"{path}: field {field!r}: expected the run's scores (a JSON object), found {scores!r:.80}")
        for column in table_columns(kind):
            key = score_key(kind, column)
            if key not in scores:
                continue  # a column the run did not score: shown missing
            value = scores[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= 1:
                hint = f" (remove the run's {RESULT_FILE} to retrain it)" if Path(path).name == RESULT_FILE else ""
                raise ValueError(f"{path}: field '{field}.{key}': expected a finite number in [0, 1], found "
                                 f"{value!r:.80}; not shown{hint}")
    return result


def _common(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in PER_RUN_OPTIONS}


def matching_results(results: Sequence[Mapping[str, Any]], specs: Sequence[RunSpec]) -> list[Mapping[str, Any]]:
    """The results trained with the request's options (all of them when there is no request)."""
    if not specs:
        return list(results)
    reference = _common(specs[0].options)
    return [r for r in results if _common(r.get("options", {})) == reference]


def summarise(values: Sequence[float]) -> dict[str, Any] | None:
    """``{"mean", "std", "n"}`` of a cell (std: sample, None for one seed); None when no seed has it."""
    if not values:
        return None
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def table_rows(stem: str, results: Sequence[Mapping[str, Any]], specs: Sequence[RunSpec]) -> dict[str, Any]:
    """Rows of one table: per model (zoo order) ours, then the paper's row for it when the paper has one."""
    import euromine_hf.models  # noqa: F401  registers the zoo
    from euromine_hf.bands import load_resource
    from euromine_hf.metrics.tables import TASKS, paper_row_name, score_key, table_columns
    from euromine_hf.models.registry import get_spec, zoo_names

    kind, fields, title = TABLES[stem]
    columns = table_columns(kind)
    reference = _common(specs[0].options) if specs else None
    planned = {(s.model, s.seed) for s in specs if s.task in fields}
    ours = [r for r in results if r.get("task") in fields]
    used = matching_results(ours, specs)
    excluded = sorted(f"{r['model']}/seed{r['seed']}" for r in ours if r not in used)
    models = {m for m, _ in planned} | {r["model"] for r in used}
    order = [name for task in fields for name in zoo_names(_ZOO_TASKS[task])]
    field_of = {name: fields[task] for task in fields for name in zoo_names(_ZOO_TASKS[task])}
    reported = load_resource("paper_results.json")[TASKS[kind][0]]
    rows = []
    for model in sorted(models, key=lambda m: (order.index(m) if m in order else len(order), m)):
        runs = sorted((r for r in used if r["model"] == model), key=lambda r: r["seed"])
        scores = [r.get(field_of.get(model, fields.get(r.get("task"), "test"))) or {} for r in runs]
        paper_name = get_spec(model).paper_name
        row: dict[str, Any] = {
            "model": model, "paper_name": paper_name, "source": "ours",
            "seeds": [r["seed"] for r, sc in zip(runs, scores) if sc],
            "missing_seeds": sorted({s for m, s in planned if m == model} - {r["seed"] for r, sc in zip(runs, scores) if sc}),
        }
        for c in columns:
            row[c] = summarise([float(s[score_key(kind, c)]) for s in scores if s.get(score_key(kind, c)) is not None])
        rows.append(row)
        name = paper_row_name(kind, paper_name)
        if name is not None:
            rows.append({"model": model, "paper_name": name, "source": "paper",
                         **{c: reported[name].get(c) for c in columns}})
    return {"table": TASKS[kind][1], "title": title, "kind": kind, "columns": columns, "options": reference,
            "std": "sample standard deviation (n - 1) over seeds", "excluded_runs": excluded, "rows": rows}


def _cell(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        text = f"{100 * value['mean']:.2f}"
        return text + (f" ± {100 * value['std']:.2f}" if value["std"] is not None else "")
    return f"{100 * value:.2f}"


def to_markdown(table: Mapping[str, Any]) -> str:
    columns = table["columns"]
    lines = [f"### {table['title']}", "",
             "Values in %: ours as mean ± standard deviation over n seeds (sample std; no ± with one seed), "
             "the paper's published value in the row marked (paper). A run that did not finish is missing, not zero.",
             "", "| Model | n | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for row in table["rows"]:
        if row["source"] == "paper":
            lines.append(f"| {row['paper_name']} (paper) | – | " + " | ".join(_cell(row[c]) for c in columns) + " |")
            continue
        n = f"{len(row['seeds'])}" + (f" (missing seeds {', '.join(map(str, row['missing_seeds']))})" if row["missing_seeds"] else "")
        lines.append(f"| {row['paper_name']} [{row['model']}] | {n} | " + " | ".join(_cell(row[c]) for c in columns) + " |")
    if table["excluded_runs"]:
        lines += ["", "Not in this table (trained with other options than this request): " + ", ".join(table["excluded_runs"])]
    return "\n".join(lines) + "\n"


def to_csv(table: Mapping[str, Any]) -> str:
    """One row per model and source; fractions, ``<column>_mean`` / ``_std`` / ``_n`` for ours."""
    columns = table["columns"]
    fields = ["model", "paper_name", "source", "n", "seeds", "missing_seeds"] + [f"{c}_{s}" for c in columns for s in ("mean", "std", "n")]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in table["rows"]:
        out: dict[str, Any] = {"model": row["model"], "paper_name": row["paper_name"], "source": row["source"]}
        if row["source"] == "ours":
            out.update(n=len(row["seeds"]), seeds=" ".join(map(str, row["seeds"])),
                       missing_seeds=" ".join(map(str, row["missing_seeds"])))
        for c in columns:
            v = row[c]
            if isinstance(v, dict):
                out.update({f"{c}_mean": v["mean"], f"{c}_std": "" if v["std"] is None else v["std"], f"{c}_n": v["n"]})
            else:
                out.update({f"{c}_mean": "" if v is None else v, f"{c}_std": "", f"{c}_n": "" if row["source"] == "paper" else 0})
        writer.writerow(out)
    return buf.getvalue()


def table_stems(tasks: Iterable[str | None]) -> list[str]:
    """The tables (``table4`` ...) that runs of ``tasks`` appear in."""
    tasks = set(tasks)
    return [stem for stem, (_, fields, _) in TABLES.items() if tasks & set(fields)]


def output_names(tasks: Iterable[str | None]) -> list[str]:
    """Every file the tables and figures of runs of ``tasks`` may take in ``OUTPUT`` (checked before a run starts)."""
    from euromine_hf.benchmark.plots import FIGURES

    tasks = set(tasks)
    figures = [name for task, name in FIGURES.items() if task in tasks]
    return [f"{stem}.{ext}" for stem in table_stems(tasks) for ext in ("md", "csv", "json")] + figures


def benchmark_tables(results: Sequence[Mapping[str, Any]], specs: Sequence[RunSpec]) -> dict[str, str]:
    """File name -> text of ``table{4,5,6}.{md,csv,json}`` for the tasks the request or the finished runs cover."""
    texts: dict[str, str] = {}
    for stem in table_stems([s.task for s in specs] + [r.get("task") for r in results]):
        table = table_rows(stem, results, specs)
        for ext, text in (("md", to_markdown(table)), ("csv", to_csv(table)), ("json", json.dumps(table, indent=1) + "\n")):
            texts[f"{stem}.{ext}"] = text
    return texts


def write_benchmark_tables(output_dir: str | Path, results: Sequence[Mapping[str, Any]],
                           specs: Sequence[RunSpec]) -> dict[str, Path]:
    """``OUTPUT/table{4,5,6}.{md,csv,json}``: every table computed first, then written."""
    from euromine_hf.io import atomic_write_text

    out = Path(output_dir)
    texts = benchmark_tables(results, specs)
    return {name.replace(".", "_"): atomic_write_text(out / name, text) for name, text in texts.items()}
