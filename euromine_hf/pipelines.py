"""``transformers`` pipelines for 10-band Sentinel-2 scenes: mine maps and change maps of any size.

Why our own: transformers' ``image-segmentation`` pipeline takes PIL/RGB images, so a 10-band
array or a GeoTIFF is refused before the model sees it. These pipelines take a ``(bands, H, W)``
array of L2A digital numbers or a GeoTIFF path (bands matched by their descriptions when present),
normalise with the model's image processor, predict on the benchmark's 160-px window grid
(``euromine_hf.data.patching``: wrap-padded below 160 px, edge windows aligned to the border) and
average the class-1 probability where windows overlap, as ``euromine predict`` does.

Two routes, one class per model task:

* with the package: ``import euromine_hf.pipelines`` registers ``"euromine-mapping"``,
  ``"euromine-change-detection"`` and ``"euromine-series"`` in transformers' ``PIPELINE_REGISTRY``;
  ``pipeline("euromine-mapping", model=folder_or_repo)``;
* without it: every saved model lists its pipeline in ``config.custom_pipelines`` under its Hub
  task (:data:`HUB_TASKS`) and carries this file as remote code (``models/remote_code.py``), so
  ``pipeline("image-segmentation", model=repo, trust_remote_code=True)`` runs this class.

Output per scene: ``{"mask": uint8 (H, W) (1 = mine / change), "probability": float32 (H, W),
"labels": id2label}``, plus ``"crs"`` and ``"transform"`` when the input was a GeoTIFF. A series
model (``euromine-series``) reads every year of a window together and gives ``"years"``,
``"masks"`` / ``"probabilities"`` (T, H, W), ``"pairs"`` and ``"change_masks"`` /
``"change_probabilities"`` (P, H, W) from one pass.

GeoTIFF paths are read and checked by ``euromine predict``'s own reader
(``euromine_hf.inference.reader.read_geotiffs``), so both accept and refuse the same files: integer
digital numbers only, bands named by their descriptions or in the published order (``source_bands``
states the file's order, as ``--band-order``), every date on one grid (size, CRS, transform). As in
predict's maps, a pixel with no data (zero, or the file's nodata, in every band) on any date a map
reads is :data:`MASK_NODATA` (255) in the mask and NaN in the probability. Paths need the package
(pip install euromine-hf) in either route; arrays do not, and carry no nodata or georeference.
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
from typing import Any, Sequence

import numpy as np
from transformers import AutoModel, AutoModelForSemanticSegmentation, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from euromine_hf.bands import PATCH_SIZE
from euromine_hf.data.patching import pad_to_patch, patch_offsets

__all__ = ["MAPPING_TASK", "CHANGE_TASK", "SERIES_TASK", "HUB_TASKS", "MASK_NODATA", "EuroMineMappingPipeline",
           "EuroMineChangeDetectionPipeline", "EuroMineSeriesPipeline", "custom_pipelines", "read_scene"]

MAPPING_TASK = "euromine-mapping"
CHANGE_TASK = "euromine-change-detection"
SERIES_TASK = "euromine-series"
#: the task a saved model's ``config.custom_pipelines`` names (remote-code route), by model task:
#: the Hub's ``pipeline_tag`` for segmenters; change detection and series have no transformers task
HUB_TASKS = {"segmentation": "image-segmentation", "change_detection": "change-detection",
             "multitemporal": "multitemporal-segmentation"}
#: mask value of pixels with no input data (GeoTIFF inputs), as in ``euromine predict``'s maps
MASK_NODATA = 255
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
#: the package modules a pipeline uses when installed; by name, since this file is also remote code
_PACKAGE_READER = "euromine_hf.inference.reader"
_PACKAGE_BAND_ORDER = "euromine_hf.inference.band_order"


def _is_path(image: Any) -> bool:
    return isinstance(image, (str, os.PathLike))


def read_scene(images: Sequence[Any], model_bands: Sequence[str],
               source_bands: Sequence[str] | None = None) -> dict[str, Any]:
    """A scene's dates: ``images`` (one array per date), ``names`` (their band names, ``None`` for
    arrays: ``source_bands`` or the processor's default), ``valid`` (per date, ``None`` for arrays)
    and ``geo`` (``crs``, ``transform`` of GeoTIFFs). GeoTIFF paths go through ``euromine
    predict``'s reader and checks (the model's bands are read, by the file's descriptions or
    ``source_bands`` as its stated order)."""
    paths = [_is_path(image) for image in images]
    if all(paths):
        try:
            reader = importlib.import_module(_PACKAGE_READER)
            band_order = importlib.import_module(_PACKAGE_BAND_ORDER)
        except ImportError:  # the remote-code route without the package
            raise ImportError(f"{images[0]}: GeoTIFF paths are read with euromine predict's checks, which need the "
                              "euromine-hf package (pip install euromine-hf); or pass (bands, H, W) arrays") from None
        try:  # the file's order, checked as predict checks --band-order
            stated = band_order.parse_band_order(",".join(source_bands)) if source_bands is not None else None
        except ValueError as error:
            raise ValueError(str(error).replace("--band-order", "source_bands", 1)) from None
        scene = reader.read_geotiffs([os.fspath(p) for p in images], list(model_bands), stated)
        return {"images": scene["images"], "names": [list(model_bands)] * len(images), "valid": scene["valid"],
                "geo": {"crs": scene["crs"], "transform": scene["transform"]}}
    if any(paths):
        raise ValueError("images: expected every date as a GeoTIFF path or every date as a (bands, height, width) array, "
                         "not both (a path's grid cannot be checked against an array)")
    arrays = [np.asarray(image) for image in images]
    for k, data in enumerate(arrays):
        if data.ndim != 3:
            raise ValueError(f"image {k + 1}: expected a (bands, height, width) array or a GeoTIFF path, got shape {data.shape}")
    names = None if source_bands is None else list(source_bands)
    return {"images": arrays, "names": [names] * len(arrays), "valid": None, "geo": {}}


class _WindowedPipeline(Pipeline):
    """Preprocess each date with the image processor, predict window batches, blend, threshold."""

    _load_image_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_processor = False
    _load_video_processor = False

    #: the model task (``config.task``) this pipeline maps
    model_task = "segmentation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        found = str(getattr(self.model.config, "task", "segmentation"))
        if found != self.model_task:
            task = _PIPELINES[self.model_task][0]
            right = _PIPELINES[found][0] if found in _PIPELINES else "the pipeline of its task"
            raise ValueError(f"{self.model.name_or_path or type(self.model).__name__}: a {found.replace('_', ' ')} model; "
                             f"the {task} pipeline needs a {self.model_task.replace('_', ' ')} model (use {right})")

    def _sanitize_parameters(self, source_bands: Sequence[str] | None = None, threshold: float | None = None,
                             windows_per_batch: int | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {sorted(kwargs)}")
        pre = {} if source_bands is None else {"source_bands": list(source_bands)}
        forward = {} if windows_per_batch is None else {"windows_per_batch": int(windows_per_batch)}
        post = {} if threshold is None else {"threshold": float(threshold)}
        return pre, forward, post

    def _split_dates(self, inputs: Any) -> list[Any]:
        return [inputs]

    def preprocess(self, inputs: Any, source_bands: Sequence[str] | None = None) -> dict[str, Any]:
        scene = read_scene(self._split_dates(inputs), self.image_processor.band_names, source_bands)
        arrays = [self.image_processor.normalize_bands(data, names, name=f"image {k + 1}")[0]
                  for k, (data, names) in enumerate(zip(scene["images"], scene["names"]))]
        shapes = {a.shape[1:] for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"{type(self).__name__}: the dates differ in size {sorted(shapes)}: expected co-registered scenes")
        height, width = arrays[0].shape[1:]
        return {"dates": [pad_to_patch(a) for a in arrays], "height": height, "width": width, "geo": scene["geo"],
                "valid": scene["valid"]}

    def _logits(self, windows: list[Any], model_inputs: dict[str, Any]) -> Any:
        """Logits ``(n, 2, 160, 160)`` (one map) or ``(n, maps, 2, 160, 160)`` of a window batch."""
        raise NotImplementedError

    def _forward(self, model_inputs: dict[str, Any], windows_per_batch: int = 16) -> dict[str, Any]:
        import torch

        dates = model_inputs["dates"]
        padded_h, padded_w = dates[0].shape[1:]
        offsets = patch_offsets(padded_h, padded_w)
        total: Any = None  # (maps, H, W), sized by the first batch
        hits = np.zeros((padded_h, padded_w), np.float32)
        for start in range(0, len(offsets), windows_per_batch):
            chunk = offsets[start : start + windows_per_batch]
            windows = [
                torch.from_numpy(np.stack([d[:, r : r + PATCH_SIZE, c : c + PATCH_SIZE] for r, c in chunk])).to(self.device)
                for d in dates
            ]
            logits = self._logits(windows, model_inputs).float()
            logits = logits[:, None] if logits.ndim == 4 else logits
            probability = torch.softmax(logits, dim=2)[:, :, 1].cpu().numpy()
            if total is None:
                total = np.zeros((probability.shape[1], padded_h, padded_w), np.float32)
            for (r, c), p in zip(chunk, probability):
                total[:, r : r + PATCH_SIZE, c : c + PATCH_SIZE] += p
                hits[r : r + PATCH_SIZE, c : c + PATCH_SIZE] += 1.0
        height, width = model_inputs["height"], model_inputs["width"]
        return {"probability": (total / hits)[:, :height, :width], "geo": model_inputs["geo"],
                "years": model_inputs.get("years"), "pairs": model_inputs.get("pairs"),
                "valid": model_inputs["valid"], "positions": model_inputs.get("positions")}

    @staticmethod
    def _maps(probability: np.ndarray, threshold: float, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Mask and probability of one map: :data:`MASK_NODATA` / NaN where ``valid`` is False."""
        mask = (probability > threshold).astype(np.uint8)
        if valid is None:
            return mask, probability
        return np.where(valid, mask, np.uint8(MASK_NODATA)), np.where(valid, probability, np.float32(np.nan))

    def postprocess(self, model_outputs: dict[str, Any], threshold: float = 0.5) -> dict[str, Any]:
        valid = model_outputs["valid"]
        mask, probability = self._maps(model_outputs["probability"][0], threshold,
                                       None if valid is None else np.logical_and.reduce(valid))
        out = {"mask": mask, "probability": probability,
               "labels": {int(k): v for k, v in self.model.config.id2label.items()}}
        out.update(model_outputs["geo"])
        return out


class EuroMineMappingPipeline(_WindowedPipeline):
    """Mine map of one scene: ``pipe(image)`` with a ``(bands, H, W)`` array or a GeoTIFF path."""

    def _logits(self, windows: list[Any], model_inputs: dict[str, Any]) -> Any:
        return self.model(pixel_values=windows[0]).logits


class EuroMineChangeDetectionPipeline(_WindowedPipeline):
    """Change map of two co-registered scenes: ``pipe((image_t1, image_t2))`` or
    ``pipe({"image_t1": ..., "image_t2": ...})`` (arrays or GeoTIFF paths; no data on either date: nodata)."""

    model_task = "change_detection"

    def _split_dates(self, inputs: Any) -> list[Any]:
        if isinstance(inputs, dict) and set(inputs) == {"image_t1", "image_t2"}:
            return [inputs["image_t1"], inputs["image_t2"]]
        if isinstance(inputs, tuple) and len(inputs) == 2:
            return list(inputs)
        raise ValueError(
            "change detection: expected (image_t1, image_t2) or {'image_t1': ..., 'image_t2': ...} "
            "(arrays (bands, H, W) or GeoTIFF paths)"
        )

    def _logits(self, windows: list[Any], model_inputs: dict[str, Any]) -> Any:
        return self.model(pixel_values_t1=windows[0], pixel_values_t2=windows[1]).logits


class EuroMineSeriesPipeline(_WindowedPipeline):
    """Yearly mine maps and change maps of a series of co-registered scenes, every year of a window
    read together: ``pipe({"images": [...], "years": [...]})`` with one ``(bands, H, W)`` array or
    GeoTIFF path per year (any T ≥ 2, gaps allowed; ``years`` may be left out when every path's
    name states its year, as ``Year2019.tif``). ``pairs=[(y1, y2), ...]`` picks the change maps
    (default: every pair of the years given). A year's mask is nodata where that year has no data, a
    change mask where either year has none."""

    model_task = "multitemporal"

    def _sanitize_parameters(self, pairs: Sequence[Sequence[int]] | None = None, **kwargs: Any):
        pre, forward, post = super()._sanitize_parameters(**kwargs)
        if pairs is not None:
            pre["pairs"] = [tuple(int(y) for y in pair) for pair in pairs]
        return pre, forward, post

    def _split_dates(self, inputs: Any) -> list[Any]:
        if not (isinstance(inputs, dict) and "images" in inputs and set(inputs) <= {"images", "years"}
                and isinstance(inputs["images"], (list, tuple)) and len(inputs["images"]) >= 2):
            raise ValueError("series: expected {'images': [one (bands, H, W) array or GeoTIFF path per year, at least two], "
                             "'years': [one year per image]}")
        return list(inputs["images"])

    def preprocess(self, inputs: Any, source_bands: Sequence[str] | None = None,
                   pairs: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
        model_inputs = super().preprocess(inputs, source_bands)
        years = inputs.get("years")
        if years is None:
            found = [_YEAR_IN_NAME.search(os.path.basename(str(image))) if isinstance(image, (str, os.PathLike)) else None
                     for image in inputs["images"]]
            if not all(found):
                raise ValueError("series: give 'years' (one per image) unless every image is a path naming its year (Year2019.tif)")
            years = [int(match.group(1)) for match in found]
        years = [int(y) for y in years]
        if len(years) != len(model_inputs["dates"]) or len(set(years)) != len(years):
            raise ValueError(f"series: expected one distinct year per image ({len(model_inputs['dates'])}); got {years}")
        order = sorted(range(len(years)), key=years.__getitem__)
        years = [years[i] for i in order]
        position = {year: i for i, year in enumerate(years)}
        year_pairs = list(itertools.combinations(years, 2)) if pairs is None else list(pairs)
        bad = [p for p in year_pairs if len(p) != 2 or p[0] not in position or p[1] not in position or p[0] >= p[1]]
        if bad:
            raise ValueError(f"series: pairs must be (earlier, later) years among {years}; got {bad}")
        valid = model_inputs["valid"]
        model_inputs.update(dates=[model_inputs["dates"][i] for i in order], years=years, pairs=year_pairs,
                            positions=[(position[a], position[b]) for a, b in year_pairs],
                            valid=None if valid is None else [valid[i] for i in order])
        return model_inputs

    def _logits(self, windows: list[Any], model_inputs: dict[str, Any]) -> Any:
        import torch

        series = torch.stack(windows, dim=1)
        years = torch.tensor([model_inputs["years"]], device=series.device).expand(len(series), -1)
        pairs = torch.tensor(model_inputs["positions"], dtype=torch.long, device=series.device).reshape(-1, 2)
        output = self.model(pixel_values=series, years=years, pairs=pairs)
        return torch.cat([output.logits, output.change_logits], dim=1)

    def postprocess(self, model_outputs: dict[str, Any], threshold: float = 0.5) -> dict[str, Any]:
        probability, t, valid = model_outputs["probability"], len(model_outputs["years"]), model_outputs["valid"]
        reads = [(i,) for i in range(t)] + list(model_outputs["positions"])  # the dates each map reads
        maps = [self._maps(p, threshold, None if valid is None else np.logical_and.reduce([valid[d] for d in dates]))
                for p, dates in zip(probability, reads)]
        masks, probabilities = np.stack([m for m, _ in maps]), np.stack([p for _, p in maps])
        out = {
            "years": list(model_outputs["years"]),
            "masks": masks[:t],
            "probabilities": probabilities[:t],
            "pairs": list(model_outputs["pairs"]),
            "change_masks": masks[t:],
            "change_probabilities": probabilities[t:],
            "labels": {int(k): v for k, v in self.model.config.id2label.items()},
        }
        out.update(model_outputs["geo"])
        return out


#: model task -> (package task, pipeline class, transformers Auto class name)
_PIPELINES = {
    "segmentation": (MAPPING_TASK, EuroMineMappingPipeline, "AutoModelForSemanticSegmentation"),
    "change_detection": (CHANGE_TASK, EuroMineChangeDetectionPipeline, "AutoModel"),
    "multitemporal": (SERIES_TASK, EuroMineSeriesPipeline, "AutoModel"),
}


def custom_pipelines(task: str, module: str) -> dict[str, dict[str, Any]]:
    """The ``config.custom_pipelines`` entry of a saved model (``module``: this file's name there)."""
    _, cls, auto = _PIPELINES[task]
    return {HUB_TASKS[task]: {"impl": f"{module}.{cls.__name__}", "pt": [auto], "tf": [], "type": "image"}}


if __name__ == "euromine_hf.pipelines":
    # the package's config and model types, so ``pipeline(task, model=folder)`` after this import alone
    # loads a saved model without transformers asking to run its remote code (by name: remote code)
    importlib.import_module("euromine_hf.models")
for _task, _cls, _auto in _PIPELINES.values():
    if _task not in PIPELINE_REGISTRY.supported_tasks:
        _auto_class = AutoModelForSemanticSegmentation if _auto == "AutoModelForSemanticSegmentation" else AutoModel
        PIPELINE_REGISTRY.register_pipeline(_task, pipeline_class=_cls, pt_model=_auto_class, type="image")
