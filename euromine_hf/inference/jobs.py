"""What a prediction task supplies, and the unit of work it plans: one output map.

Everything task-specific in ``euromine predict`` lives behind :class:`PredictionTask`: how the
model is called on a batch of windows, how many dates a map needs, what its classes are called,
and which maps an input scene (or a single file) yields. The shared code (window grid, blending,
GeoTIFF reading and writing, destination checks) never asks which task it runs, so a new kind of
model is one new module defining a task plus its line in :data:`euromine_hf.inference.tasks.TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

    from euromine_hf.inference.sources import Scene

__all__ = ["Job", "MapOut", "PredictionTask", "one_map"]


class MapOut(NamedTuple):
    """One map a pass over the windows writes: its path, its probability's path, its ``kind`` (colour
    table and class names: ``"mine"`` or ``"change"``) and the ``dates`` (positions in the job's
    images) whose data it reads, so it is nodata wherever any of those dates is empty."""

    map: Path
    probability: Path
    kind: str
    dates: tuple[int, ...]

    @property
    def side_car(self) -> Path:
        """The map's GDAL side-car (its class names), written with the map: a destination like it."""
        from euromine_hf.data.geotiff import class_table_path

        return class_table_path(self.map)


class Job(NamedTuple):
    """One pass over a scene's windows: its input images (one per date, windows cut at the same place
    in each), their years (``None`` where a file name states none) and the maps the pass writes, in
    the order of the task's map axis (a segmenter or detector: one; a series model: one per year,
    then one per pair of ``pairs``, year positions in ``images``)."""

    images: list[Path]
    years: list[int | None]
    outputs: tuple[MapOut, ...]
    pairs: tuple[tuple[int, int], ...] = ()


def one_map(images: list[Path], years: list[int | None], map: Path, probability: Path, kind: str) -> Job:
    """The job of a task that writes one map per pass, from every date's data."""
    return Job(images, years, (MapOut(map, probability, kind, tuple(range(len(images)))),))


@dataclass(frozen=True)
class PredictionTask:
    """How ``predict`` runs one kind of model (the config's ``task``).

    ``call(model, windows, years, pairs)`` returns the logits of per-date window batches (normalised
    tensors, ``dates`` of them; ``dates == 0``: a series of any length ≥ 2) for the job's ``years``
    and year-position ``pairs``: ``(n, 2, 160, 160)`` for one map, or ``(n, maps, 2, 160, 160)``, one
    per output of the job; class 1 is what a map shows (``kind``: the task's main colour table, class
    names and GIS labels). ``scene_jobs(scene, pairs, base)`` are the maps of one scene
    (a site or a folder of yearly images) written under ``base``; ``file_jobs(source, t2, out_dir)``
    the maps of a single GeoTIFF (``t2``: the later image, for tasks with two dates);
    ``needed_years(years, pairs)`` the years a scene must have for those maps.
    """

    name: str
    kind: str
    role: str
    dates: int
    inputs_needed: str
    takes_pairs: bool
    call: Callable[[Any, list[torch.Tensor], Sequence[int | None], Sequence[tuple[int, int]]], torch.Tensor]
    scene_jobs: Callable[[Scene, Sequence[tuple[int, int]] | str | None, Path], list[Job]]
    file_jobs: Callable[[Path, Path | None, Path], list[Job]]
    needed_years: Callable[[Iterable[int] | None, Sequence[tuple[int, int]] | str | None], Iterable[int] | None]

    @property
    def takes_t2(self) -> bool:
        """Whether a single GeoTIFF input needs a second, later image (``--t2``)."""
        return self.dates == 2
