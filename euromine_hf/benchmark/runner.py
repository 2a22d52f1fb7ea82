"""One benchmark request from plan to tables: skip what finished, resume what was cut, launch the rest.

Every run folder is checked before anything starts (a folder trained with other options, or one
holding files neither the benchmark nor train.py made, stops the request with one line, exit 2), and
so are the earlier runs' ``result.json`` scores (``tables.check_result``) and the names the tables and
figures will take in OUTPUT: a file there that ``euromine benchmark`` did not write (its marker,
:mod:`euromine_hf.owned_outputs`) is never replaced, and OUTPUT may not be, lie in or hold the archive.
Then finished runs are skipped and named, the others launched; a run
that fails is reported with its log and the others go on; the tables are computed from every
finished run, then written with the plots; the exit status is 1 when any run failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from euromine_hf.benchmark.plan import (
    RESULT_FILE,
    RunSpec,
    check_run_folder,
    check_same_options,
    checkpoints,
    read_json,
    run_state,
    write_spec,
)

#: the marker ``euromine benchmark`` keeps in OUTPUT of the tables and figures it wrote
TOOL = "benchmark"


def run_benchmark(specs: Sequence[RunSpec], launcher: Any, output_dir: str | Path,
                  say: Callable[[str], None] = print) -> int:
    from euromine_hf import owned_outputs
    from euromine_hf.benchmark.plots import write_plots
    from euromine_hf.benchmark.tables import load_results, matching_results, output_names, write_benchmark_tables

    output_dir = Path(output_dir).resolve()
    for spec in specs:  # all of them first: a mismatch must stop the request before any training
        check_same_options(spec)
    earlier = load_results(output_dir)  # a damaged earlier result stops the request here, not at the tables
    owned_outputs.check(output_dir, TOOL, output_names([s.task for s in specs] + [r.get("task") for r in earlier]),
                        reads={s.options["data_dir"] for s in specs}, option="--output_dir")
    for spec in specs:
        check_run_folder(spec)
    pending = []
    for spec in specs:
        state = run_state(spec.run_dir)
        if state == "finished":
            say(f"{spec.label}: finished before, skipped ({spec.run_dir / RESULT_FILE})")
            continue
        if state == "interrupted":
            say(f"{spec.label}: interrupted before, resumes from its {checkpoints(spec.run_dir)[-1].name}")
        write_spec(spec)
        pending.append(spec)
    outcomes = launcher.launch(pending, say=say) if pending else []
    failed = [o for o in outcomes if o.status != "finished"]

    results = load_results(output_dir)
    written = write_benchmark_tables(output_dir, results, specs)  # every table computed before the first is written
    written.update(write_plots(output_dir, matching_results(results, specs)))
    owned_outputs.record(output_dir, TOOL, written.values())
    for spec in specs:
        problem = _leaderboard_problem(spec)
        if problem:
            say(f"{spec.label}: no leaderboard entry: {problem}")
    skipped = len(specs) - len(pending)
    say(f"\n{len(specs)} runs: {skipped} skipped (finished before), {len(outcomes) - len(failed)} trained, "
        f"{len(failed)} failed")
    for o in failed:
        say(f"FAILED {o.spec.label}: {o.message}; log: {o.log}")
    say("wrote " + ", ".join(str(p) for p in written.values()))
    say(f"leaderboard entries: euromine leaderboard show --results {output_dir / 'leaderboard'}")
    return 1 if failed else 0


def _leaderboard_problem(spec: RunSpec) -> str | None:
    path = spec.run_dir / RESULT_FILE
    if not path.is_file():
        return None
    board = read_json(path, "run result").get("leaderboard") or {}
    return board.get("error") if not board.get("entry") else None
