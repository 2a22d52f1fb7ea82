"""The segmentation task of ``predict``: a segmenter maps each year's image to a mine map.

Maps are named as the prediction-folder layout ``euromine evaluate`` reads (``Year{YYYY}.tif``);
a single file whose name states no year is mapped to ``{stem}_mine.tif``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from euromine_hf.inference.jobs import Job, PredictionTask, one_map
from euromine_hf.inference.sources import YEAR_TIF, Scene, year_of

__all__ = ["SEGMENTATION"]


def _call(model: Any, windows: list[Any], years: Sequence[int | None], pairs: Sequence[tuple[int, int]]) -> Any:
    return model(pixel_values=windows[0]).logits


def _scene_jobs(scene: Scene, pairs: Sequence[tuple[int, int]] | str | None, base: Path) -> list[Job]:
    """One map per year the scene has (``pairs`` do not apply to yearly maps)."""
    return [one_map([path], [year], base / f"Year{year}.tif", base / f"Probability{year}.tif", "mine")
            for year, path in sorted(scene.images.items())]


def _file_jobs(source: Path, t2: Path | None, out_dir: Path) -> list[Job]:
    year = year_of(source)
    stem = f"Year{year}" if year is not None and YEAR_TIF.match(source.name) else f"{source.stem}_mine"
    prob = f"Probability{year}" if stem.startswith("Year") else f"{source.stem}_probability"
    return [one_map([source], [year], out_dir / f"{stem}.tif", out_dir / f"{prob}.tif", "mine")]


def _needed_years(years: Iterable[int] | None, pairs: Sequence[tuple[int, int]] | str | None) -> Iterable[int] | None:
    return years


SEGMENTATION = PredictionTask(
    name="segmentation", kind="mine", role="segmenter", dates=1, inputs_needed="a segmenter maps one image",
    takes_pairs=False, call=_call, scene_jobs=_scene_jobs, file_jobs=_file_jobs, needed_years=_needed_years,
)
