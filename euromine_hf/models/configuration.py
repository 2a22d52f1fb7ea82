"""The config base every EuroMineNet model shares.

Why a base class and not a field per config: Trainer, inference, band adaptation and the cards all
read ``num_channels``, ``band_names`` and ``ignore_index`` from any model, so every config must
carry them with one meaning; and the two tasks differ only in their label names.
"""

from __future__ import annotations

from typing import Any, Sequence

from transformers import PretrainedConfig

from euromine_hf.bands import BANDS, RGB_BANDS

IGNORE_INDEX = 255

#: Tasks a zoo model can solve; ``EuroMineConfig.task`` names one of them.
TASKS = ("segmentation", "change_detection")

#: Label names per task (index = class id).
TASK_LABELS: dict[str, tuple[str, str]] = {
    "segmentation": ("background", "mine"),
    "change_detection": ("no-change", "change"),
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
    """

    model_type = "euromine"
    task = "segmentation"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs: Any,
    ) -> None:
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
        super().__init_subclass__(**kwargs)
        if not custom_init:
            def __init__(self: EuroMineConfig, **init_kwargs: Any) -> None:
                super(cls, self).__init__(**init_kwargs)

            cls.__init__ = __init__  # type: ignore[method-assign]


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
    "EuroMineChangeDetectionConfig",
    "EuroMineConfig",
    "IGNORE_INDEX",
    "TASKS",
    "TASK_LABELS",
    "default_band_names",
]
