"""The model zoo: short names (as train.py's ``--model`` takes them) → config/model classes.

Each architecture file calls :func:`register_segmenter` for the paper variants it provides, with
two size presets: ``paper`` (the configuration benchmarked in the EuroMineNet paper) and ``tiny``
(a few thousand parameters, for tests and the CPU demo).  Registration with the transformers Auto
classes happens here too, so ``AutoModel.from_pretrained`` works once ``euromine_hf`` is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import AutoConfig, AutoModel, AutoModelForSemanticSegmentation, PretrainedConfig, PreTrainedModel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    paper_name: str
    task: str  # "segmentation" or "change-detection"
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def make_config(self, size: str = "paper", **overrides: Any) -> PretrainedConfig:
        if size not in self.presets:
            raise ValueError(f"model {self.name!r} has no size preset {size!r}; choose from {sorted(self.presets)}")
        return self.config_class(**{**self.presets[size], **overrides})


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
    _REGISTERED_TYPES.add(model_type)


def register_segmenter(
    name: str,
    paper_name: str,
    config_class: type[PretrainedConfig],
    model_class: type[PreTrainedModel],
    paper: dict[str, Any],
    tiny: dict[str, Any],
    task: str = "segmentation",
) -> ModelSpec:
    """Add a model to the zoo under ``name`` and register its classes with the Auto factories."""
    if not config_class.model_type.startswith("euromine-"):
        raise ValueError(f"{config_class.__name__}.model_type must start with 'euromine-'")
    spec = ModelSpec(name, paper_name, task, config_class, model_class, {"paper": dict(paper), "tiny": dict(tiny)})
    MODEL_ZOO[name] = spec
    _register_auto(config_class, model_class, task)
    return spec


def get_spec(name: str) -> ModelSpec:
    if name not in MODEL_ZOO:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODEL_ZOO))}")
    return MODEL_ZOO[name]


def build_model(name: str, size: str = "paper", **config_overrides: Any) -> PreTrainedModel:
    """Instantiate a zoo model with randomly initialised weights."""
    spec = get_spec(name)
    return spec.model_class(spec.make_config(size, **config_overrides))
