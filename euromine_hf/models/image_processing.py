"""The image processor saved with every model: raw Sentinel-2 counts in, the model's inputs out.

Why one: a model folder must say how its inputs were made (which bands, in which order, normalised
with which statistics) so ``AutoImageProcessor.from_pretrained(repo)`` reproduces training's
normalisation (``euromine_hf.data.collators.normalize_images``) on new imagery.  Bands are picked
by name from the bands the imagery carries (``source_bands``, the archive's order by default), so a
3-band RGB model is fed from 10-band imagery without the user reordering anything.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

from euromine_hf.bands import BANDS, MEAN, STD

#: ``auto_map`` value: the file name this module is saved under in a model folder, and the class.
AUTO_MAP_REFERENCE = "image_processing.EuroMineImageProcessor"


def _published_statistic(values: np.ndarray, names: Sequence[str], what: str) -> list[float]:
    missing = [name for name in names if name not in BANDS]
    if missing:
        raise ValueError(
            f"EuroMineImageProcessor: no published {what} for band(s) {missing} (published bands: {list(BANDS)}); "
            f"pass image_{what} explicitly"
        )
    return [float(values[BANDS.index(name)]) for name in names]


def band_statistic(values: Any, band_names: Sequence[str], field: str, published: np.ndarray) -> list[float]:
    """``field`` (``image_mean`` / ``image_std``) as one finite number per band in ``band_names``: the
    given values, checked (a standard deviation must be positive), or the published statistic of each
    band when ``values`` is None. Errors start with the field's name so a caller can put its file first."""
    if values is None:
        return _published_statistic(published, band_names, field.removeprefix("image_"))
    if isinstance(values, np.ndarray):
        values = values.tolist()
    expected = f"{len(band_names)} numbers, one per model band ({', '.join(band_names)})"
    if not isinstance(values, (list, tuple)) or len(values) != len(band_names):
        found = f"{len(values)} values" if isinstance(values, (list, tuple)) else repr(values)
        raise ValueError(f"{field}: expected {expected}, found {found}")
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        raise ValueError(f"{field}: expected {expected}, found {bad[0]!r}")
    if field == "image_std" and any(v <= 0 for v in values):
        raise ValueError(f"{field}: expected positive standard deviations, found {min(values)!r}")
    return [float(v) for v in values]


class EuroMineImageProcessor(BaseImageProcessor):
    """Select bands by name and normalise ``(x − mean) / std`` in float32.

    Args:
        band_names: the model's input bands, in its channel order (default: the 10 published bands).
        image_mean, image_std: one value per model band (default: the published statistics of those
            bands, ``euromine_hf.bands``).
        source_bands: the bands of the arrays given to ``__call__``, in their order (default: the
            archive's 10 bands); ``__call__(…, source_bands=…)`` overrides it per call.
        task: ``"segmentation"`` (``images`` → ``pixel_values``), ``"change_detection"``
            (``images_t1``/``images_t2`` → ``pixel_values_t1``/``pixel_values_t2``) or
            ``"multitemporal"`` (``images``: one series (T, C, H, W) or a batch (B, T, C, H, W) →
            ``pixel_values`` (B, T, C, H, W); ``years=`` (T,) or (B, T) passes through as ``years``).
    """

    TASKS = ("segmentation", "change_detection", "multitemporal")

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        band_names: Sequence[str] | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        source_bands: Sequence[str] | None = None,
        task: str = "segmentation",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("auto_map", None)  # written by to_dict, not a setting
        super().__init__(**kwargs)
        self.band_names = list(BANDS if band_names is None else band_names)
        try:
            self.image_mean = band_statistic(image_mean, self.band_names, "image_mean", MEAN)
            self.image_std = band_statistic(image_std, self.band_names, "image_std", STD)
        except ValueError as error:
            message = str(error)
            raise ValueError(message if message.startswith("EuroMineImageProcessor") else f"EuroMineImageProcessor: {message}") from None
        self.source_bands = list(BANDS if source_bands is None else source_bands)
        if task not in self.TASKS:
            raise ValueError(f"EuroMineImageProcessor: task must be one of {self.TASKS}; got {task!r}")
        self.task = task
        self.model_input_names = ["pixel_values_t1", "pixel_values_t2"] if task == "change_detection" else ["pixel_values"]

    @classmethod
    def from_model_config(cls, config: Any) -> "EuroMineImageProcessor":
        """The processor for a EuroMineNet model config: its ``band_names`` with the published statistics."""
        return cls(band_names=list(config.band_names), task=getattr(config, "task", "segmentation"))

    def _band_indices(self, source_bands: Sequence[str]) -> list[int]:
        missing = [name for name in self.band_names if name not in source_bands]
        if missing:
            raise ValueError(
                f"EuroMineImageProcessor: the model needs band(s) {missing} but the images carry {list(source_bands)} "
                "(pass source_bands= naming the images' bands in order)"
            )
        return [list(source_bands).index(name) for name in self.band_names]

    def normalize_bands(self, images: Any, source_bands: Sequence[str] | None = None, name: str = "images") -> np.ndarray:
        """``(C, H, W)`` / ``(B, C, H, W)`` array (or a list of ``(C, H, W)``) → float32 ``(B, len(band_names), H, W)``."""
        if isinstance(images, (list, tuple)):
            images = [np.asarray(image) for image in images]
            shapes = {image.shape for image in images}
            if len(shapes) != 1:
                raise ValueError(f"EuroMineImageProcessor: {name} have different shapes {sorted(shapes)}")
            array = np.stack(images)
        else:
            array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise ValueError(f"EuroMineImageProcessor: {name} must be (C, H, W) or (B, C, H, W); got shape {array.shape}")
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"EuroMineImageProcessor: {name} must hold numbers (e.g. uint16 counts); got dtype {array.dtype}")
        sources = self.source_bands if source_bands is None else list(source_bands)
        if array.shape[1] != len(sources):
            raise ValueError(
                f"EuroMineImageProcessor: {name} have {array.shape[1]} bands but source_bands names {len(sources)}: {sources}"
            )
        out = array[:, self._band_indices(sources)].astype(np.float32)  # copy in float32, as the collators do
        np.subtract(out, np.asarray(self.image_mean, dtype=np.float32).reshape(1, -1, 1, 1), out=out)
        np.divide(out, np.asarray(self.image_std, dtype=np.float32).reshape(1, -1, 1, 1), out=out)
        return out

    def normalize_series(self, images: Any, source_bands: Sequence[str] | None = None) -> np.ndarray:
        """One series ``(T, C, H, W)`` (or a list of ``(C, H, W)`` years) or a batch ``(B, T, C, H, W)``
        → float32 ``(B, T, len(band_names), H, W)``."""
        if isinstance(images, (list, tuple)):
            array = self.normalize_bands(images, source_bands, "images")[None]
        else:
            array = np.asarray(images)
            if array.ndim == 4:
                array = array[None]
            if array.ndim != 5:
                raise ValueError(
                    f"EuroMineImageProcessor: images must be a series (T, C, H, W) or a batch (B, T, C, H, W); got shape {array.shape}"
                )
            b, t = array.shape[:2]
            array = self.normalize_bands(array.reshape(b * t, *array.shape[2:]), source_bands, "images")
            array = array.reshape(b, t, *array.shape[1:])
        return array

    def preprocess(  # type: ignore[override]
        self,
        images: Any = None,
        images_t1: Any = None,
        images_t2: Any = None,
        source_bands: Sequence[str] | None = None,
        return_tensors: str | None = None,
        years: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        if kwargs:
            raise TypeError(f"EuroMineImageProcessor: unexpected argument(s) {sorted(kwargs)}")
        if years is not None and self.task != "multitemporal":
            raise ValueError("EuroMineImageProcessor: years= is read by multitemporal models only")
        if self.task == "multitemporal":
            if images is None or images_t1 is not None or images_t2 is not None:
                raise ValueError("EuroMineImageProcessor: a multitemporal model takes images= (one series or a batch of series)")
            data = {"pixel_values": self.normalize_series(images, source_bands)}
            if years is not None:
                years_array = np.asarray(years)
                if years_array.ndim == 1:
                    years_array = np.broadcast_to(years_array, (len(data["pixel_values"]), len(years_array)))
                if not np.issubdtype(years_array.dtype, np.integer) or years_array.shape != data["pixel_values"].shape[:2]:
                    raise ValueError(
                        f"EuroMineImageProcessor: years must be integers, one per image of the series "
                        f"{data['pixel_values'].shape[:2]}; got {years_array.dtype} {years_array.shape}"
                    )
                data["years"] = years_array.astype(np.int64)
        elif self.task == "change_detection":
            if images is not None or images_t1 is None or images_t2 is None:
                raise ValueError("EuroMineImageProcessor: a change detector takes images_t1= and images_t2= (not images=)")
            data = {
                "pixel_values_t1": self.normalize_bands(images_t1, source_bands, "images_t1"),
                "pixel_values_t2": self.normalize_bands(images_t2, source_bands, "images_t2"),
            }
            if data["pixel_values_t1"].shape != data["pixel_values_t2"].shape:
                raise ValueError(
                    f"EuroMineImageProcessor: images_t1 {data['pixel_values_t1'].shape} and images_t2 "
                    f"{data['pixel_values_t2'].shape} differ in shape"
                )
        else:
            if images is None or images_t1 is not None or images_t2 is not None:
                raise ValueError("EuroMineImageProcessor: a segmenter takes images= (not images_t1/images_t2)")
            data = {"pixel_values": self.normalize_bands(images, source_bands, "images")}
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_semantic_segmentation(self, outputs: Any, target_sizes: Sequence[Sequence[int]] | None = None) -> list[Any]:
        """Class maps from a model's output, as transformers' segmentation processors (Segformer's) give them.

        ``outputs``: the model output (``.logits`` ``(B, 2, H, W)``, or ``(B, T, 2, H, W)`` for a
        multitemporal model) or the logits. ``target_sizes``: one ``(height, width)`` per image (per
        series); the logits are resized bilinearly to it before the argmax (our models already
        predict at input size: pass it for another grid). Returns one ``(H, W)`` tensor per image
        (``(T, H, W)`` per series): 0 background, 1 mine (segmenters) or change (detectors).
        """
        import torch

        logits = getattr(outputs, "logits", outputs)
        if target_sizes is not None and len(logits) != len(target_sizes):
            raise ValueError(f"target_sizes: expected one (height, width) per image ({len(logits)}), got {len(target_sizes)}")
        maps = []
        for i, item in enumerate(logits):
            series = item.ndim == 4  # (T, 2, H, W)
            if target_sizes is not None:
                size = tuple(int(v) for v in target_sizes[i])
                batch = item.float() if series else item[None].float()
                item = torch.nn.functional.interpolate(batch, size=size, mode="bilinear", align_corners=False)
                item = item if series else item[0]
            maps.append(item.argmax(dim=-3))
        return maps

    def __call__(self, images: Any = None, **kwargs: Any) -> BatchFeature:  # type: ignore[override]
        return self.preprocess(images, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        output = {
            "image_processor_type": type(self).__name__,
            "band_names": list(self.band_names),
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "source_bands": list(self.source_bands),
            "task": self.task,
            "auto_map": {"AutoImageProcessor": AUTO_MAP_REFERENCE},
        }
        return output

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        """Also writes the code files ``auto_map`` names, when saved from the package."""
        if type(self).__module__.startswith("euromine_hf."):
            import importlib
            import os

            os.makedirs(save_directory, exist_ok=True)
            # by name: this file is itself copied as remote code, where the package is absent
            importlib.import_module("euromine_hf.models.remote_code").write_remote_code(save_directory, [type(self)])
        return super().save_pretrained(save_directory, *args, **kwargs)
