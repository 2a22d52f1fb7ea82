"""Model cards for EuroMineNet segmenters and change detectors, with ``model-index`` results the Hub can read.

The card is rendered with huggingface_hub's own machinery (``ModelCardData`` + ``EvalResult`` →
YAML ``model-index``; ``ModelCard.from_template`` with a Jinja template) so that what the Hub,
leaderboards and ``ModelCard.load`` parse is exactly what we wrote.  The template ships inside the
package (``euromine_hf/resources/model_card_segmentation.md.jinja``) so an installed wheel can
render cards; ``model_cards/`` at the repository root documents it (see its README.md).

Metric names are normalised from whatever spelling the training code uses (``f1_2015``,
``eval_F1_2015``, ``OF1``, ``gca_tiou``, ``test_F1_interval_3``, ...) to the paper's: year strings for
per-year F1, ``F1_interval_{k}`` for change F1 per interval (Table 5), ``OF1``, ``GCA-TIoU``, ``LCA-TIoU``.
A change detector's config (``task = "change_detection"``) selects the change-detection template
(``model_card_change_detection.md.jinja``), the ``cd_pairs`` comparison row of the paper's Table 5
and the interval metrics. A series model (``task = "multitemporal"``, ``model_card_multitemporal.md.jinja``)
is scored on both tasks: the mapping metrics plus F1 per interval and ``Change-OF1`` (the change OF1
over all pairs, e.g. ``change_OF1``); it is not in the paper, so its card has no paper column.
"""

from __future__ import annotations

import enum
import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from euromine_hf.bands import BANDS, MEAN, STD, YEARS, load_resource
from euromine_hf.hub.card_rules import check_card, is_hub_repo_id

TEMPLATE_RESOURCE = "model_card_segmentation.md.jinja"
TAGS = ["sentinel-2", "remote-sensing", "mining", "semantic-segmentation", "euromine"]
TASK_TYPE = "image-segmentation"
TASK_NAME = "Semantic Segmentation"
#: per model task: (template, tags, model-index task name, paper_results.json section)
TASK_CARDS: dict[str, tuple[str, list[str], str, str]] = {
    "segmentation": (TEMPLATE_RESOURCE, TAGS, TASK_NAME, "mapping"),
    "change_detection": ("model_card_change_detection.md.jinja",
                         ["sentinel-2", "remote-sensing", "mining", "change-detection", "euromine"],
                         "Change Detection", "change_detection"),
    # a series model answers both tasks; no paper table has it
    "multitemporal": ("model_card_multitemporal.md.jinja",
                      ["sentinel-2", "remote-sensing", "mining", "semantic-segmentation", "change-detection",
                       "satellite-image-time-series", "euromine"],
                      "Multitemporal Segmentation", ""),
}
DATASET_NAME = "EuroMineNet"
DATA_SOURCES = ("synthetic", "archive")
SUMMARY_METRICS = ("OF1", "GCA-TIoU", "LCA-TIoU", "Change-OF1")

#: model-index metric (type, display name) for each canonical metric key.
_METRIC_META = {
    "OF1": ("f1", "OF1 (overall F1)"),
    "GCA-TIoU": ("gca-tiou", "GCA-TIoU"),
    "LCA-TIoU": ("lca-tiou", "LCA-TIoU"),
    "Change-OF1": ("f1", CHANGE_OF1_NAME := "Change OF1 (all year pairs)"),
}
_SPLIT_PREFIXES = ("eval_", "test_", "validation_", "val_", "train_", "predict_")

CITATION = """@misc{yu2025eurominenet,
  title         = {EuroMineNet: A Multitemporal Sentinel-2 Benchmark for Spatiotemporal Mining Footprint Analysis in the European Union (2015-2024)},
  author        = {Yu, Weikang and Nwazelibe, Vincent and Ma, Xianping and Zhang, Xiaokang and Gloaguen, Richard and Zhu, Xiao Xiang and Ghamisi, Pedram},
  year          = {2025},
  eprint        = {2510.14661},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV}
}
@misc{eurominenet_data,
  title  = {EuroMineNet dataset},
  note   = {RODARE record 4656, CC BY 4.0},
  doi    = {10.14278/rodare.4656}
}"""


class ModelCardError(ValueError):
    """A card cannot be rendered or does not round-trip; the message names the field."""


def canonical_metric(key: str) -> str | None:
    """The paper's name for a metric key (``"2015"``, ``"OF1"``, ``"GCA-TIoU"``, ``"LCA-TIoU"``), else None."""
    name = key.strip()
    lowered = name.lower()
    for prefix in _SPLIT_PREFIXES:
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix):]
            break
    lowered = re.sub(r"[\s/\-.]+", "_", lowered)
    match = re.fullmatch(r"(?:f1_?)?(\d{4})(?:_f1)?", lowered)
    if match:
        return match.group(1)
    match = re.fullmatch(r"(?:f1_?)?interval_?(\d{1,2})(?:_f1)?", lowered)
    if match:
        return f"F1_interval_{int(match.group(1))}"
    if lowered in ("of1", "overall_f1", "f1_overall", "f1"):
        return "OF1"
    if lowered in ("change_of1", "of1_change", "cd_of1", "change_overall_f1"):
        return "Change-OF1"
    if lowered in ("gca_tiou", "gcatiou"):
        return "GCA-TIoU"
    if lowered in ("lca_tiou", "lcatiou"):
        return "LCA-TIoU"
    return None


def normalize_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """``{split: {metric: value}}`` with canonical metric names and Python floats, in display order.

    Unknown keys (loss, runtime, ...) are dropped; non-finite values are dropped too, since YAML
    ``.nan`` would not compare equal after a round trip.  A split left with no known metric is an
    error, so a typo does not silently produce an empty card.
    """
    if not isinstance(results, Mapping) or not results:
        raise ModelCardError("results must be a non-empty mapping {split: {metric: value}}")
    normalized: dict[str, dict[str, float]] = {}
    for split, metrics in results.items():
        if not isinstance(metrics, Mapping):
            raise ModelCardError(f"results[{split!r}] must be a mapping of metric → value, got {type(metrics).__name__}")
        found: dict[str, float] = {}
        for key, value in metrics.items():
            name = canonical_metric(str(key))
            if name is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ModelCardError(f"results[{split!r}][{key!r}] = {value!r} is not a number") from None
            if math.isfinite(number):
                found[name] = number
        if not found:
            raise ModelCardError(
                f"results[{split!r}] has no known metric; expected per-year F1 (e.g. 'f1_2015'), F1 per interval "
                f"(e.g. 'F1_interval_3'), 'OF1', "
                f"'GCA-TIoU' or 'LCA-TIoU', got keys {sorted(map(str, metrics))}"
            )
        normalized[str(split)] = {k: found[k] for k in _metric_order(found)}
    return normalized


def _interval(name: str) -> int | None:
    return int(name.rsplit("_", 1)[1]) if name.startswith("F1_interval_") else None


def _metric_order(metrics: Mapping[str, float]) -> list[str]:
    years = sorted(k for k in metrics if k.isdigit())
    intervals = sorted((k for k in metrics if _interval(k) is not None), key=_interval)
    return years + intervals + [k for k in SUMMARY_METRICS if k in metrics]


def eval_results(
    results: Mapping[str, Mapping[str, Any]], dataset_id: str, dataset_config: str = "mapping",
    dataset_revision: str | None = None, task: str = "segmentation",
) -> list[EvalResult]:
    """One ``EvalResult`` per (split, metric): the Hub groups them into one model-index result per split."""
    out: list[EvalResult] = []
    task_name = TASK_CARDS[task][2]
    for split, metrics in normalize_results(results).items():
        for name, value in metrics.items():
            if name.isdigit():
                metric_type, metric_name, metric_config = "f1", f"F1 {name}", name
            elif _interval(name) is not None:
                k = _interval(name)
                metric_type, metric_name, metric_config = "f1", f"F1 interval {k}", f"interval-{k}"
            else:
                metric_type, metric_name = _METRIC_META[name]
                metric_config = ("all-pairs" if task == "change_detection" else "all-years") if name == "OF1" else None
                metric_config = "all-pairs" if name == "Change-OF1" else metric_config
            out.append(EvalResult(
                task_type=TASK_TYPE, task_name=task_name,
                dataset_type=dataset_id, dataset_name=f"{DATASET_NAME} ({split})",
                dataset_config=dataset_config, dataset_split=split, dataset_revision=dataset_revision,
                metric_type=metric_type, metric_name=metric_name, metric_config=metric_config,
                metric_value=value,
            ))
    return out


def read_model_index(card: ModelCard | str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """``{split: {metric: value}}`` back from a card's model-index (the inverse of :func:`eval_results`)."""
    if not isinstance(card, ModelCard):
        card = ModelCard.load(Path(card))
    parsed: dict[str, dict[str, float]] = {}
    for result in card.data.eval_results or []:
        split = result.dataset_split or "unknown"
        if result.metric_type == "f1" and result.metric_config and result.metric_config.isdigit():
            name = result.metric_config
        elif result.metric_type == "f1" and result.metric_config and re.fullmatch(r"interval-\d+", result.metric_config):
            name = f"F1_interval_{int(result.metric_config.split('-')[1])}"
        elif result.metric_type == "f1" and result.metric_name == CHANGE_OF1_NAME:
            name = "Change-OF1"
        else:
            name = {"f1": "OF1", "gca-tiou": "GCA-TIoU", "lca-tiou": "LCA-TIoU"}.get(result.metric_type,
                                                                                     result.metric_type)
        parsed.setdefault(split, {})[name] = float(result.metric_value)
    return parsed


def _config_dict(config: Any) -> dict[str, Any]:
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if isinstance(config, Mapping):
        return dict(config)
    raise ModelCardError(f"config must be a PretrainedConfig or a mapping, got {type(config).__name__}")


def _paper_results(paper_name: str | None, task: str = "segmentation") -> dict[str, float] | None:
    if paper_name is None:
        return None
    section = TASK_CARDS[task][3]
    if not section:
        raise ModelCardError(f"paper_name {paper_name!r}: no table of the paper holds a {task} model")
    table = load_resource("paper_results.json")[section]
    row = _paper_row(paper_name, task)
    if row is None:
        raise ModelCardError(
            f"paper_name {paper_name!r} is not in paper_results.json[{section!r}]; choose from {sorted(table)}"
        )
    if task == "change_detection":  # the paper heads Table 5 by interval: "1".."9"
        return {(f"F1_interval_{k}" if k.isdigit() else k): float(v) for k, v in table[row].items()}
    return {str(k): float(v) for k, v in table[row].items()}


def _paper_row(name: str, task: str) -> str | None:
    from euromine_hf.metrics.tables import paper_row_name

    return paper_row_name("mapping" if task == "segmentation" else "change", name)


def _zoo_paper_name(model_type: str | None, task: str = "segmentation") -> str | None:
    """The paper's row for a registered architecture, when the zoo names one that the table has."""
    if not model_type:
        return None
    from euromine_hf.models.registry import MODEL_ZOO

    if not TASK_CARDS[task][3]:
        return None
    for spec in MODEL_ZOO.values():
        if spec.config_class.model_type == model_type and _paper_row(spec.paper_name, task) is not None:
            return spec.paper_name
    return None


def _zoo_name(model_type: str | None) -> str | None:
    """The zoo's name for an architecture outside the paper's tables (e.g. ``U-TAE-Series (this project)``)."""
    from euromine_hf.models.registry import MODEL_ZOO

    return next((spec.paper_name for spec in MODEL_ZOO.values() if spec.config_class.model_type == model_type), None)


def _config_task(config: Any) -> str:
    task = config.get("task") if isinstance(config, Mapping) else getattr(config, "task", None)
    task = task or "segmentation"
    if task not in TASK_CARDS:
        raise ModelCardError(f"config task must be one of {sorted(TASK_CARDS)}, got {task!r}")
    return task


def _format(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _format_arg(value: Any) -> str:
    if isinstance(value, enum.Enum):  # e.g. OptimizerNames.ADAMW_TORCH → "adamw_torch", as it is passed on the command line
        value = value.value
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def base_model_for(checkpoint: str | os.PathLike[str] | None) -> str | None:
    """The ``base_model`` card field for a run started from ``--rgb_checkpoint``.

    A Hub id is the base model.  A local folder is not a Hub reference; its ``config.json``
    ``_name_or_path`` is used when it names a Hub repo (transformers drops that key from configs saved
    with the default diff, so usually the field is left out for a local folder rather than filled
    with a path nobody else can resolve).
    """
    if checkpoint is None or str(checkpoint) == "":
        return None
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    def hub_id(text: str) -> str | None:
        if not text or os.path.exists(text) or text.startswith((".", "/", "~")):
            return None
        try:
            validate_repo_id(text)
        except HFValidationError:
            return None
        return text

    path = Path(checkpoint)
    if not path.exists():
        return hub_id(str(checkpoint))
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    try:
        name = json.loads(config_file.read_text(encoding="utf-8")).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    return hub_id(name) if isinstance(name, str) else None


def load_template(template_path: str | os.PathLike[str] | None = None, task: str = "segmentation") -> str:
    """The card template: ``template_path`` if given, else the task's one packaged in ``euromine_hf/resources``."""
    if template_path is not None:
        return Path(template_path).read_text(encoding="utf-8")
    return resources.files("euromine_hf").joinpath("resources", TASK_CARDS[task][0]).read_text(encoding="utf-8")


def render_model_card(
    model_name: str,
    config: Any,
    results: Mapping[str, Mapping[str, Any]],
    dataset_id: str,
    training_args: Mapping[str, Any] | None = None,
    paper_name: str | None = None,
    *,
    repo_id: str | None = None,
    data_source: str = "synthetic",
    dataset_config: str = "mapping",
    dataset_revision: str | None = None,
    license: str = "apache-2.0",
    num_parameters: int | None = None,
    base_model: str | None = None,
    extra_limitations: list[str] | None = None,
    template_path: str | os.PathLike[str] | None = None,
) -> ModelCard:
    """Render the card of a trained segmenter or change detector (chosen by the config's ``task``).

    ``results`` maps each split the model was tested on to its metrics; each split becomes one
    ``model-index`` result.  ``data_source`` is ``"synthetic"`` (the embedded demo data; the card
    then says plainly that the model never saw real imagery) or ``"archive"`` (real EuroMineNet).
    ``paper_name`` selects the paper's row (``paper_results.json``) for the comparison column;
    when omitted it is looked up from the model zoo by ``config.model_type``.
    """
    if not model_name or not isinstance(model_name, str):
        raise ModelCardError("model_name must be a non-empty string")
    if not dataset_id:
        raise ModelCardError("dataset_id must name the dataset the model was tested on (a Hub id or a path)")
    if data_source not in DATA_SOURCES:
        raise ModelCardError(f"data_source must be one of {DATA_SOURCES}, got {data_source!r}")
    cfg = _config_dict(config)
    task = _config_task(config)
    normalized = normalize_results(results)
    model_type = cfg.get("model_type")
    paper_name = paper_name or _zoo_paper_name(model_type, task)
    paper = _paper_results(paper_name, task)

    card_data = ModelCardData(
        license=license,
        library_name="transformers",
        pipeline_tag="image-segmentation",
        tags=list(TASK_CARDS[task][1]) + (["synthetic-data"] if data_source == "synthetic" else []),
        # only a real Hub dataset id: a local path or the synthetic default's name is none
        datasets=[dataset_id] if is_hub_repo_id(dataset_id) else None,
        metrics=["f1"],
        base_model=base_model,
        model_name=model_name,
        eval_results=eval_results(normalized, dataset_id, dataset_config, dataset_revision, task=task),
    )

    num_channels = int(cfg.get("num_channels", len(BANDS)))
    band_names = list(cfg.get("band_names") or BANDS[:num_channels])
    bands = []
    for index, name in enumerate(band_names):
        position = BANDS.index(name) if name in BANDS else None
        bands.append({
            "index": index, "name": name,
            "mean": f"{MEAN[position]:.2f}" if position is not None else "n/a",
            "std": f"{STD[position]:.2f}" if position is not None else "n/a",
        })

    splits = list(normalized)
    metric_names = _metric_order({k: 0.0 for m in normalized.values() for k in m})
    rows = []
    for name in metric_names:
        rows.append({
            "label": f"F1 {name}" if name.isdigit() else (f"F1 interval {_interval(name)}" if _interval(name) else name),
            "values": [_format(normalized[s].get(name)) for s in splits],
            "paper": _format(paper.get(name)) if paper else "",
        })

    if data_source == "synthetic" and dataset_id == "euromine-synthetic-default":
        data_description = (
            "the **synthetic default data** generated by `euromine_hf.data.synthetic` (no real imagery)."
        )
    elif data_source == "synthetic":
        data_description = (
            f"a **synthetic archive** (`{dataset_id}`) generated by `euromine_hf.data.synthetic` (no real imagery)."
        )
    else:
        data_description = (
            f"the EuroMineNet archive (`{dataset_id}`, config `{dataset_config}`), official site split."
        )
    zoo_name = _zoo_name(model_type) if task == "multitemporal" else None
    architecture = paper_name or zoo_name or model_type or {
        "change_detection": "EuroMineNet change detector", "multitemporal": "EuroMineNet series model"}.get(task, "EuroMineNet segmenter")
    if task == "multitemporal":
        summary = (
            f"**{model_name}** maps mining footprints through a whole Sentinel-2 time series at once: it reads one "
            f"{num_channels}-band L2A image per year of a place together and predicts, for every pixel, mine or "
            "background in each year and change or no change between any two years, from one pass. It extends the "
            "EuroMineNet benchmark (133 EU mining sites, 2015–2024) beyond its paper, where segmenters see one year "
            "and detectors two."
        )
    elif task == "change_detection":
        summary = (
            f"**{model_name}** detects changes of mining footprints between two Sentinel-2 images of one place: for "
            f"every pixel of a pair of {num_channels}-band L2A images it predicts change or no change. It follows the "
            f"{architecture} setup of the EuroMineNet benchmark's cross-temporal change detection (133 EU mining "
            "sites, every pair of years 2015–2024)."
        )
    else:
        summary = (
            f"**{model_name}** maps mining footprints in Sentinel-2 imagery: for every pixel of a {num_channels}-band "
            f"L2A image it predicts mine or background. It follows the {architecture} setup of the EuroMineNet "
            "benchmark (133 EU mining sites, 2015–2024)."
        )
    template_kwargs = {
        "title": model_name,
        "summary": summary,
        "architecture": architecture,
        "model_type": model_type or "unknown",
        "num_parameters": f"{num_parameters:,}" if num_parameters else None,
        "num_channels": num_channels,
        "band_names": band_names,
        "bands": bands,
        # the snippet loads what the card sits beside: a Hub repo or a local folder, never a made-up name
        "repo_id": str(repo_id) if repo_id else None,
        "training_args": [(str(k), _format_arg(v)) for k, v in (training_args or {}).items()],
        "splits": splits,
        "result_rows": rows,
        "paper_name": paper_name if paper else None,
        "data_source": data_source,
        "data_description": data_description,
        "extra_limitations": list(extra_limitations or []),
        "license": license,
        "citation": CITATION,
        "years": list(YEARS),
    }
    card = ModelCard.from_template(card_data, template_str=load_template(template_path, task), **template_kwargs)
    check_card(card.data.to_dict(), "model", f"model card of {model_name}")
    # Catch a broken template or metadata now, not on the Hub.
    back = read_model_index(ModelCard(str(card)))
    if back != normalized:
        raise ModelCardError(f"model-index does not round-trip: wrote {normalized}, parsed back {back}")
    return card


def save_model_card(card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Write ``card`` atomically to ``path`` (a README.md, or a folder that gets one) and check it reloads.

    The written file is read back with ``ModelCard.load`` and its model-index compared with the card
    in memory, so a card that the Hub would misparse never reaches a model folder.
    """
    target = Path(path)
    if target.is_dir() or target.suffix == "":
        target = target / "README.md"
    from euromine_hf.io import atomic_path

    expected = read_model_index(card)
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(str(card))
        reloaded = read_model_index(ModelCard.load(tmp))
        if reloaded != expected:
            raise ModelCardError(f"{target}: model-index read back as {reloaded}, expected {expected}")
    return target


__all__ = [
    "CITATION",
    "ModelCardError",
    "TAGS",
    "base_model_for",
    "canonical_metric",
    "eval_results",
    "load_template",
    "normalize_results",
    "read_model_index",
    "render_model_card",
    "save_model_card",
]
