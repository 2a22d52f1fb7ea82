"""Whole-scene prediction: a trained segmenter, change detector or series model → map GeoTIFFs an analyst can open.

One streaming core (:func:`~euromine_hf.inference.windows.blend`) serves every task: 160×160
windows on the published grid (edge-aligned last row/column, wrap padding for scenes under 160 px),
or on a denser grid with ``stride < 160``; the probability of overlapping windows is averaged
before thresholding, so seams do not show. Windows are taken in row-major order and only the rows
the next batch needs are held, so memory depends on the scene's width and the batch size, never on
its height. torch and rasterio are imported inside functions so ``euromine predict --help`` is fast.

The modules, each one concern (none imports this package's ``__init__``):

- ``windows``: the window grid and the overlap-averaged blend (numpy only);
- ``band_order``: which band is which in an input file, and the channels a model takes;
- ``jobs``: :class:`PredictionTask`, what a task supplies, and :class:`Job`, one pass over a
  scene's windows and the maps (:class:`MapOut`) it writes;
- ``segmentation``, ``change_detection``, ``multitemporal``: the three tasks (model call, maps per
  scene or file, year pairs); ``tasks``: the one dispatch from a model's ``config.task`` to its task;
- ``forward``: normalised windows → class-1 probability; ``scene``: arrays in memory;
- ``sources``: finding scenes (archive, site folder, folder of ``Year{YYYY}.tif``, one GeoTIFF);
- ``reader``: one input GeoTIFF read as strips; ``geotiff_out``: COG maps, probabilities and
  side-cars; ``geotiff_scene``: one scene's files in, its maps out;
- ``plan``: inputs → checked list of maps; ``driver``: ``predict`` and the archive shorthands;
- ``cli``: the ``euromine predict`` sub-command.

This module re-exports the public API, so ``from euromine_hf.inference import predict_scene``
works as it always has.
"""

from __future__ import annotations

from euromine_hf.inference.band_order import (
    ORDER_FROM_DESCRIPTIONS,
    ORDER_PUBLISHED,
    ORDER_STATED,
    S2_BAND_NAMES,
    file_band_order,
    parse_band_order,
    raster_band_names,
    select_bands,
)
from euromine_hf.inference.change_detection import ALL_PAIRS, all_year_pairs, default_year_pairs, parse_year_pairs
from euromine_hf.inference.cli import add_parser
from euromine_hf.inference.driver import predict, predict_archive, predict_change_archive
from euromine_hf.inference.forward import check_threshold
from euromine_hf.inference.geotiff_out import MAP_NODATA, PROBABILITY_NODATA
from euromine_hf.inference.geotiff_scene import predict_geotiff, write_job
from euromine_hf.inference.jobs import Job, MapOut, PredictionTask
from euromine_hf.inference.scene import predict_change_scene, predict_scene, predict_series_scene
from euromine_hf.inference.sources import Scene, find_scenes
from euromine_hf.inference.tasks import TASKS
from euromine_hf.inference.windows import window_offsets

__all__ = [
    "select_bands", "window_offsets", "predict_scene", "predict_archive", "add_parser",
    "predict_change_scene", "predict_change_archive", "default_year_pairs", "parse_year_pairs",
    "predict_geotiff", "predict", "find_scenes", "raster_band_names", "Scene",
    "MAP_NODATA", "PROBABILITY_NODATA", "file_band_order", "parse_band_order", "check_threshold", "S2_BAND_NAMES",
    "ALL_PAIRS", "all_year_pairs", "ORDER_FROM_DESCRIPTIONS", "ORDER_PUBLISHED", "ORDER_STATED",
    "predict_series_scene", "Job", "MapOut", "PredictionTask", "TASKS", "write_job",
]
