"""Code files saved beside the weights, so ``trust_remote_code=True`` loads a model without the package.

Why not transformers' own ``register_for_auto_class`` + ``custom_object_save``: that copies only the
file defining the class and the files it imports *relatively*; the package imports absolutely
(``from euromine_hf.models.configuration import …``), its modules are nested, and two of them share a
basename (``encoders/unet.py``, ``segmentation/unet.py``).  So this module writes a flat copy of the
class's module and of every package module it needs (followed transitively), each renamed after its
dotted path (``segmentation_unet.py``, ``encoders_unet.py``) and with every ``from euromine_hf.x.y
import …`` rewritten to ``from .x_y import …`` — the form transformers' dynamic-module loader follows
(``get_relative_imports``) and does not ask to be installed (``check_imports``).  Modules that read the
package's resource files (``euromine_hf.bands``) are replaced by a module holding the imported names
as literals.  ``auto_map`` entries are written by the caller into ``config.json`` /
``preprocessor_config.json``.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

PACKAGE = "euromine_hf"
#: Package modules that read resource files at import: copied as literals of the names imported from them.
CONSTANT_MODULES = frozenset({"euromine_hf.bands"})
_IMPORT_LINE = re.compile(rf"^(\s*)from\s+({PACKAGE}(?:\.\w+)*)\s+import\b", re.MULTILINE)


def flat_module_name(module: str) -> str:
    """``euromine_hf.models.segmentation.unet`` → ``segmentation_unet`` (the file name in a model folder)."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        raise ValueError(f"{module!r} is not a module of {PACKAGE}")
    parts = parts[1:]
    if parts[0] == "models" and len(parts) > 1:
        parts = parts[1:]
    return "_".join(parts)


def _package_imports(module: str, source: str) -> dict[str, set[str]]:
    """``{imported package module: names}`` for every import of the package anywhere in ``source``."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise ValueError(f"{module}: relative imports cannot be copied for remote code; import from {PACKAGE}.…")
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == PACKAGE for a in node.names):
            raise ValueError(f"{module}: `import {PACKAGE}…` cannot be rewritten for remote code; use `from … import`")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            target = node.module
            if target == PACKAGE:
                raise ValueError(f"{module}: `from {PACKAGE} import …` cannot be copied; import from the defining module")
            names = {a.name for a in node.names}
            # `from euromine_hf.models.encoders import X` may name a submodule package: resolve to its file
            found.setdefault(target, set()).update(names)
    return found


def _literal(name: str, value: Any, module: str) -> str:
    if isinstance(value, np.ndarray):
        return f"{name} = np.asarray({value.tolist()!r}, dtype=np.{value.dtype.name})"
    if isinstance(value, (str, int, float, bool, tuple, list, dict)) or value is None:
        return f"{name} = {value!r}"
    raise ValueError(f"{module}.{name} ({type(value).__name__}) cannot be written as a literal for remote code")


def _constants_source(module: str, names: Iterable[str]) -> str:
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    lines = [
        f'"""Values of {module} (read from the package\'s resource files), written out for remote code."""',
        "",
        "import numpy as np",
        "",
    ]
    # every upper-case constant, not only ``names``: a model and its image processor, written into one
    # folder at different times, must write the same file
    public = sorted(n for n in vars(mod) if n.isupper() and not n.startswith("_"))
    absent = sorted(set(names) - set(public))
    if absent:
        raise ValueError(f"{module}: {absent} are not upper-case constants; remote code cannot copy them")
    lines += [_literal(name, getattr(mod, name), module) for name in public]
    return "\n".join(lines) + "\n"


def _module_source(module: str) -> str:
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    return inspect.getsource(mod)


def remote_code_files(modules: Iterable[str]) -> dict[str, str]:
    """``{file name: source}`` of the flat, self-contained copies of ``modules`` and what they import."""
    pending = list(dict.fromkeys(modules))
    sources: dict[str, str] = {}
    constants: dict[str, set[str]] = {}
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = _module_source(module)
        for target, names in _package_imports(module, source).items():
            if target in CONSTANT_MODULES:
                constants.setdefault(target, set()).update(names)
            else:
                pending.append(target)

        def rewrite(match: re.Match[str]) -> str:
            return f"{match.group(1)}from .{flat_module_name(match.group(2))} import"

        sources[f"{flat_module_name(module)}.py"] = _IMPORT_LINE.sub(rewrite, source)
    for module, names in constants.items():
        sources[f"{flat_module_name(module)}.py"] = _constants_source(module, names)
    for name, source in sources.items():
        leftover = [line for line in source.splitlines() if re.match(rf"\s*(from|import)\s+{PACKAGE}\b", line)]
        if leftover:  # an import form the rewrite does not cover: fail here, not on the user's machine
            raise ValueError(f"remote code {name}: package import left after rewriting: {leftover[0].strip()}")
        # transformers finds relative imports by regex (docstrings included): each must name a written file
        wanted = set(re.findall(r"^\s*from\s+\.(\S+)\s+import", source, flags=re.MULTILINE))
        wanted |= set(re.findall(r"^\s*import\s+\.(\S+)\s*$", source, flags=re.MULTILINE))
        absent = sorted(w for w in wanted if f"{w}.py" not in sources)
        if absent:
            raise ValueError(f"remote code {name}: relative import(s) {absent} have no file among {sorted(sources)}")
    return sources


def class_reference(cls: type) -> str:
    """The ``auto_map`` value for ``cls``: ``<flat module>.<class name>``."""
    return f"{flat_module_name(cls.__module__)}.{cls.__name__}"


def write_remote_code(folder: str | Path, classes: Iterable[type]) -> list[str]:
    """Write the code files ``classes`` need into ``folder``; returns the file names written."""
    from euromine_hf.io import atomic_write_text

    files = remote_code_files(cls.__module__ for cls in classes)
    folder = Path(folder)
    for name, source in files.items():
        atomic_write_text(folder / name, source)
    return sorted(files)


def model_auto_map(model_class: type, config_class: type, task: str) -> dict[str, str]:
    """``auto_map`` for a model's config.json: AutoConfig, AutoModel and the task's Auto class.

    Transformers' remote-code route only goes through transformers' own Auto classes, so a detector
    or a multitemporal model is reached with ``AutoModel`` by people without the package; the
    package's ``AutoModelForChangeDetection`` / ``AutoModelForMultitemporalSegmentation`` is listed
    too for completeness.
    """
    model_ref = class_reference(model_class)
    auto_task = {"segmentation": "AutoModelForSemanticSegmentation",
                 "multitemporal": "AutoModelForMultitemporalSegmentation"}.get(task, "AutoModelForChangeDetection")
    return {"AutoConfig": class_reference(config_class), "AutoModel": model_ref, auto_task: model_ref}


def prepare_model_folder(model: Any, folder: str | Path) -> None:
    """Before a package model's ``save_pretrained``: ``config.auto_map``, ``config.custom_pipelines``
    (tasks with a pipeline), the code files (model, config, image processor, pipeline), the image processor.

    The processor (band names and the published statistics of those bands) is written only when every
    band of the config has published statistics; a model on other bands gets none rather than a wrong one.
    """
    import importlib

    from euromine_hf.models.image_processing import EuroMineImageProcessor

    config = model.config
    task = getattr(config, "task", "segmentation")
    config.auto_map = model_auto_map(type(model), type(config), task)
    # by name: ``euromine_hf.pipelines`` imports transformers' pipelines, which only saving needs here
    pipelines = importlib.import_module("euromine_hf.pipelines")
    code = [type(model), type(config), EuroMineImageProcessor]
    if task in pipelines.HUB_TASKS:
        config.custom_pipelines = pipelines.custom_pipelines(task, flat_module_name(pipelines.__name__))
        code.append(pipelines.EuroMineMappingPipeline)
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_remote_code(folder, code)
    try:
        processor = EuroMineImageProcessor.from_model_config(config)
    except ValueError:
        return
    processor.save_pretrained(folder)
