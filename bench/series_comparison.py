"""Issue 17's comparison: the series model (utae-series) against the segmenters and detectors it
replaces, on the same split and data with the same training budget, mean ± std over seeds, the
issue's goals checked automatically, and the inference cost per site-series. Prints a Markdown report.

    OMP_NUM_THREADS=1 python bench/series_comparison.py --output_dir runs/series_comparison   # BENCHMARKS.md's table
    python bench/series_comparison.py --groups segmenters,detectors --output_dir runs/sc &   # or two processes,
    python bench/series_comparison.py --groups series --output_dir runs/sc                  # then --groups variants
    python bench/series_comparison.py --steps 2 --seeds 0 --images_per_step 20 \\
        --output_dir /tmp/series_smoke                                             # smoke test (minutes)

**Training budget** = images seen = optimizer steps × batch × images per sample, where a segmenter
sample (``--sampling per_year``) is 1 image, a detector's pair (``--sampling pairs``) 2 and a series
T (10 years). Every model gets the same ``--steps`` and the same ``--images_per_step``, so its batch
is ``images_per_step / images per sample`` (default 40: segmenters 40 images, detectors 20 pairs, the
series model 4 series) and every model sees ``steps × images_per_step`` images.

**Size**: every model at ``--size tiny``. The parameter count of each model and its ratio to the
series model are reported. Where the series model's tiny preset is not within ±20 % of the best
baseline of a task (best = the highest mean VALIDATION OF1 of its seeds, each at its run's selected
checkpoint; not GCA-TIoU, which an all-background model maximises), a width variant of the series model whose
parameter count is nearest to that baseline's (``--config_overrides encoder_widths=...``) is trained
too, and that task's goal is checked with it. Nothing is chosen on the test split.

**Goals** (issue 17), on the test split, mean over seeds:
  mapping: series GCA-TIoU ≥ best segmenter's + 0.03 and series OF1 ≥ its − 0.01;
  change:  series one-year F1 ≥ 1.5 × best detector's and series OF1 (45 pairs) > its.

Trainings go through ``euromine benchmark`` (one request per model group, since their batch sizes
differ): OUTPUT/segmenters, OUTPUT/detectors, OUTPUT/series and OUTPUT/series-w<widths> (a width variant), each with its runs,
result.json files and Tables 4-6; finished runs are skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

SERIES = "utae-series"
SEGMENTERS = ("segformer", "upernet-convnext", "unet")
DETECTORS = ("fc-ef", "bit", "changeformer", "snunet")
#: images one training sample holds, by benchmark group (a series: its years)
IMAGES_PER_SAMPLE = {"segmenters": 1, "detectors": 2}
#: the validation score that picks each task's best baseline: OF1, each task's checkpoint-selection
#: score (GCA-TIoU would crown a model that predicts no mine at all: an empty series scores 1)
SELECTION = {"segmenters": "OF1", "detectors": "OF1"}
TOLERANCE = 0.20
#: what one request can train: the baselines, the series model's tiny preset, its width-matched variants
GROUPS = ("segmenters", "detectors", "series", "variants")


def parameter_count(name: str, overrides: dict[str, Any] | None = None) -> int:
    from euromine_hf.models import build_model
    from euromine_hf.models.layers import count_parameters

    return count_parameters(build_model(name, "tiny", **(overrides or {})))


def matched_widths(target: int, heads: int = 4) -> tuple[dict[str, Any], int]:
    """Series-model widths (encoder = decoder, U-TAE's shape scaled from the tiny preset) whose parameter
    count is nearest to ``target``; every width a multiple of ``heads`` (the temporal attention's groups)."""
    base = (8, 8, 12, 24)
    best: tuple[int, dict[str, Any]] | None = None
    for step in range(1, 41):
        scale = step / 10
        widths = [max(heads, heads * round(w * scale / heads)) for w in base]
        overrides = {"encoder_widths": widths, "decoder_widths": widths}
        count = parameter_count(SERIES, overrides)
        if best is None or abs(count - target) < abs(best[0] - target):
            best = (count, overrides)
    assert best is not None
    return best[1], best[0]


def overrides_text(overrides: dict[str, Any]) -> str:
    return ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in overrides.items())


def run_group(out: Path, group: str, models: list[str], args: argparse.Namespace, images_per_sample: int,
              extra: list[str] = ()) -> None:
    """One ``euromine benchmark`` request: the models of a group with their batch from the budget rule."""
    from euromine_hf.cli import main as euromine

    if args.images_per_step % images_per_sample:
        raise SystemExit(f"--images_per_step {args.images_per_step} is not a multiple of {images_per_sample} "
                         f"(images per {group} sample)")
    batch = args.images_per_step // images_per_sample
    task = {"segmenters": "mapping", "detectors": "change_detection"}.get(group, "multitemporal")
    eval_every = max(1, args.steps // args.evaluations)
    argv = ["benchmark", "--task", task, "--models", ",".join(models), "--size", "tiny",
            "--seeds", ",".join(map(str, args.seeds)), "--max_steps", str(args.steps),
            "--output_dir", str(out / group)]
    if args.data_dir:
        argv += ["--data_dir", args.data_dir]
    argv += ["--", "--per_device_train_batch_size", str(batch), "--per_device_eval_batch_size", str(batch),
             "--eval_strategy", "steps", "--eval_steps", str(eval_every), "--save_strategy", "steps",
             "--save_steps", str(eval_every), "--learning_rate", str(args.learning_rate),
             "--dataloader_num_workers", "0", "--num_qualitative", "0", *args.train_options, *extra]
    code = euromine(argv)
    if code != 0:
        print(f"warning: euromine benchmark for {group} exited with {code}; missing runs show as missing",
              file=sys.stderr)


def load_group(out: Path, group: str) -> dict[str, list[dict[str, Any]]]:
    """model -> finished runs (result.json + the validation scores of the selected checkpoint)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((out / group / "runs").glob("*/*/seed*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        result["validation"] = validation_scores(path.parent)
        runs.setdefault(result["model"], []).append(result)
    return runs


def validation_scores(run_dir: Path) -> dict[str, float]:
    """The evaluation scores logged at the checkpoint the run selected (its best on validation)."""
    states = sorted(run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not states:
        return {}
    state = json.loads(states[-1].read_text(encoding="utf-8"))
    best = state.get("best_model_checkpoint")
    step = int(Path(best).name.split("-")[1]) if best else state.get("global_step")
    logged = [e for e in state.get("log_history", []) if e.get("step") == step and any(k.startswith("eval_") for k in e)]
    return {k[len("eval_"):]: float(v) for k, v in (logged[-1] if logged else {}).items() if k.startswith("eval_")}


def mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def cell(values: list[float]) -> str:
    if not values:
        return "missing"
    mean, std = mean_std(values)
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def scores(runs: list[dict[str, Any]], field: str, key: str) -> list[float]:
    return [float(r[field][key]) for r in runs if isinstance(r.get(field), dict) and key in r[field]]


def best_baseline(runs: dict[str, list[dict[str, Any]]], metric: str) -> str | None:
    """The baseline with the highest mean validation ``metric`` (never the test split)."""
    ranked = [(statistics.fmean(v), -(SEGMENTERS + DETECTORS).index(m), m) for m, rs in runs.items() if (v := [r["validation"][metric] for r in rs
                                                                          if metric in r.get("validation", {})])]
    return max(ranked)[2] if ranked else None  # ties: the first in the order


def report(out: Path, args: argparse.Namespace, params: dict[str, int], variants: dict[str, str]) -> str:
    from series_cost import series_flops, single_flops

    groups = {g: load_group(out, g) for g in ("segmenters", "detectors", *variants.values(), "series")}
    series_runs = groups["series"].get(SERIES, [])
    t = 10
    lines = [f"### Series model vs. the models it replaces (`--size tiny`, {len(args.seeds)} seed(s), "
             f"{args.steps} steps × {args.images_per_step} images)", "",
             "Budget: images seen = optimizer steps × batch × images per sample (segmenter 1, detector pair 2, "
             f"series {t}); every model {args.steps} steps of {args.images_per_step} images "
             f"= {args.steps * args.images_per_step} images. Test split, mean ± sample std over seeds; "
             "best baseline of a task chosen on validation. Learning rate "
             f"{args.learning_rate:g} for all; change loss {args.change_loss} (detectors, and the series model's Eq. 7 "
             f"term); the series model draws "
             f"{args.pairs_per_series} pairs per series and step for Eq. 7.", "",
             "| model | task | params | series / model | batch | mapping OF1 | GCA-TIoU | change F1 (1 year) | change OF1 "
             "| post-cls OF1 | validation |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def row(label: str, task: str, runs: list[dict[str, Any]], batch: int, series_params: int, param: int,
            selection: str) -> None:
        mapping = ("test" if task != "change" else None)
        change = "change" if task == "series" else ("test" if task == "change" else None)
        post = "post_classification" if task in ("series", "mapping") else None
        values = [
            cell(scores(runs, mapping, "OF1")) if mapping else "–", cell(scores(runs, mapping, "GCA-TIoU")) if mapping else "–",
            cell(scores(runs, change, "F1_interval_1")) if change else "–", cell(scores(runs, change, "OF1")) if change else "–",
            cell(scores(runs, post, "OF1")) if post else "–",
            f"{selection} {cell([r['validation'][selection] for r in runs if selection in r.get('validation', {})])}",
        ]
        ratio = "–" if task == "series" else f"{series_params / param:.2f}"
        lines.append(f"| {label} | {task} | {param} | {ratio} | {batch} | " + " | ".join(values) + " |")

    series_batch = args.images_per_step // t
    row(SERIES, "series", series_runs, series_batch, params[SERIES], params[SERIES], "series_OF1")
    for group in dict.fromkeys(variants.values()):  # one row per variant, also when it serves both tasks
        row(f"{SERIES} [{group}]", "series", groups[group].get(SERIES, []), series_batch, params[group], params[group],
            "series_OF1")
    for name in SEGMENTERS:
        row(name, "mapping", groups["segmenters"].get(name, []), args.images_per_step, params[SERIES], params[name],
            SELECTION["segmenters"])
    for name in DETECTORS:
        row(name, "change", groups["detectors"].get(name, []), args.images_per_step // 2, params[SERIES], params[name],
            SELECTION["detectors"])

    best_seg = best_baseline(groups["segmenters"], SELECTION["segmenters"])
    best_det = best_baseline(groups["detectors"], SELECTION["detectors"])
    lines += ["", "Goals (issue 17), test split, means over seeds:", ""]

    def mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    def contender(task: str) -> tuple[str, list[dict[str, Any]]]:
        group = variants.get(task)
        return (f"{SERIES} [{group}]", groups[group].get(SERIES, [])) if group else (SERIES, series_runs)

    if best_seg:
        name, runs = contender("mapping")
        seg = groups["segmenters"][best_seg]
        g_s, g_b = mean(scores(runs, "test", "GCA-TIoU")), mean(scores(seg, "test", "GCA-TIoU"))
        o_s, o_b = mean(scores(runs, "test", "OF1")), mean(scores(seg, "test", "OF1"))
        if None in (g_s, g_b, o_s, o_b):
            lines.append(f"- mapping: not checked (missing runs of {name} or {best_seg})")
        else:
            met = g_s >= g_b + 0.03 and o_s >= o_b - 0.01
            lines.append(f"- mapping vs best segmenter {best_seg} ({params[best_seg]} params, ratio "
                         f"{params[variants.get('mapping', SERIES)] / params[best_seg]:.2f}): GCA-TIoU {g_s:.4f} vs "
                         f"{g_b:.4f} + 0.03 (by {g_s - g_b - 0.03:+.4f}), OF1 {o_s:.4f} vs {o_b:.4f} − 0.01 "
                         f"(by {o_s - o_b + 0.01:+.4f}): **{'met' if met else 'missed'}**")
    if best_det:
        name, runs = contender("change")
        det = groups["detectors"][best_det]
        f_s, f_b = mean(scores(runs, "change", "F1_interval_1")), mean(scores(det, "test", "F1_interval_1"))
        o_s, o_b = mean(scores(runs, "change", "OF1")), mean(scores(det, "test", "OF1"))
        if None in (f_s, f_b, o_s, o_b):
            lines.append(f"- change: not checked (missing runs of {name} or {best_det})")
        else:
            met = f_s >= 1.5 * f_b and o_s > o_b
            lines.append(f"- change vs best detector {best_det} ({params[best_det]} params, ratio "
                         f"{params[variants.get('change', SERIES)] / params[best_det]:.2f}): one-year F1 {f_s:.4f} vs "
                         f"1.5 × {f_b:.4f} (by {f_s - 1.5 * f_b:+.4f}), OF1 over 45 pairs {o_s:.4f} vs {o_b:.4f} "
                         f"(by {o_s - o_b:+.4f}): **{'met' if met else 'missed'}**")
    if best_seg and best_det:
        replaced = 10 * single_flops(best_seg, "tiny") + 45 * single_flops(best_det, "tiny")
        ours = series_flops(SERIES, "tiny")
        lines += ["", f"Inference cost per site-series (one 160-px patch, 10 years; bench/series_cost.py's FLOP count): "
                      f"{SERIES} {ours / 1e9:.3f} GFLOPs for 10 masks + 45 change maps, vs {best_seg} ×10 + "
                      f"{best_det} ×45 = {replaced / 1e9:.3f} GFLOPs ({replaced / ours:.1f}×)."]
        for group in dict.fromkeys(variants.values()):
            widths = [int(w) for w in group[len("series-w"):].split("-")]
            cost = series_flops(SERIES, "tiny", overrides={"encoder_widths": widths, "decoder_widths": widths})
            lines.append(f"{SERIES} [{group}]: {cost / 1e9:.3f} GFLOPs per series; {best_seg} ×10 + {best_det} ×45 "
                         f"is {replaced / cost:.1f}× that.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--output_dir", required=True, help="where the benchmark requests and the report go")
    parser.add_argument("--data_dir", default=None, help="archive (default: the embedded synthetic default)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps of every model (default 150)")
    parser.add_argument("--images_per_step", type=int, default=40,
                        help="images per optimizer step of every model (default 40: batch 40 / 20 pairs / 4 series)")
    parser.add_argument("--evaluations", type=int, default=3, help="validation evaluations per run (default 3)")
    parser.add_argument("--learning_rate", type=float, default=1e-2,
                        help="the same for every model (default 1e-2: the tiny models' classifiers grow within ~100 steps, "
                             "see training/demo.py)")
    parser.add_argument("--change_loss", default="dice", choices=["ce", "ce+dice", "dice"],
                        help="the change loss of the detectors and of the series model's pair term (Eq. 7) alike "
                             "(default dice: with cross-entropy the tiny detectors settled on 'no change' within a few "
                             "hundred steps on the default archive, see training/demo.py, and the series model's "
                             "residual learned to suppress change, see BENCHMARKS.md)")
    parser.add_argument("--pairs_per_series", type=int, default=5,
                        help="year pairs drawn per series and step for Eq. 7 (default 5: 4 series × 5 = 20 change "
                             "maps per step, as many as a detector's 20 pairs)")
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help=f"which groups to train (default all: {','.join(GROUPS)}); 'variants' are the width-"
                             "matched series models, chosen from the finished baselines. Two processes can train "
                             "disjoint groups or seeds into one --output_dir at once")
    parser.add_argument("--report_only", action="store_true", help="write the report from finished runs, train nothing")
    parser.add_argument("train_options", nargs=argparse.REMAINDER, help="after --: extra train.py options for every run")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.train_options = [o for o in args.train_options if o != "--"]
    groups = set(args.groups.split(","))
    if not groups or groups - set(GROUPS):
        parser.error(f"--groups: choose from {', '.join(GROUPS)}; got {args.groups!r}")
    if args.report_only:
        groups = set()
    if args.steps < 1 or args.images_per_step < 1 or args.evaluations < 1:
        parser.error("--steps, --images_per_step and --evaluations must be positive")
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # series_cost beside this file
    out = Path(args.output_dir)

    params = {name: parameter_count(name) for name in (SERIES, *SEGMENTERS, *DETECTORS)}
    if "segmenters" in groups:
        run_group(out, "segmenters", list(SEGMENTERS), args, 1)
    if "detectors" in groups:
        run_group(out, "detectors", list(DETECTORS), args, 2, ["--config_overrides", f"loss={args.change_loss}"])
    if "series" in groups:
        run_group(out, "series", [SERIES], args, 10, ["--config_overrides", overrides_text({"change_loss": args.change_loss}),
                                                      "--pairs_per_series", str(args.pairs_per_series)])
    variants: dict[str, str] = {}
    for task, group in (("mapping", "segmenters"), ("change", "detectors")):
        runs = load_group(out, group)
        models = SEGMENTERS if group == "segmenters" else DETECTORS
        unfinished = [m for m in models if len(runs.get(m, [])) < len(args.seeds)]
        if unfinished:  # the best baseline is chosen from every seed of every baseline, never from a part
            print(f"{group}: {', '.join(unfinished)} not finished for seeds {args.seeds}: no {task} width variant yet",
                  file=sys.stderr)
            continue
        best = best_baseline(runs, SELECTION[group])
        if best is None or abs(params[SERIES] / params[best] - 1) <= TOLERANCE:
            continue
        overrides, count = matched_widths(params[best])
        name = "series-w" + "-".join(map(str, overrides["encoder_widths"]))  # its folder: one per width
        variants[task], params[name] = name, count
        print(f"{SERIES} tiny ({params[SERIES]}) is not within ±20 % of the best {group[:-1]} {best} "
              f"({params[best]}, chosen on validation {SELECTION[group]}): width variant of {SERIES}: "
              f"{overrides_text(overrides)} ({count} params)", file=sys.stderr)
        if abs(count / params[best] - 1) > TOLERANCE:
            print(f"warning: the nearest width variant has {count} params, still outside ±20 % of {best}",
                  file=sys.stderr)
        if "variants" in groups:
            run_group(out, name, [SERIES], args, 10, ["--config_overrides",
                                                      overrides_text({**overrides, "change_loss": args.change_loss}),
                                                      "--pairs_per_series", str(args.pairs_per_series)])
    text = report(out, args, params, variants)
    from euromine_hf.io import atomic_write_text

    atomic_write_text(out / "series_comparison.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
