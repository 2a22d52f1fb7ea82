"""The config base every EuroMineNet model shares.

Why a base class and not a field per config: Trainer, inference, band adaptation and the cards all
read ``num_channels``, ``band_names`` and ``ignore_index`` from any model, so every config must
carry them with one meaning; and the tasks differ only in their label names.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from euromine_hf.bands import BANDS, RGB_BANDS

IGNORE_INDEX = 255

#: Tasks a zoo model can solve; ``EuroMineConfig.task`` names one of them.
TASKS = ("segmentation", "change_detection", "multitemporal")

#: Label names per task (index = class id).
TASK_LABELS: dict[str, tuple[str, str]] = {
    "segmentation": ("background", "mine"),
    "change_detection": ("no-change", "change"),
    # a yearly mine mask per year of a series (its pair change maps use the change labels)
    "multitemporal": ("background", "mine"),
}


def default_band_names(num_channels: int) -> list[str]:
    """The published Sentinel-2 order for 10 channels, RGB for 3, placeholders otherwise."""
    if num_channels == len(BANDS):
        return list(BANDS)
    if num_channels == len(RGB_BANDS):
        return list(RGB_BANDS)
    return [f"band{i}" for i in range(num_channels)]


class EuroMineConfig(PretrainedConfig):
    """Fields every EuroMineNet config carries.

    Args:
        num_channels: input bands per image (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel, so inference can pick bands by name
            (defaults to the published Sentinel-2 order for 10 channels, B04/B03/B02 for 3).
        ignore_index: label value excluded from the loss.

    Subclasses set ``model_type`` (prefixed ``euromine-``) and, for change detectors, ``task``.
    A model built on transformers backbones keeps each one's config nested (``backbone_config``,
    made by :func:`nested_backbone_config`) and lists the key in ``backbone_config_keys``;
    ``removed_fields`` names fields an earlier release wrote, so an old ``config.json`` fails with
    a message instead of loading a different model.
    """

    model_type = "euromine"
    task = "segmentation"
    backbone_config_keys: ClassVar[tuple[str, ...]] = ()
    removed_fields: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
        for name, instead in self.removed_fields.items():
            if name in kwargs:
                raise ValueError(
                    f"{type(self).__name__}: field {name!r} is no longer read (written by euromine-hf 0.1.0 "
                    f"before backbones had nested configs); {instead}"
                )
        kwargs.setdefault("num_labels", 2)
        labels = TASK_LABELS[self.task]
        if "id2label" not in kwargs and kwargs["num_labels"] == len(labels):
            kwargs["id2label"] = dict(enumerate(labels))
            kwargs["label2id"] = {name: i for i, name in enumerate(labels)}
        self.num_channels = int(num_channels)
        if self.num_channels < 1:
            raise ValueError(f"config.num_channels must be >= 1; got {num_channels}")
        names = default_band_names(self.num_channels) if band_names is None else list(band_names)
        if len(names) != self.num_channels:
            raise ValueError(
                f"config.band_names has {len(names)} names but num_channels={self.num_channels}; "
                "give one name per input channel"
            )
        self.band_names = names
        self.ignore_index = int(ignore_index)
        super().__init__(**kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # transformers 5 turns every config subclass into a dataclass; one without its own
        # ``__init__`` would get a generated one that skips ours (no num_channels, band_names…).
        custom_init = "__init__" in cls.__dict__
        if cls.__dict__.get("backbone_config_keys"):
            # transformers' composite-config hook: serialises, diffs and sets attention/dtype per
            # sub-config; the configs are built by nested_backbone_config before it runs.
            cls.sub_configs_defaults = {
                key: SubConfigSpec(config_class=AutoConfig, model_type="resnet") for key in cls.backbone_config_keys
            }
        super().__init_subclass__(**kwargs)
        if not custom_init:
            def __init__(self: EuroMineConfig, **init_kwargs: Any) -> None:
                super(cls, self).__init__(**init_kwargs)

            cls.__init__ = __init__  # type: ignore[method-assign]


#: ``removed_fields`` of the models whose 0.1.0 config took a ``backbone_overrides`` dict.
BACKBONE_OVERRIDES_REMOVED: dict[str, str] = {
    "backbone_overrides": "give these fields in backbone_config (the backbone's transformers config)"
}

#: Keys of a serialised backbone config that its class derives again from the other fields.
_DERIVED_BACKBONE_KEYS = ("model_type", "transformers_version", "stage_names", "out_indices")


def nested_backbone_config(
    value: PretrainedConfig | Mapping[str, Any] | None,
    config_class: type[PretrainedConfig],
    defaults: Mapping[str, Any],
    *,
    field: str,
    num_channels: int,
    fixed: Callable[[dict[str, Any]], Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> PretrainedConfig:
    """A model's nested transformers backbone config, the way ``UperNetConfig.backbone_config`` is one.

    Why not copy the backbone's fields onto the model's config: the backbone's own config class
    already validates, documents and serialises them, and a checkpoint's ``config.json`` then holds
    exactly what transformers builds the backbone from.

    Args:
        value: ``None`` (the named variant, ``defaults``), a dict of ``config_class`` fields (a
            preset's few changes, or the whole dict a saved ``config.json`` holds), or a
            ``config_class`` instance.
        defaults: the fields of the variant the model's ``backbone`` names; ``value`` overrides them.
        field: the config field, for messages (``"DeepLabV3PlusConfig.backbone_config"``).
        num_channels: the model's input bands; the backbone follows it (a ``value`` stating another
            count is an error, not silently replaced).
        fixed: fields the model sets itself (e.g. which stages it reads), or a function of the
            merged fields returning them; a ``value`` stating another value is an error.
    """
    if value is None:
        given: dict[str, Any] = {}
    elif isinstance(value, PretrainedConfig):
        if not isinstance(value, config_class):
            raise ValueError(f"{field} is a {type(value).__name__}; this backbone needs a {config_class.__name__}")
        given = value.to_dict()
    elif isinstance(value, Mapping):
        given = dict(value)
    else:
        raise ValueError(f"{field} must be a dict or a {config_class.__name__}; got {type(value).__name__}")
    model_type = given.get("model_type", config_class.model_type)
    if model_type != config_class.model_type:
        raise ValueError(f"{field}.model_type is {model_type!r}; this backbone needs {config_class.model_type!r}")
    for key in _DERIVED_BACKBONE_KEYS:
        given.pop(key, None)
    if int(given.get("num_channels", num_channels)) != num_channels:
        raise ValueError(
            f"{field}.num_channels={given['num_channels']} but the model's num_channels={num_channels}; "
            f"leave num_channels out of {field} (the backbone follows the model)"
        )
    fields = {**defaults, **given, "num_channels": int(num_channels)}
    forced = dict(fixed(fields) if callable(fixed) else (fixed or {}))
    for key, wanted in forced.items():
        wanted = _as_lists(wanted)
        if key in given and _as_lists(given[key]) != wanted:
            raise ValueError(f"{field}.{key}={given[key]!r}, but this model sets it to {wanted!r}; leave it out")
        fields[key] = wanted
    return config_class(**{key: _as_lists(item) for key, item in fields.items()})


def _as_lists(value: Any) -> Any:
    """Tuples → lists (recursively), so a config compares equal to its JSON round trip."""
    if isinstance(value, (tuple, list)):
        return [_as_lists(item) for item in value]
    return value


class EuroMineChangeDetectionConfig(EuroMineConfig):
    """Config base of change detectors: two images of ``num_channels`` bands in, change / no-change out.

    Args:
        loss: ``"ce"`` (cross-entropy; a detector with one sigmoid output channel expresses it as
            two logits ``[0, z]``, for which cross-entropy *is* binary cross-entropy),
            ``"ce+dice"`` (plus soft Dice on the change probability) or ``"dice"``.
    """

    model_type = "euromine-change-detection"
    task = "change_detection"
    LOSSES = ("ce", "ce+dice", "dice")

    def __init__(self, loss: str = "ce", **kwargs: Any) -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"config.loss must be one of {self.LOSSES}; got {loss!r}")
        self.loss = loss
        super().__init__(**kwargs)


__all__ = [
    "BACKBONE_OVERRIDES_REMOVED",
    "EuroMineChangeDetectionConfig",
    "EuroMineConfig",
    "IGNORE_INDEX",
    "TASKS",
    "TASK_LABELS",
    "default_band_names",
    "nested_backbone_config",
]
