"""The shape of ``euromine_hf.hub.leaderboard``: small modules, no import circle, and the public names
callers use (the CLI, the tests, a benchmark runner adding its runs as entries) all on the package."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import euromine_hf.hub.leaderboard as lb

PACKAGE = "euromine_hf.hub.leaderboard"
FOLDER = Path(lb.__file__).parent


def _modules() -> dict[str, Path]:
    return {PACKAGE if p.stem == "__init__" else f"{PACKAGE}.{p.stem}": p for p in sorted(FOLDER.glob("*.py"))}


def _imports(module: str, path: Path, modules: set[str]) -> set[str]:
    """Modules of the package that ``module`` imports anywhere (top level or inside a function)."""
    found: set[str] = set()
    package = module if path.stem == "__init__" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in found if m in modules and m != module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_import_graph_has_no_circle_function_level_imports_included():
    modules = _modules()
    graph = {m: _imports(m, p, set(modules)) for m, p in modules.items()}
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"
    # only the package's __init__ gathers the modules; none of them goes back through it
    assert not [m for m, deps in graph.items() if PACKAGE in deps], graph


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_is_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in FOLDER.glob("*.py")}
    assert len(sizes) >= 10 and max(sizes.values()) <= 300, sizes


def test_the_public_names_callers_use_are_on_the_package():
    """What the leaderboard CLI, the tests, the docs and a benchmark runner import from the package."""
    names = {
        "TaskSpec", "TASKS", "HUB_TASK_IDS", "task_spec", "SUBMISSION_FILE", "RESULT_FORMAT", "PAPER_SOURCE",
        "MAX_PATCH_NPY_BYTES", "SubmissionError", "Submission", "validate_submission", "score_submission",
        "make_result_entry", "entry_path", "write_result_entry", "push_result", "load_local_entries", "make_row",
        "rows_from_entries", "rows_from_model_cards", "rows_from_hub", "paper_rows", "dedupe_rows", "collect_rows",
        "rank_rows", "check_scores", "SCORED_HERE", "SELF_REPORTED", "md_cell", "to_markdown", "to_csv", "SORT_JS",
        "to_html", "write_outputs",
    }
    assert names <= set(lb.__all__) and not [n for n in lb.__all__ if not hasattr(lb, n)]
    for name in lb.__all__:  # each is defined once, in one module of the package, and documented there
        obj = getattr(lb, name)
        home = getattr(obj, "__module__", None)
        if callable(obj) and home is not None:
            assert home.startswith(f"{PACKAGE}.") and getattr(importlib.import_module(home), name) is obj, name
            assert obj.__doc__ or name in lb.__doc__, f"{name}: no docstring and not in the package's"
