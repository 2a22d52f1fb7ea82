"""The Hub's metadata rules for the cards this project writes, checked offline.

Why here: huggingface_hub's only validator, ``RepoCard.validate``, posts the YAML to the Hub's
``/api/validate-yaml`` (network; ``ModelCardData`` / ``DatasetCardData`` accept anything), so a
card with a made-up dataset id or ``license: other`` without ``license_link`` would only be caught
on upload. These are the documented rules (hf.co/docs/hub: model-cards, datasets-cards,
spaces-config-reference, repositories-licenses) for the fields our cards use; everything the
project writes is checked here before it is written or pushed.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["CardMetadataError", "HUB_LICENSES", "is_hub_repo_id", "card_problems", "check_card", "check_card_text"]

#: License identifiers the Hub accepts in ``license:`` (hf.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
    lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1
    ncsa unlicense zlib pddl lgpl-lr unknown other""".split()
)
#: ``pipeline_tag`` / ``task_categories`` values (the Hub's task ids) our cards may use.
HUB_TASKS = frozenset(
    """image-segmentation image-classification object-detection depth-estimation mask-generation
    image-to-image image-feature-extraction zero-shot-image-classification keypoint-detection
    image-to-text other""".split()
)
SIZE_CATEGORIES = frozenset(
    "n<1K 1K<n<10K 10K<n<100K 100K<n<1M 1M<n<10M 10M<n<100M 100M<n<1B 1B<n<10B 10B<n<100B 100B<n<1T n>1T".split()
)
SPACE_SDKS = frozenset({"gradio", "streamlit", "docker", "static"})
SPACE_COLORS = frozenset({"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"})
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9_.-]{1,96}$")
_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class CardMetadataError(ValueError):
    """A card's YAML breaks a Hub rule; the message names the card and every field at fault."""


def is_hub_repo_id(value: Any, namespace: bool = True) -> bool:
    """``namespace/name`` as the Hub spells repo ids, and not a path that exists here (a local
    folder such as ``outputs/archive`` has the same shape). ``namespace=False`` also accepts the
    Hub's legacy un-namespaced model ids (``gpt2``), which still resolve."""
    if not isinstance(value, str) or os.path.exists(value) or "--" in value or ".." in value:
        return False
    if _REPO_ID.match(value):
        return True
    return not namespace and re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$", value) is not None


def _strings(meta: dict[str, Any], key: str, problems: list[str]) -> list[Any]:
    value = meta.get(key)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in values):
        problems.append(f"{key}: expected a string or a list of strings, got {value!r}")
        return []
    return values


def _license(meta: dict[str, Any], problems: list[str]) -> None:
    licence = meta.get("license")
    if licence is None:
        problems.append("license: required (a Hub license id, or 'other' with license_name and license_link)")
        return
    if licence not in HUB_LICENSES:
        problems.append(f"license: {licence!r} is not a Hub license id (e.g. apache-2.0, cc-by-4.0, or other)")
    if licence == "other":
        if not (isinstance(meta.get("license_name"), str) and _LICENSE_NAME.match(meta["license_name"])):
            problems.append("license_name: required with license: other (lower case, digits, '-' and '.')")
        if not (isinstance(meta.get("license_link"), str) and meta["license_link"]):
            problems.append("license_link: required with license: other (a URL or a file of the repo, e.g. LICENSE.md)")


def _common(meta: dict[str, Any], problems: list[str]) -> None:
    _strings(meta, "tags", problems)
    for language in _strings(meta, "language", problems):
        if not _LANGUAGE.match(language):
            problems.append(f"language: {language!r} is not an ISO 639 code")


def _model_index(index: Any, problems: list[str]) -> None:
    if not isinstance(index, list):
        problems.append("model-index: expected a list of models")
        return
    for m, model in enumerate(index):
        where = f"model-index[{m}]"
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            problems.append(f"{where}.name: required (the model's name)")
            continue
        for r, result in enumerate(model.get("results") or []):
            at = f"{where}.results[{r}]"
            task, dataset, metrics = (result.get(k) if isinstance(result, dict) else None for k in ("task", "dataset", "metrics"))
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                problems.append(f"{at}.task.type: required")
            if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("type", "name")):
                problems.append(f"{at}.dataset: type and name required")
            if not isinstance(metrics, list) or not metrics:
                problems.append(f"{at}.metrics: expected a non-empty list")
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or "value" not in metric:
                    problems.append(f"{at}.metrics[{k}]: type and value required")


def _model(meta: dict[str, Any], problems: list[str]) -> None:
    _license(meta, problems)
    tag = meta.get("pipeline_tag")
    if tag is not None and tag not in HUB_TASKS:
        problems.append(f"pipeline_tag: {tag!r} is not a Hub task id")
    for dataset in _strings(meta, "datasets", problems):
        if not is_hub_repo_id(dataset):
            problems.append(f"datasets: {dataset!r} is not a Hub dataset id (namespace/name); name real Hub ids or omit the field")
    for model in _strings(meta, "base_model", problems):
        if not is_hub_repo_id(model, namespace=False):
            problems.append(f"base_model: {model!r} is not a Hub model id")
    _strings(meta, "metrics", problems)
    if "model-index" in meta:
        _model_index(meta["model-index"], problems)


def _dataset(meta: dict[str, Any], problems: list[str]) -> None:
    _license(meta, problems)
    for task in _strings(meta, "task_categories", problems):
        if task not in HUB_TASKS:
            problems.append(f"task_categories: {task!r} is not a Hub task id")
    for size in _strings(meta, "size_categories", problems):
        if size not in SIZE_CATEGORIES:
            problems.append(f"size_categories: {size!r} is not one of {sorted(SIZE_CATEGORIES)}")
    configs = meta.get("configs", [])
    if not isinstance(configs, list):
        problems.append("configs: expected a list of {config_name, data_files}")
        configs = []
    defaults = 0
    for i, config in enumerate(configs):
        if not isinstance(config, dict) or not isinstance(config.get("config_name"), str):
            problems.append(f"configs[{i}].config_name: required")
            continue
        defaults += bool(config.get("default"))
        files = config.get("data_files")
        entries = files if isinstance(files, list) else [files]
        ok = files is not None and all(
            isinstance(e, str) or (isinstance(e, dict) and isinstance(e.get("split"), str) and isinstance(e.get("path"), (str, list)))
            for e in entries
        )
        if not ok:
            problems.append(f"configs[{i}].data_files: expected paths or a list of {{split, path}}")
    if defaults > 1:
        problems.append("configs: at most one config may be the default")


def _space(meta: dict[str, Any], problems: list[str]) -> None:
    if meta.get("sdk") not in SPACE_SDKS:
        problems.append(f"sdk: expected one of {sorted(SPACE_SDKS)}, got {meta.get('sdk')!r}")
    if meta.get("sdk") in ("gradio", "streamlit") and not isinstance(meta.get("sdk_version"), str):
        problems.append("sdk_version: required (a version string) for the gradio and streamlit SDKs")
    for key in ("colorFrom", "colorTo"):
        if key in meta and meta[key] not in SPACE_COLORS:
            problems.append(f"{key}: expected one of {sorted(SPACE_COLORS)}, got {meta[key]!r}")
    for key in ("title", "app_file", "emoji"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"{key}: expected a string")
    if "pinned" in meta and not isinstance(meta["pinned"], bool):
        problems.append("pinned: expected true or false")
    if len(str(meta.get("short_description", ""))) > 60:
        problems.append("short_description: at most 60 characters")
    if "license" in meta:
        _license(meta, problems)


def card_problems(meta: dict[str, Any], kind: str) -> list[str]:
    """Every rule ``meta`` (a card's YAML as a dict) breaks, for a ``model``, ``dataset`` or ``space`` card."""
    checks = {"model": _model, "dataset": _dataset, "space": _space}
    if kind not in checks:
        raise ValueError(f"kind: expected one of {sorted(checks)}, got {kind!r}")
    problems: list[str] = []
    _common(meta, problems)
    checks[kind](meta, problems)
    return problems


def check_card(meta: dict[str, Any], kind: str, where: str) -> None:
    """Raise :class:`CardMetadataError` naming ``where`` and every broken rule."""
    problems = card_problems(meta, kind)
    if problems:
        raise CardMetadataError(f"{where}: {kind} card metadata breaks Hub rules: " + "; ".join(problems))


def check_card_text(text: str, kind: str, where: str) -> None:
    """:func:`check_card` of a card's text (YAML front matter between ``---`` lines; required)."""
    import yaml

    if not text.startswith("---\n") or "\n---\n" not in text:
        raise CardMetadataError(f"{where}: expected YAML front matter between '---' lines")
    meta = yaml.safe_load(text[4 : text.index("\n---\n")]) or {}
    if not isinstance(meta, dict):
        raise CardMetadataError(f"{where}: expected a YAML mapping in the front matter")
    check_card(meta, kind, where)

