"""``predict`` and its archive shorthands: plan every map, check every header, then write them.

Inputs need no labels: an archive in the raw layout, one site folder, a folder of ``Year{YYYY}.tif``
images, or a single GeoTIFF (any years). All headers are read before any pixel, so a bad file
late in an archive fails the run before hours of work; the output folders' markers
(:mod:`euromine_hf.predict_outputs`) record each map as it lands and the run's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from euromine_hf.inference.band_order import model_band_names, parse_band_order
from euromine_hf.inference.change_detection import CHANGE_DETECTION, default_year_pairs, parse_year_pairs
from euromine_hf.inference.forward import check_threshold
from euromine_hf.inference.geotiff_scene import write_job
from euromine_hf.inference.jobs import Job
from euromine_hf.inference.plan import plan
from euromine_hf.inference.reader import SceneReader
from euromine_hf.inference.tasks import task_of

if TYPE_CHECKING:
    import torch

__all__ = ["predict", "predict_archive", "predict_change_archive", "run_jobs"]


def run_jobs(model: Any, jobs: list[Job], *, save_probability: bool, batch_size: int, stride: int | None,
             threshold: float, model_name: str | None, progress: bool, band_order: Sequence[str] | None = None) -> list[Path]:
    """Write the maps of planned ``jobs`` (see :func:`~euromine_hf.inference.plan.plan`)."""
    from tqdm.auto import tqdm

    from euromine_hf.predict_outputs import OutputFolders

    model_bands = model_band_names(model)
    for job in jobs:  # every header checked before any pixel is read or any file written
        for path in job.images:
            SceneReader(path, model_bands, band_order).close()
    folders = OutputFolders(out.map.parent for job in jobs for out in job.outputs)
    folders.open()
    written: list[Path] = []
    try:
        for job in tqdm(jobs, desc="predict", unit="pass", disable=not progress):
            done = write_job(model, job, save_probability=save_probability, model_name=model_name, batch_size=batch_size,
                             stride=stride, threshold=threshold, band_order=band_order)
            # the maps' GIS side-cars are predict's files too: listed, so --overwrite may replace them
            side_cars = [out.side_car for out in job.outputs if out.side_car.is_file()]
            folders.record(done + side_cars)
            written += done
    except BaseException:
        folders.close(failed=True)
        raise
    folders.close(failed=False)
    return written


def predict(
    model: torch.nn.Module,
    source: str | Path,
    out_dir: str | Path,
    *,
    t2: str | Path | None = None,
    pairs: Sequence[tuple[int, int]] | str | None = None,
    years: Iterable[int] | None = None,
    sites: Iterable[str] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    save_probability: bool = False,
    model_name: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    band_order: Sequence[str] | None = None,
) -> list[Path]:
    """Maps of any input: an archive, a site folder, a folder of ``Year{YYYY}.tif`` images, or one
    GeoTIFF (for a change detector with ``t2``, the later image). A segmenter writes
    ``Year{YYYY}.tif`` per year, a detector ``Change{Y1}_{Y2}.tif`` per pair (default: consecutive
    years and first → last), a series model both from one pass over each scene's windows, under ``out_dir/{Site}/`` for sites and directly in ``out_dir``
    otherwise; with ``save_probability`` also ``Probability…``/``ChangeProbability…`` files.

    Before anything runs, outputs that are an input, lie in the input folder, or already exist are
    refused; ``overwrite`` replaces existing maps only where predict wrote them
    (:mod:`euromine_hf.predict_outputs`). ``band_order`` states the input files' band order
    (``--band-order``) instead of their band descriptions
    (:func:`~euromine_hf.inference.band_order.file_band_order`)."""
    threshold = check_threshold(threshold)
    if band_order is not None:
        band_order = parse_band_order(",".join(band_order))
    if isinstance(pairs, str):
        pairs = parse_year_pairs(pairs)  # "all" or "Y1:Y2,...", as on the command line
    loaded_from = Path(str(getattr(getattr(model, "config", None), "_name_or_path", "") or ""))
    jobs = plan(task_of(model), Path(source), Path(out_dir), t2=t2, pairs=pairs, years=years, sites=sites,
                split=split, split_scheme=split_scheme, seed=seed, save_probability=save_probability,
                overwrite=overwrite, model_name=model_name, model_folder=loaded_from if loaded_from.is_dir() else None)
    return run_jobs(model, jobs, save_probability=save_probability, batch_size=batch_size, stride=stride,
                    threshold=threshold, model_name=model_name, progress=progress, band_order=band_order)


def predict_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    sites: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    save_probability: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Yearly mine maps of every site (or one split) of an archive into ``out_dir``:
    ``{Site}/Year{YYYY}.tif`` and, with ``save_probability``, ``{Site}/Probability{YYYY}.tif``
    (see :func:`predict_geotiff`). ``years`` default: every year each site has. Labels are not read."""
    if task_of(model) is CHANGE_DETECTION:
        raise ValueError("predict_archive maps years with a segmenter; use predict_change_archive for a change detector")
    return predict(model, archive, out_dir, years=years, sites=sites, split=split, split_scheme=split_scheme, seed=seed,
                   batch_size=batch_size, stride=stride, save_probability=save_probability, progress=progress, overwrite=overwrite)


def predict_change_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    pairs: Sequence[tuple[int, int]] | str | None = None,
    sites: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    save_probability: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Change maps of year pairs of every site (or one split) of an archive:
    ``{Site}/Change{Y1}_{Y2}.tif`` (the layout ``euromine evaluate --task change`` reads) and, with
    ``save_probability``, ``ChangeProbability{Y1}_{Y2}.tif``. ``pairs`` default: consecutive years
    of ``years`` (default: the years each site has) and first → last."""
    if task_of(model) is not CHANGE_DETECTION:
        raise ValueError("predict_change_archive needs a change detector; use predict_archive for a segmenter")
    if pairs is None and years is not None:
        pairs = default_year_pairs(years)
    return predict(model, archive, out_dir, pairs=pairs, years=years, sites=sites, split=split, split_scheme=split_scheme,
                   seed=seed, batch_size=batch_size, stride=stride, save_probability=save_probability, progress=progress,
                   overwrite=overwrite)
