"""The multitemporal task of ``predict``: a series model maps a scene's years in one pass.

A series model (``utae-series``) reads every present year of a window together, so one pass over a
scene's windows gives a mine map per year *and* the change maps of the requested year pairs. They
are written under the names segmenters and detectors use (``Year{YYYY}.tif``,
``Change{Y1}_{Y2}.tif``), so ``euromine evaluate`` and leaderboard submissions read them for both
tasks unchanged. Gaps are allowed: the years found are the series (the model gets their years),
a missing year is simply not in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from euromine_hf.inference.change_detection import ALL_PAIRS, scene_year_pairs
from euromine_hf.inference.jobs import Job, MapOut, PredictionTask
from euromine_hf.inference.sources import Scene

__all__ = ["MULTITEMPORAL"]


def _call(model: Any, windows: list[Any], years: Sequence[int | None], pairs: Sequence[tuple[int, int]]) -> Any:
    """Yearly logits then pair logits, ``(n, T + P, 2, 160, 160)``: every year of a window at once."""
    import torch

    series = torch.stack(windows, dim=1)  # (n, T, bands, 160, 160)
    if any(year is None for year in years):
        raise ValueError(f"a series model needs the year of every image; got {list(years)}")
    year_tensor = torch.tensor([list(years)], dtype=torch.long, device=series.device).expand(len(series), -1)
    pair_tensor = torch.tensor(list(pairs), dtype=torch.long, device=series.device).reshape(-1, 2)
    output = model(pixel_values=series, years=year_tensor, pairs=pair_tensor)
    return torch.cat([output.logits, output.change_logits], dim=1)


def _scene_jobs(scene: Scene, pairs: Sequence[tuple[int, int]] | str | None, base: Path) -> list[Job]:
    """One pass per scene: ``Year{YYYY}.tif`` for every year found, then ``Change{Y1}_{Y2}.tif`` for
    the pairs asked (as a detector's: consecutive years and first → last by default)."""
    from euromine_hf.data.archive import ArchiveError

    years = sorted(scene.images)
    if len(years) < 2:
        raise ArchiveError(scene.folder, "years", "at least two Year{YYYY}.tif images for a series model", f"years {years}")
    position = {year: i for i, year in enumerate(years)}
    year_pairs = scene_year_pairs(scene, pairs)
    outputs = [MapOut(base / f"Year{y}.tif", base / f"Probability{y}.tif", "mine", (i,)) for i, y in enumerate(years)]
    outputs += [MapOut(base / f"Change{y1}_{y2}.tif", base / f"ChangeProbability{y1}_{y2}.tif", "change",
                       (position[y1], position[y2])) for y1, y2 in year_pairs]
    return [Job([scene.images[y] for y in years], list(years), tuple(outputs),
                tuple((position[y1], position[y2]) for y1, y2 in year_pairs))]


def _needed_years(years: Iterable[int] | None, pairs: Sequence[tuple[int, int]] | str | None) -> Iterable[int] | None:
    """Every year found is the series (``--years``: those, with the years of explicit pairs); the
    pairs' years are checked per scene when its job is planned."""
    if years is None:
        return None
    return sorted(set(years) | ({y for pair in pairs for y in pair} if pairs is not None and pairs != ALL_PAIRS else set()))


def _file_jobs(source: Path, t2: Path | None, out_dir: Path) -> list[Job]:
    raise ValueError(f"{source}: a series model maps a folder of Year{{YYYY}}.tif images (at least two years), "
                     "a site folder or an archive, not one file")


MULTITEMPORAL = PredictionTask(
    name="multitemporal", kind="mine", role="series model", dates=0,
    inputs_needed="a series model reads a folder of Year{YYYY}.tif images (at least two years)", takes_pairs=True,
    call=_call, scene_jobs=_scene_jobs, file_jobs=_file_jobs, needed_years=_needed_years,
)
