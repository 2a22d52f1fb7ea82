"""The model zoo: short names (as train.py's ``--model`` takes them) → config/model classes.

Each architecture file calls :func:`register_model` for the paper variants it provides, with its
task and two size presets: ``paper`` (the configuration benchmarked in the EuroMineNet paper) and
``tiny`` (a few thousand parameters, for tests and the CPU demo).  Registration with the
transformers Auto classes happens here too, so ``AutoModel.from_pretrained`` works once
``euromine_hf`` is imported: segmenters with ``AutoModelForSemanticSegmentation``, change detectors
with :class:`AutoModelForChangeDetection` (transformers has no Auto class for that task, so the
package defines one the way transformers defines its own), models of a whole yearly series with
:class:`AutoModelForMultitemporalSegmentation` (the same pattern).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

from transformers import AutoConfig, AutoModel, AutoModelForSemanticSegmentation, PretrainedConfig, PreTrainedModel
from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from euromine_hf.models.configuration import TASKS
from euromine_hf.models.paper_checkpoints import PAPER_CHECKPOINTS, TRAINED_FROM_SCRATCH, PretrainedCheckpoint

#: config class → change-detection model class (filled by :func:`register_model`).
MODEL_FOR_CHANGE_DETECTION_MAPPING = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())


class AutoModelForChangeDetection(_BaseAutoModelClass):
    """``AutoModelForChangeDetection.from_pretrained(folder_or_repo)`` for the package's detectors."""

    _model_mapping = MODEL_FOR_CHANGE_DETECTION_MAPPING


#: config class → multitemporal model class (filled by :func:`register_model`).
MODEL_FOR_MULTITEMPORAL_SEGMENTATION_MAPPING = _LazyAutoMapping(CONFIG_MAPPING_NAMES, OrderedDict())


class AutoModelForMultitemporalSegmentation(_BaseAutoModelClass):
    """``AutoModelForMultitemporalSegmentation.from_pretrained(folder_or_repo)`` for models that read a
    patch's yearly series and give a mask per year and change maps per year pair."""

    _model_mapping = MODEL_FOR_MULTITEMPORAL_SEGMENTATION_MAPPING


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry. ``published_params`` is the parameter count the benchmark's code publishes
    (units of 2^20, counted with 3-band inputs) where there is one; tests check the ``paper``
    preset built with ``num_channels=3`` against it. ``pretrained`` names the Hub checkpoint(s) the
    paper run started from (``paper_checkpoints.py``; empty when it trained from scratch, with the
    reason in ``pretrained_note``): ``train.py --size paper`` starts from them."""

    name: str
    paper_name: str
    task: str  # one of configuration.TASKS
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    published_params: float | None = None
    pretrained: tuple[PretrainedCheckpoint, ...] = ()
    pretrained_note: str = ""

    def make_config(self, size: str = "paper", **overrides: Any) -> PretrainedConfig:
        """The preset's config with ``overrides``; a dict override of a nested config (``backbone_config``)
        changes the preset's fields one by one rather than replacing them all. Unknown field names are
        an error (a ``PretrainedConfig`` would keep them as inert attributes: a typo would train the
        preset unchanged)."""
        if size not in self.presets:
            raise ValueError(f"model {self.name!r} has no size preset {size!r}; choose from {sorted(self.presets)}")
        known = config_field_names(self.config_class)
        removed = set(getattr(self.config_class, "removed_fields", {}))  # the config refuses them by name
        unknown = sorted(set(overrides) - known - removed)
        if unknown:
            raise ValueError(
                f"model {self.name!r}: unknown config field(s) {', '.join(unknown)}; "
                f"{self.config_class.__name__} takes {', '.join(sorted(known - _COMMON_FIELDS))}"
            )
        fields = dict(self.presets[size])
        for key, value in overrides.items():
            if isinstance(value, Mapping) and isinstance(fields.get(key), Mapping):
                value = {**fields[key], **value}
            fields[key] = value
        return self.config_class(**fields)


#: Fields every transformers config takes (not listed in the unknown-field message).
_COMMON_FIELDS = frozenset(
    {field.name for field in dataclasses.fields(PretrainedConfig)} | {"num_labels", "name_or_path"}
)


def config_field_names(config_class: type[PretrainedConfig]) -> frozenset[str]:
    """Field names a zoo config's ``__init__`` chain takes, and the fields of every transformers config."""
    names = set(_COMMON_FIELDS)
    for klass in config_class.__mro__:
        if klass is PretrainedConfig or "__init__" not in klass.__dict__:
            continue
        parameters = inspect.signature(klass.__dict__["__init__"]).parameters.values()
        names.update(p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self")
    return frozenset(names)


MODEL_ZOO: dict[str, ModelSpec] = {}
_REGISTERED_TYPES: set[str] = set()


def _register_auto(config_class: type[PretrainedConfig], model_class: type[PreTrainedModel], task: str) -> None:
    model_type = config_class.model_type
    if model_type in _REGISTERED_TYPES:
        return
    AutoConfig.register(model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if task == "segmentation":
        AutoModelForSemanticSegmentation.register(config_class, model_class, exist_ok=True)
    elif task == "multitemporal":
        AutoModelForMultitemporalSegmentation.register(config_class, model_class, exist_ok=True)
    else:
        AutoModelForChangeDetection.register(config_class, model_class, exist_ok=True)
    _register_image_processor(config_class)
    _REGISTERED_TYPES.add(model_type)


def _register_image_processor(config_class: type[PretrainedConfig]) -> None:
    """``AutoImageProcessor.from_pretrained(folder)`` → :class:`EuroMineImageProcessor` with the package
    imported (without it, the folder's ``auto_map`` serves ``trust_remote_code=True``).

    Skipped in a remote-code copy of this file, which carries no image processor module.
    """
    if not __name__.startswith("euromine_hf."):
        return
    import importlib

    from transformers import AutoImageProcessor

    processor = importlib.import_module("euromine_hf.models.image_processing").EuroMineImageProcessor
    AutoImageProcessor.register(
        config_class, image_processor_classes={"pil": processor, "torchvision": processor}, exist_ok=True
    )


def register_model(
    name: str,
    paper_name: str,
    config_class: type[PretrainedConfig],
    model_class: type[PreTrainedModel],
    *,
    task: str,
    paper: dict[str, Any],
    tiny: dict[str, Any],
    published_params: float | None = None,
    presets: dict[str, dict[str, Any]] | None = None,
    pretrained: tuple[PretrainedCheckpoint, ...] | None = None,
) -> ModelSpec:
    """Add a model to the zoo under ``name`` and register its classes with the Auto factories.

    ``presets`` adds named size presets beside ``paper`` and ``tiny`` (e.g. ``original``: the
    original paper's variant where the benchmark's code built the model differently). ``pretrained``
    defaults to the model's entry in ``paper_checkpoints.PAPER_CHECKPOINTS`` (none for a model not listed).
    """
    if task not in TASKS:
        raise ValueError(f"register_model({name!r}): task must be one of {TASKS}; got {task!r}")
    if not config_class.model_type.startswith("euromine-"):
        raise ValueError(f"{config_class.__name__}.model_type must start with 'euromine-'")
    if getattr(config_class, "task", task) != task:
        raise ValueError(f"{config_class.__name__}.task is {config_class.task!r} but {name!r} registers as {task!r}")
    if name in MODEL_ZOO and MODEL_ZOO[name].model_class is not model_class:
        raise ValueError(f"model name {name!r} is already registered by {MODEL_ZOO[name].model_class.__name__}")
    all_presets = {"paper": dict(paper), "tiny": dict(tiny)}
    for preset, fields in (presets or {}).items():
        if preset in all_presets:
            raise ValueError(f"register_model({name!r}): preset {preset!r} is given twice")
        all_presets[preset] = dict(fields)
    if pretrained is None:
        pretrained = PAPER_CHECKPOINTS.get(name, ())
    note = "" if pretrained else TRAINED_FROM_SCRATCH.get(name, "no pretrained start is recorded for this model")
    spec = ModelSpec(name, paper_name, task, config_class, model_class, all_presets, published_params,
                     tuple(pretrained), note)
    MODEL_ZOO[name] = spec
    _register_auto(config_class, model_class, task)
    return spec


def get_spec(name: str) -> ModelSpec:
    if name not in MODEL_ZOO:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODEL_ZOO))}")
    return MODEL_ZOO[name]


def zoo_names(task: str | None = None) -> list[str]:
    """Zoo names, optionally of one task, in registration order."""
    return [name for name, spec in MODEL_ZOO.items() if task is None or spec.task == task]


def build_model(name: str, size: str = "paper", **config_overrides: Any) -> PreTrainedModel:
    """Instantiate a zoo model (either task) with randomly initialised weights."""
    spec = get_spec(name)
    return spec.model_class(spec.make_config(size, **config_overrides))
