"""``euromine_hf.inference`` stays a package of small modules with one concern each and no import circle.

The import graph is read from the source with ``ast`` (function-level imports included, since the
package imports torch, rasterio and its own helpers lazily), so a circle that only closes at run
time is still caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "euromine_hf" / "inference"
NAME = "euromine_hf.inference"
MAX_LINES = 350


def _modules() -> dict[str, Path]:
    assert (PACKAGE / "__init__.py").is_file(), f"{PACKAGE} is not a package"
    return {(NAME if p.stem == "__init__" else f"{NAME}.{p.stem}"): p for p in sorted(PACKAGE.glob("*.py"))}


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``module`` imports anywhere in its file."""
    package = NAME if module == NAME else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule when it is one, else a name of `pkg` itself
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {n for n in names if n in known and n != module}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, set(modules)) for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_sees_a_circle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from euromine_hf.inference.b import g\n")
    (tmp_path / "b.py").write_text("from euromine_hf.inference import a\n")
    known = {f"{NAME}.a", f"{NAME}.b"}
    graph = {m: _imports(m, tmp_path / f"{m.rsplit('.', 1)[1]}.py", known) for m in known}
    assert _cycle(graph) in ([f"{NAME}.a", f"{NAME}.b", f"{NAME}.a"], [f"{NAME}.b", f"{NAME}.a", f"{NAME}.b"])


def test_no_import_circle_inside_the_package():
    graph = _graph()
    assert len(graph) > 5, sorted(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_module_imports_the_package_root():
    """The root re-exports every module, so a module importing it would close a circle through it."""
    graph = _graph()
    assert not [m for m, deps in graph.items() if m != NAME and NAME in deps]


def test_every_module_is_small():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items()}
    assert not {m: n for m, n in sizes.items() if n > MAX_LINES}, sizes


def _reads_task(path: Path) -> bool:
    """Whether a file reads a ``task`` attribute (``x.task`` or ``getattr(x, "task", ...)``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "task":
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "task"):
            return True
    return False


def test_only_the_dispatch_module_reads_a_models_task():
    """Shared code never asks which task it runs: ``config.task`` is read in ``tasks.py`` alone, so a
    new kind of model is a task module plus its line in ``TASKS``."""
    assert [m for m, p in _modules().items() if _reads_task(p)] == [f"{NAME}.tasks"]
