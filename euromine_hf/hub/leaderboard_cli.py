"""``euromine leaderboard``: ``submit`` a test-split submission (validate, score, record, publish)
and ``show`` the ranking of both tasks as Markdown, CSV and a sortable HTML page."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run_submit", "run_show", "SUBMISSION_DOC"]

#: The submission format, shipped in the package (printed by ``euromine leaderboard format``).
SUBMISSION_DOC = "leaderboard_submission.md"

DESCRIPTION = """The EuroMineNet benchmark leaderboard (test split, site protocol).

Examples:
  euromine leaderboard format                        # print the submission format
  euromine leaderboard submit my_preds --archive outputs/archive
  euromine leaderboard submit my_preds --archive outputs/archive --push --model-repo me/my-unet --dataset-repo me/euromine
  euromine leaderboard show --out outputs/leaderboard --dataset-repo me/euromine

A submission is a folder: submission.json ({"model": ..., "task": "mapping" | "change_detection",
optional "model_repo", "authors", "links", "description", "license"}) plus one mask per test site and year
({Site}/Year{YYYY}.tif or {Site}/{YYYY}/Patch{n}.npy|png) for mapping, or per test site and year
pair ({Site}/Change{Y1}_{Y2}.tif or {Site}/{Y1}_{Y2}/Patch{n}.npy|png) for change detection;
masks hold 0/1 or 0/255. The full format: `euromine leaderboard format`
(euromine_hf/resources/leaderboard_submission.md)."""


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.options import SEED

    parser = subparsers.add_parser(name, help=summary, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="leaderboard_command", metavar="ACTION")

    fmt = sub.add_parser("format", help="print the submission format (Markdown)")
    fmt.set_defaults(func=run_format)

    submit = sub.add_parser(
        "submit", help="validate and score a submission; record it (and publish it with --push)",
        description="Validate a submission folder for the test split (every problem is listed at once; nothing is "
        "written unless it passes), score it like `euromine evaluate` at the site protocol, and write a result "
        "entry to RESULTS/entries/TASK/. With --push, also write .eval_results/*.yaml and the card's model-index "
        "to the model repo, so the dataset repo's Hub leaderboard lists it. Format: `euromine leaderboard format`.",
    )
    submit.add_argument("submission", help="submission folder (submission.json + masks)")
    submit.add_argument("--archive", required=True, help="archive folder whose test split is scored (raw or cropped layout)")
    submit.add_argument("--task", choices=("mapping", "change_detection"), default=None, help="expected task (default: submission.json's)")
    submit.add_argument("--model", default=None, metavar="NAME",
                        help="the model's name, for a folder without submission.json (e.g. straight from `euromine predict`); "
                             "needs --task")
    submit.add_argument("--results", default="leaderboard", help="local leaderboard folder (default: ./leaderboard)")
    submit.add_argument("--split-scheme", default="auto", choices=("auto", "official", "random"), help="how sites are split (default: auto)")
    submit.add_argument("--seed", type=SEED, default=0, help="seed of the random split scheme")
    submit.add_argument("--push", action="store_true", help="publish the result to the Hub (needs --model-repo or model_repo in submission.json)")
    submit.add_argument("--model-repo", default=None, help="model repo NAMESPACE/NAME that receives the results (created if missing)")
    submit.add_argument("--dataset-repo", default=None, help="benchmark dataset repo with eval.yaml (default: NAMESPACE/euromine of the model repo)")
    submit.set_defaults(func=run_submit)

    show = sub.add_parser(
        "show", help="rank both tasks as Markdown, CSV and a sortable HTML page",
        description="Collect results from local entries, model cards' model-index and the Hub's dataset leaderboard, "
        "add the paper's Tables 4-6 as reference rows (paper (real EuroMineNet)), rank by OF1 and write "
        "OUT/leaderboard.md, OUT/{task}.csv and OUT/index.html. A rerun replaces only the files show wrote "
        "(listed in OUT/.euromine-leaderboard.json with their sha256, unchanged since); any other file of those names "
        "is kept and the run refused. Local entries are checked again; one that fails is listed apart, unranked.",
    )
    show.add_argument("--results", default="leaderboard", help="local leaderboard folder (default: ./leaderboard)")
    show.add_argument("--task", choices=("mapping", "change_detection", "all"), default="all")
    show.add_argument("--out", default=None, help="output folder (default: the --results folder)")
    show.add_argument("--model-repo", nargs="*", default=[], metavar="REPO", help="also read these model cards' model-index")
    show.add_argument("--dataset-repo", default=None, help="also read this benchmark dataset's Hub leaderboard")
    show.add_argument("--no-paper", action="store_true", help="leave out the paper's reference rows")
    show.set_defaults(func=run_show)

    parser.set_defaults(func=lambda args: _no_action(parser))
    return parser


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_format(args: argparse.Namespace) -> int:
    print((Path(__file__).resolve().parent.parent / "resources" / SUBMISSION_DOC).read_text(encoding="utf-8"))
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from euromine_hf.hub import leaderboard as lb
    from euromine_hf.hub.leaderboard.text import is_repo_id

    if args.model is not None and args.task is None:
        raise ValueError("--model: expected --task mapping|change_detection with it (there is no submission.json to say)")
    _check_results_folder(Path(args.results), {"the submission": Path(args.submission), "--archive": Path(args.archive)})
    if args.model_repo is not None and not is_repo_id(args.model_repo):
        raise ValueError(f"--model-repo: expected a Hub model id NAMESPACE/NAME, found {args.model_repo!r}")
    meta = {"model": args.model, "task": args.task} if args.model is not None else None
    if meta is not None and args.model_repo:
        meta["model_repo"] = args.model_repo
    submission = lb.validate_submission(args.submission, args.archive, task=args.task, split_scheme=args.split_scheme,
                                        seed=args.seed, meta=meta)
    model_repo = args.model_repo or submission.meta.get("model_repo")
    if args.push and not model_repo:
        raise ValueError("--push: expected --model-repo NAMESPACE/NAME (or model_repo in submission.json), found neither")
    scores = lb.score_submission(submission, split_scheme=args.split_scheme, seed=args.seed)
    entry = lb.make_result_entry(submission, scores, split_scheme=args.split_scheme, seed=args.seed)
    if model_repo:
        entry["model_repo"] = model_repo
    if args.push:
        dataset_repo = args.dataset_repo or f"{model_repo.split('/')[0]}/euromine"
        entry["hub"] = lb.push_result(entry, model_repo, dataset_repo, token=os.environ.get("HF_TOKEN") or None)
    path = lb.write_result_entry(args.results, entry)
    spec = submission.task
    print(f"{entry['model']} ({spec.name}, {len(submission.sites)} test sites, site protocol):")
    for column in spec.columns:
        if column in scores:
            print(f"  {column:>14}: {100 * scores[column]:6.2f}")
    print(f"wrote {path}")
    if entry["hub"]:
        print(f"pushed {entry['hub']['eval_results_file']} and model-index to {entry['hub']['model_repo']} "
              f"(leaderboard of {entry['hub']['dataset_repo']}): {entry['hub']['commit_url']}")
    return 0


def _check_results_folder(results: Path, read: dict[str, Path]) -> None:
    """The results folder shares no path with a folder submit reads: an entry written into the
    submission would make it invalid, one written into the archive would change what it holds."""
    where = results.resolve()
    for what, folder in read.items():
        folder = folder.resolve()
        if where == folder or folder in where.parents or where in folder.parents:
            raise ValueError(f"--results {results}: expected a folder apart from {what} {folder} (submit reads it), "
                             f"found {'the same folder' if where == folder else 'one inside the other'}")


def run_show(args: argparse.Namespace) -> int:
    from huggingface_hub import constants

    from euromine_hf.hub import leaderboard as lb

    tasks = tuple(lb.TASKS) if args.task == "all" else (args.task,)
    out = args.out or args.results
    lb.check_destination(out, tasks, results_dir=args.results)  # before the Hub is asked anything
    rows = lb.collect_rows(args.results, model_repos=args.model_repo, dataset_repo=args.dataset_repo, tasks=tasks,
                           paper=not args.no_paper, token=os.environ.get("HF_TOKEN") or None)
    paths = lb.write_outputs(out, rows, tasks, endpoint=constants.ENDPOINT, results_dir=args.results)
    print(paths["md"].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
