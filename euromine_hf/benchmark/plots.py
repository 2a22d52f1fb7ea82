"""The benchmark's figures as PNG: F1 against the interval per detector (the paper's change figures)
and OF1 against GCA-TIoU per segmenter (accuracy against temporal consistency), ours as mean ± std
over seeds, the paper's published values beside them as dashed lines / hollow markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from euromine_hf.benchmark.tables import summarise

FIGURES = {"change_detection": "figure_change_f1_by_interval.png", "mapping": "figure_mapping_of1_vs_gca_tiou.png"}


def _by_model(results: Sequence[Mapping[str, Any]], task: str) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        if r.get("task") == task and isinstance(r.get("test"), dict):
            grouped.setdefault(r["model"], []).append(r)
    return dict(sorted(grouped.items()))


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from euromine_hf.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_change(results: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """F1 per interval 1..9, one line per detector (error bars: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from euromine_hf.bands import load_resource
    from euromine_hf.metrics.tables import paper_row_name
    from euromine_hf.models.registry import get_spec

    grouped = _by_model(results, "change_detection")
    if not grouped:
        return None
    reported = load_resource("paper_results.json")["change_detection"]
    intervals = list(range(1, 10))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (model, runs) in enumerate(grouped.items()):
        color = f"C{i % 10}"
        cells = [summarise([r["test"][f"F1_interval_{k}"] for r in runs if f"F1_interval_{k}" in r["test"]]) for k in intervals]
        xs = [k for k, c in zip(intervals, cells) if c]
        ax.errorbar(xs, [c["mean"] for c in cells if c], yerr=[c["std"] or 0.0 for c in cells if c], color=color,
                    marker="o", capsize=3, label=f"{model} (n={len(runs)})")
        name = paper_row_name("change", get_spec(model).paper_name)
        if name is not None:
            ax.plot(intervals, [reported[name].get(str(k)) for k in intervals], color=color, linestyle="--",
                    label=f"{name} (paper)")
    ax.set(xlabel="interval t2 - t1 (years)", ylabel="F1 of the change class", ylim=(0, 1), xticks=intervals,
           title="Change detection: F1 against interval")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_mapping(results: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """OF1 against GCA-TIoU, one point per segmenter (error bars: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from euromine_hf.bands import load_resource
    from euromine_hf.metrics.tables import paper_row_name
    from euromine_hf.models.registry import get_spec

    grouped = _by_model(results, "mapping")
    if not grouped:
        return None
    reported = load_resource("paper_results.json")["mapping"]
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, (model, runs) in enumerate(grouped.items()):
        color = f"C{i % 10}"
        of1 = summarise([r["test"]["OF1"] for r in runs if "OF1" in r["test"]])
        gca = summarise([r["test"]["GCA-TIoU"] for r in runs if "GCA-TIoU" in r["test"]])
        if of1 and gca:
            ax.errorbar(of1["mean"], gca["mean"], xerr=of1["std"] or 0.0, yerr=gca["std"] or 0.0, color=color,
                        marker="o", capsize=3, label=f"{model} (n={len(runs)})")
        name = paper_row_name("mapping", get_spec(model).paper_name)
        if name is not None:
            ax.scatter([reported[name]["OF1"]], [reported[name]["GCA-TIoU"]], facecolors="none", edgecolors=color,
                       marker="s", label=f"{name} (paper)")
    ax.set(xlabel="OF1", ylabel="GCA-TIoU", xlim=(0, 1), ylim=(0, 1), title="Mapping: OF1 against GCA-TIoU")
    ax.legend(fontsize=7)
    return _save(fig, path)


def write_plots(output_dir: str | Path, results: Sequence[Mapping[str, Any]]) -> dict[str, Path]:
    """The figures of the tasks that have finished runs."""
    out = Path(output_dir)
    written = {}
    for task, plot in (("change_detection", plot_change), ("mapping", plot_mapping)):
        path = plot(results, out / FIGURES[task])
        if path is not None:
            written[f"figure_{task}"] = path
    return written
