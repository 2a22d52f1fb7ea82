"""The shape of ``euromine_hf/training/`` (issue 16): no import circle, counting imports made inside
functions too; the entry points reach training only through the run function; no module imports
another's private name.  Read from the source with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import euromine_hf

PACKAGE = "euromine_hf.training"
ROOT = Path(euromine_hf.__file__).parent / "training"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(module imported, name imported from it or "") for every import statement of the file,
    module level and inside functions alike; ``from P import m`` of a submodule ``m`` counts as ``P.m``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((child, "") if child in modules else (base, alias.name))
    return found


def import_graph() -> dict[str, set[str]]:
    """Edges between the modules of ``euromine_hf.training`` (a package's implicit import of its parent
    is not an edge: only what a file names)."""
    modules = _modules()
    return {name: {target for target, _ in _imports(path, modules) if target in modules and target != name}
            for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as one circle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle_through(graph, component) for component in components]


def _circle_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One import circle inside ``component``: a shortest path back to its first module."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    return paths[node] + [start]
                if succ not in paths:
                    paths[succ] = paths[node] + [succ]
                    nxt.append(succ)
        frontier = nxt
    return component


def test_cycle_finder_names_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_training():
    graph = import_graph()
    assert f"{PACKAGE}.run" in graph and f"{PACKAGE}.trainer" in graph  # the walk saw the package
    cycles = find_cycles(graph)

    def short(module: str) -> str:
        return module[len(PACKAGE) + 1:] or "__init__"

    found = []
    for cycle in cycles:
        members = {m for m in graph if m in cycle or _reaches(graph, m, cycle[0]) and _reaches(graph, cycle[0], m)}
        found.append(f"{len(members)} modules tied in a circle ({', '.join(sorted(map(short, members)))}), "
                     f"e.g. {' -> '.join(map(short, cycle))}")
    assert not cycles, "import circles in euromine_hf/training/ (imports inside functions count): " + "; ".join(found)


def _reaches(graph: dict[str, set[str]], source: str, target: str) -> bool:
    seen, todo = {source}, [source]
    while todo:
        for succ in graph[todo.pop()]:
            if succ == target:
                return True
            if succ not in seen:
                seen.add(succ)
                todo.append(succ)
    return False


def test_entry_points_reach_training_only_through_the_run_function():
    """``main``/``cli``/``demo`` call the run function (or ``main``) and nothing below it: no task, trainer
    or report module; the demo does not import ``main``."""
    graph = import_graph()
    allowed = {f"{PACKAGE}.{m}" for m in ("arguments", "run", "demo", "main", "summary")}
    for entry in ("main", "cli", "demo"):
        below = graph[f"{PACKAGE}.{entry}"] - allowed
        assert not below, f"training/{entry}.py imports {sorted(below)}"
    assert f"{PACKAGE}.main" not in graph[f"{PACKAGE}.demo"]
    assert f"{PACKAGE}.main" not in graph[f"{PACKAGE}.run"]


def test_no_module_imports_a_private_name_of_another():
    modules = _modules()
    bad = [f"{_module_name(path)} imports {name} from {target}"
           for path in modules.values() for target, name in _imports(path, modules)
           if target.startswith("euromine_hf") and name.startswith("_")]
    assert not bad, bad
