"""The ``evaluate`` module folders of EuroMineNet's scores, shipped inside the package.

Each ``<name>/`` folder here holds the module script ``<name>.py`` (a thin subclass of the classes
in :mod:`euromine_hf.metrics.hf_modules`) and its metric card ``README.md``. They are the only copy:
the repository's ``metrics/<name>`` folders are links to them, and ``euromine push-metrics`` turns
them into Hub Spaces.

Loading by name, offline, is one call::

    from euromine_hf.metrics import load
    ca = load("ca_tiou")                    # = evaluate.load(<installed folder>/ca_tiou)

The three honest routes (README, "Scores"):

* from the package: ``euromine_hf.metrics.load("ca_tiou")`` (offline, this folder);
* from a clone's root: ``evaluate.load("metrics/ca_tiou")`` (the repository's link to this folder);
* from the Hub: ``evaluate.load("NAMESPACE/ca_tiou")`` (the Space ``euromine push-metrics`` made).

Plain ``evaluate.load("ca_tiou")`` resolves a bare name in this order (evaluate 0.4.6): a folder
``./ca_tiou`` holding ``ca_tiou.py`` in the working directory; the Hub Space
``evaluate-metric/ca_tiou`` (the namespace of evaluate's own modules); then, when that fails
(offline or 404), the newest copy cached as ``evaluate-metric--ca_tiou`` in the dynamic-modules
cache (``HF_MODULES_CACHE``). :func:`install_evaluate_names` writes that cache entry, after which
``evaluate.load("ca_tiou")`` works offline. It writes into a slot that belongs to evaluate's own
namespace, so it refuses (naming the module) where a real module of that name exists: on the Hub
when online, or as a foreign entry already in the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["MODULE_NAMES", "module_dir", "load", "install_evaluate_names", "space_files"]

#: Module folder names, as ``evaluate.load`` and the Hub Spaces know them.
MODULE_NAMES: tuple[str, ...] = ("yearly_f1", "ca_tiou", "interval_f1", "post_classification")


def module_dir(name: str) -> Path:
    """The installed folder of module ``name`` (``<name>.py`` + ``README.md``)."""
    if name not in MODULE_NAMES:
        raise ValueError(f"metric module {name!r}: expected one of {list(MODULE_NAMES)}")
    folder = Path(str(resources.files(__name__).joinpath(name)))
    if not (folder / f"{name}.py").is_file():
        raise FileNotFoundError(f"{folder / (name + '.py')}: metric module script missing from the installed package")
    return folder


def load(name: str, **kwargs: Any) -> Any:
    """``evaluate.load`` of the packaged module ``name`` (offline; ``kwargs`` go to ``evaluate.load``,
    e.g. ``years=[2015, 2016]``, ``incomplete="warn"``, ``num_process``/``process_id``)."""
    import evaluate

    return evaluate.load(str(module_dir(name)), **kwargs)


def _modules_cache() -> Path:
    import evaluate.config

    return Path(evaluate.config.HF_MODULES_CACHE) / "evaluate_modules" / "metrics"


#: Text every module script of this package holds; a cached ``evaluate-metric--{name}`` entry
#: without it is someone else's module.
_OWN_MARK = b"from euromine_hf.metrics import hf_modules"


def _offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get("HF_EVALUATE_OFFLINE", ""), os.environ.get("HF_HUB_OFFLINE", ""))
    return constants.HF_HUB_OFFLINE or any(f.upper() in ("1", "ON", "YES", "TRUE") for f in flags)


def _hub_module_exists(name: str) -> bool:
    """Whether the Hub holds evaluate's own ``evaluate-metric/{name}`` (what a bare name loads online)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().repo_exists(f"evaluate-metric/{name}", repo_type="space")
    except Exception as error:  # network: not knowing is not "absent"
        raise ValueError(
            f"evaluate-metric/{name}: could not ask the Hub whether evaluate has a module of this name "
            f"({type(error).__name__}); set HF_HUB_OFFLINE=1 to install the bare names without asking"
        ) from None


def install_evaluate_names(cache: str | os.PathLike[str] | None = None) -> list[Path]:
    """Cache every module under its bare name so ``evaluate.load("ca_tiou")`` finds it offline.

    Writes ``{HF_MODULES_CACHE}/evaluate_modules/metrics/evaluate-metric--{name}/{sha256}/{name}.py``
    (the layout evaluate's ``CachedEvaluationModuleFactory`` reads; ``cache`` overrides the
    ``metrics`` folder). The hash is the script's, so re-running is idempotent and an upgraded
    package adds a newer entry that evaluate prefers. Returns the script paths written.

    Never shadows a real module silently: raises ``ValueError`` naming it, before writing
    anything, if ``evaluate-metric/{name}`` exists on the Hub (asked unless offline) or the cache
    slot already holds a script that is not one of this package's.
    """
    root = Path(cache) if cache is not None else _modules_cache()
    for name in MODULE_NAMES:
        slot = root / f"evaluate-metric--{name}"
        foreign = sorted(p for p in slot.glob(f"*/{name}.py") if _OWN_MARK not in p.read_bytes())
        if foreign:
            raise ValueError(
                f"{foreign[0]}: evaluate's cache holds another module named {name!r}; evaluate.load({name!r}) "
                f"means that one: load ours with euromine_hf.metrics.load({name!r})"
            )
        if not _offline() and _hub_module_exists(name):
            raise ValueError(
                f"evaluate-metric/{name}: evaluate has its own module of this name on the Hub, which "
                f"evaluate.load({name!r}) loads: load ours with euromine_hf.metrics.load({name!r})"
            )
    written = []
    for name in MODULE_NAMES:
        source = module_dir(name)
        script = (source / f"{name}.py").read_bytes()
        digest = hashlib.sha256(script).hexdigest()
        folder = root / f"evaluate-metric--{name}"
        target = folder / digest
        folder.mkdir(parents=True, exist_ok=True)
        for init in (root.parent / "__init__.py", root / "__init__.py", folder / "__init__.py"):
            if not init.exists():
                init.touch()
        if not (target / f"{name}.py").is_file():
            tmp = folder / f".{digest}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            (tmp / "__init__.py").touch()
            shutil.copyfile(source / f"{name}.py", tmp / f"{name}.py")
            shutil.copyfile(source / "README.md", tmp / "README.md")
            try:
                os.replace(tmp, target)
            except OSError:  # another process installed the same hash meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
        os.utime(target / f"{name}.py")  # newest: evaluate picks the most recently modified hash
        written.append(target / f"{name}.py")
    return written


def space_files(name: str, namespace: str, requirement: str = "euromine-hf") -> dict[str, bytes]:
    """The files of module ``name`` as an evaluate metric Space: ``app.py`` (a Gradio app that takes
    uploaded masks, :mod:`euromine_hf.metrics.space_app`), ``<name>.py``, ``README.md`` (the card,
    with the Space's SDK fields added to its YAML) and ``requirements.txt`` (``evaluate`` and
    ``requirement``: the module imports ``euromine_hf``).

    Not evaluate's ``launch_gradio_widget``: its form follows the module's ``features``, the count
    rows masks are reduced to, so it could take no mask."""
    folder = module_dir(name)
    card = _space_card((folder / "README.md").read_text(encoding="utf-8"), name, namespace)
    app = (
        f'"""Upload mask files and score them with {name} (euromine_hf.metrics.space_app)."""\n'
        "from euromine_hf.metrics.space_app import launch\n\n"
        f'launch("{name}")\n'
    )
    return {
        "app.py": app.encode(),
        f"{name}.py": (folder / f"{name}.py").read_bytes(),
        "README.md": card.encode(),
        "requirements.txt": f"evaluate>=0.4.6\n{requirement}\n".encode(),
    }


def _space_card(text: str, name: str, namespace: str) -> str:
    """The module's metric card with the Space fields (sdk, app_file, ...) merged into its YAML and
    a first paragraph that loads it by its Hub id."""
    import yaml

    meta = metadata_load_text(text)
    if not meta:
        raise ValueError(f"{name}/README.md: metric card: expected YAML front matter between '---' lines")
    body = text[text.index("\n---\n") + 5:]
    meta = {
        "title": meta.get("title", name), "emoji": "\u26cf\ufe0f", "colorFrom": "green", "colorTo": "blue",
        "sdk": "gradio", "sdk_version": "4.44.1", "app_file": "app.py", "pinned": False,
        **{k: v for k, v in meta.items() if k != "title"},
    }
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip("\n")
    usage = (
        "\nFrom the Hub (the module imports `euromine_hf`: `pip install euromine-hf` first):\n\n"
        f"```python\nimport evaluate\nmodule = evaluate.load(\"{namespace}/{name}\")\n```\n"
    )
    lines = body.split("\n")
    title_at = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    lines.insert(title_at + 1, usage)
    text = f"---\n{header}\n---\n" + "\n".join(lines)
    from euromine_hf.hub.card_rules import check_card_text

    check_card_text(text, "space", f"{name} Space card")
    return text


def metadata_load_text(text: str) -> dict[str, Any]:
    """The YAML front matter of a card's text (``{}`` when it has none)."""
    import yaml

    if not text.startswith("---\n") or "\n---\n" not in text:
        return {}
    data = yaml.safe_load(text[4:text.index("\n---\n")]) or {}
    if not isinstance(data, dict):
        raise ValueError("metric card: expected a YAML mapping in the front matter")
    return data
