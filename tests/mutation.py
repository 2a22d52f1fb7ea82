"""Mutation testing (mutmut) of the code whose bugs would silently change scores or maps.

``make mutate`` (= ``python tests/mutation.py``) runs mutmut once per group below, each in a scratch
copy of the repository (mutmut writes a ``mutants/`` tree and reads its settings from the working
folder's ``pyproject.toml``, so each group gets its own), against the test files that own that
code, and prints killed / survived / other per group and function. ``TESTING.md`` records the
figures and the surviving mutants judged equivalent (same behaviour; not counted against the score).

    python tests/mutation.py                      # every group
    python tests/mutation.py patching scoring     # some groups
    python tests/mutation.py --workdir /tmp/mut   # keep the scratch copies there (default: a temp folder)

A group is (files mutmut may mutate, mutant-name globs to run: functions of those files, test files,
and tests to leave out: those that run the package in a child process, outside mutmut's trampolines).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GROUPS: dict[str, dict[str, list[str]]] = {
    "patching": {
        "files": ["euromine_hf/data/patching.py"],
        "mutants": ["euromine_hf.data.patching.*"],
        "tests": ["tests/test_patching.py"],
    },
    "scoring": {
        "files": ["euromine_hf/metrics/scores.py"],
        "mutants": ["euromine_hf.metrics.scores.*"],
        "tests": ["tests/test_metrics_scores.py", "tests/test_metrics_oracle.py", "tests/test_metrics_core.py", "tests/test_metrics_properties.py"],
    },
    "blending": {
        "files": ["euromine_hf/inference/windows.py"],
        "mutants": ["euromine_hf.inference.windows.x_blend*", "euromine_hf.inference.windows.x_window_offsets*"],
        "tests": ["tests/test_window_blending.py", "tests/test_inference.py", "tests/test_predict_maps.py",
                  "tests/test_predict_series.py"],
        # the session archive fixture caches its path across mutmut's in-process pytest runs (gone by the second)
        "deselect": ["tests/test_predict_series.py::test_archive_test_split_maps_are_scored_by_evaluate_for_both_tasks"],
    },
    "leaderboard-validation": {
        "files": ["euromine_hf/hub/leaderboard.py"],
        "mutants": ["euromine_hf.hub.leaderboard.x_validate_submission*", "euromine_hf.hub.leaderboard.x__check_meta*",
                    "euromine_hf.hub.leaderboard.x__walk*", "euromine_hf.hub.leaderboard.x__header_problem*"],
        "tests": ["tests/test_leaderboard.py"],
        # runs `euromine` in a child process, which imports the package outside mutmut's trampolines
        "deselect": ["tests/test_leaderboard.py::test_a_problem_found_in_every_file_of_a_folder_is_listed_once"],
    },
}

_STATUS = re.compile(r"^\s*(?P<name>[\w.]+__mutmut_\d+): (?P<status>[\w ]+)$")


def _pyproject(group: dict[str, list[str]]) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    return (
        "[tool.mutmut]\n"
        'source_paths = ["euromine_hf"]\n'
        f"only_mutate = {toml_list(group['files'])}\n"
        f"tests_dir = {toml_list(group['tests'])}\n"
        'also_copy = ["tests", "metrics", "train.py"]\n'
        f'pytest_add_cli_args = {toml_list(["-q", "-p", "no:cacheprovider", "-x", *(f"--deselect={d}" for d in group.get("deselect", []))])}\n'
    )


def run_group(name: str, workdir: Path) -> dict[str, Counter]:
    """Run one group in ``workdir/name``; returns per function a Counter of mutant statuses."""
    group = GROUPS[name]
    scratch = workdir / name
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    for part in ("euromine_hf", "tests", "metrics"):
        shutil.copytree(REPO / part, scratch / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "train.py", scratch / "train.py")
    (scratch / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text().split("[tool.pytest.ini_options]")[0]
                                            + _pyproject(group) + "\n[tool.pytest.ini_options]\n"
                                            + (REPO / "pyproject.toml").read_text().split("[tool.pytest.ini_options]")[1])
    mutmut = [sys.executable, "-m", "mutmut"]
    subprocess.run([*mutmut, "run", *group["mutants"]], cwd=scratch, check=False)
    listing = subprocess.run([*mutmut, "results", "--all", "true"], cwd=scratch, capture_output=True, text=True, check=False).stdout
    per_function: dict[str, Counter] = defaultdict(Counter)
    for line in listing.splitlines():
        m = _STATUS.match(line)
        if not m:
            continue
        function = m.group("name").rsplit("__mutmut_", 1)[0]
        if not any(_glob(pattern, m.group("name")) for pattern in group["mutants"]):
            continue
        per_function[function][m.group("status").strip()] += 1
    (workdir / f"{name}.results.txt").write_text(listing)
    return per_function


def _glob(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern)


def report(name: str, per_function: dict[str, Counter]) -> str:
    total = Counter()
    lines = [f"## {name}", "| function | killed | survived | other | killed % |", "|---|---:|---:|---:|---:|"]
    for function, counts in sorted(per_function.items()):
        total.update(counts)
        killed, survived = counts.get("killed", 0), counts.get("survived", 0)
        other = sum(counts.values()) - killed - survived
        lines.append(f"| {function} | {killed} | {survived} | {other} | {100 * killed / max(killed + survived, 1):.1f} |")
    killed, survived = total.get("killed", 0), total.get("survived", 0)
    lines.append(f"| **all** | {killed} | {survived} | {sum(total.values()) - killed - survived} | "
                 f"{100 * killed / max(killed + survived, 1):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", choices=[*GROUPS, []], default=list(GROUPS), metavar="GROUP",
                        help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="euromine-mutation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for name in args.groups or list(GROUPS):
        print(report(name, run_group(name, workdir)), flush=True)
    print(f"mutant listings: {workdir}/*.results.txt; `cd {workdir}/GROUP && python -m mutmut show NAME` shows one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
