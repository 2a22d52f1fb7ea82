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

__all__ = ["Job", "PredictionTask"]


class Job(NamedTuple):
    """One output map: its input images (one per date, windows cut at the same place in each), their
    years (``None`` where a file name states none), the map's path and its probability's path."""

    images: list[Path]
    years: list[int | None]
    map: Path
    probability: Path


@dataclass(frozen=True)
class PredictionTask:
    """How ``predict`` runs one kind of model (the config's ``task``).

    ``call(model, windows)`` returns the logits ``(n, 2, 160, 160)`` of per-date window batches
    (normalised tensors, ``dates`` of them); class 1 is what the map shows (``kind``: its colour
    table, class names and GIS labels). ``scene_jobs(scene, pairs, base)`` are the maps of one scene
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
    call: Callable[[Any, list[torch.Tensor]], torch.Tensor]
    scene_jobs: Callable[[Scene, Sequence[tuple[int, int]] | str | None, Path], list[Job]]
    file_jobs: Callable[[Path, Path | None, Path], list[Job]]
    needed_years: Callable[[Iterable[int] | None, Sequence[tuple[int, int]] | str | None], Iterable[int] | None]

    @property
    def takes_t2(self) -> bool:
        """Whether a single GeoTIFF input needs a second, later image (``--t2``)."""
        return self.dates == 2
