"""One scene's GeoTIFFs in (one per date), its map GeoTIFFs out: readers, blend and writers joined.

The inputs are read as strips and each finished strip is written at once, so memory depends on the
scene's width and the batch size, never on its height. The dates must share one grid; the map keeps
their CRS and transform and is nodata wherever any date has no data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from euromine_hf.bands import PATCH_SIZE
from euromine_hf.inference.band_order import model_band_names
from euromine_hf.inference.forward import check_threshold, eval_mode, forward_fn
from euromine_hf.inference.geotiff_out import MapOutputs
from euromine_hf.inference.jobs import Job, one_map
from euromine_hf.inference.normalisation import model_normalisation
from euromine_hf.inference.reader import SceneReader, check_one_grid
from euromine_hf.inference.tasks import task_of
from euromine_hf.inference.windows import blend

if TYPE_CHECKING:
    import torch

__all__ = ["predict_geotiff", "write_job"]


def _package_version() -> str:
    from euromine_hf import __version__

    return str(__version__)


def _refuse_inputs_as_outputs(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """An output that is (or resolves to) one of its own inputs would replace the image being read."""
    from euromine_hf.predict_outputs import PredictDestinationError

    real = {Path(p).resolve(): Path(p) for p in inputs}
    for out in outputs:
        if Path(out).resolve() in real:
            raise PredictDestinationError(f"{out}: output: expected a new file, found the input {real[Path(out).resolve()]} (not replaced)")


def predict_geotiff(
    model: torch.nn.Module,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    probability_out: str | Path | None = None,
    years: Sequence[int | None] | None = None,
    model_name: str | None = None,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    band_order: Sequence[str] | None = None,
) -> list[Path]:
    """Map one scene file (a segmenter: one image; a change detector: the t1 and t2 images) to a
    Cloud-Optimised GeoTIFF ``out``, streaming strips of rows so memory does not grow with height.

    ``out``: uint8 0 background / 1 mine (or change) / 255 nodata (input zero or nodata in every
    band, on either date), colour table, band description, tags (model, model_type, years, bands,
    euromine-hf version, and ``band_order`` / ``band_order_source``: the input's bands as read and
    whether its descriptions, the published order or ``band_order`` (``--band-order``) decided).
    ``probability_out``: uint8 0–100 (percent), 255 nodata. Both are written atomically: on any
    error neither file appears. A series model writes several maps per pass: :func:`write_job`.
    """
    paths = [Path(p) for p in images]
    task = task_of(model)
    if task.dates != len(paths):
        raise ValueError(f"{task.inputs_needed}; got {len(paths)}" if task.dates else
                         f"{task.inputs_needed}: it writes a map per year and pair (use predict or write_job)")
    job = one_map(paths, list(years) if years is not None else [None] * len(paths), Path(out),
                  Path(probability_out) if probability_out is not None else Path(out), task.kind)
    return write_job(model, job, save_probability=probability_out is not None, model_name=model_name,
                     batch_size=batch_size, stride=stride, threshold=threshold, band_order=band_order)


def write_job(
    model: torch.nn.Module,
    job: Job,
    *,
    save_probability: bool = False,
    model_name: str | None = None,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    band_order: Sequence[str] | None = None,
) -> list[Path]:
    """Every map of one :class:`~euromine_hf.inference.jobs.Job` from one pass over its windows:
    each date's strips are read once for all maps, and each map is nodata where any date it reads
    is empty (see :func:`predict_geotiff` for the files). Inputs are normalised with the statistics of
    the model folder's image processor, else the published ones (:mod:`.normalisation`), as the
    pipelines normalise them. All or nothing: on any error no map appears."""
    paths = [Path(p) for p in job.images]
    task = task_of(model)
    if (len(paths) != task.dates) if task.dates else len(paths) < 2:
        raise ValueError(f"{task.inputs_needed}; got {len(paths)}")
    model_bands = model_band_names(model)
    statistics = model_normalisation(model, model_bands)  # the folder's image processor, as the pipelines
    threshold = check_threshold(threshold)
    outputs = [o.map for o in job.outputs] + ([o.probability for o in job.outputs] if save_probability else [])
    _refuse_inputs_as_outputs(paths, outputs)
    readers: list[SceneReader] = []
    with contextlib.ExitStack() as stack:
        for path in paths:
            readers.append(SceneReader(path, model_bands, band_order))
            stack.callback(readers[-1].close)
        check_one_grid(readers)
        first = readers[0]
        maps = []
        for out in job.outputs:
            dates = [paths[d] for d in out.dates]
            tags = {
                "model": model_name or str(getattr(model, "name_or_path", "") or type(model).__name__),
                "model_type": str(getattr(model.config, "model_type", "")),
                "task": task.name,
                "years": ",".join(str(job.years[d]) for d in out.dates if job.years[d] is not None),
                "bands": ",".join(model_bands),
                "inputs": ";".join(p.name for p in dates),
                "band_order": ";".join(",".join(readers[d].band_names) for d in out.dates),
                "band_order_source": ";".join(readers[d].order_source for d in out.dates),
                "threshold": str(threshold),
                "stride": str(stride or PATCH_SIZE),
                "euromine_hf_version": _package_version(),
                "software": f"euromine-hf {_package_version()}",
            }
            if len(out.dates) < len(paths):  # a series model: the map read every year of the window
                tags["series_years"] = ",".join(str(y) for y in job.years if y is not None)
            maps.append(MapOutputs(stack, out.map, out.probability if save_probability else None, kind=out.kind,
                                   height=first.height, width=first.width, crs=first.crs, transform=first.transform,
                                   tags=tags, threshold=threshold))

        def emit(r0: int, r1: int, probability: np.ndarray) -> None:
            valid = [reader.valid(r0, r1) for reader in readers]  # each reader's rows once, for every map
            for out, writer, p in zip(job.outputs, maps, probability):
                writer.write(r0, r1, p, np.logical_and.reduce([valid[d] for d in out.dates]))

        with eval_mode(model):
            blend(forward_fn(model, statistics.mean, statistics.std, job.years, job.pairs),
                  lambda r: [reader.window_rows(r) for reader in readers],
                  first.height, first.width, emit, stride=stride, batch_size=batch_size)
        for writer in maps:
            writer.finish()
    return [target for writer in maps for target in writer.targets]
