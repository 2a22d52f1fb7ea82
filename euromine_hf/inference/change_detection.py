"""The change-detection task of ``predict``: a change detector maps pairs of years to change maps.

Maps are named as ``euromine evaluate --task change`` reads them (``Change{Y1}_{Y2}.tif``); the
pairs default to consecutive years and first → last, ``"all"`` asks for every pair (the 45 of a
leaderboard submission when all ten years are there).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from euromine_hf.inference.jobs import Job, PredictionTask, one_map
from euromine_hf.inference.sources import Scene, year_of

__all__ = ["CHANGE_DETECTION", "ALL_PAIRS", "default_year_pairs", "all_year_pairs", "parse_year_pairs", "scene_year_pairs"]

#: ``pairs=ALL_PAIRS`` (``--pairs all``): every pair of the years each scene has, the 45 pairs the
#: change-detection task scores when all ten years are there (what a leaderboard submission needs).
ALL_PAIRS = "all"


def default_year_pairs(years: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive years, then first → last (when that is not already consecutive)."""
    years = sorted({int(y) for y in years})
    pairs = list(zip(years, years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    return pairs


def all_year_pairs(years: Iterable[int]) -> list[tuple[int, int]]:
    """Every pair ``(y1, y2)``, ``y1 < y2``, of ``years``, in order."""
    return list(itertools.combinations(sorted({int(y) for y in years}), 2))


def parse_year_pairs(text: str) -> list[tuple[int, int]] | str:
    """``"2016:2017,2015:2024"`` → ``[(2016, 2017), (2015, 2024)]`` (each pair earlier:later);
    ``"all"`` → :data:`ALL_PAIRS` (every pair of the years found)."""
    if text.strip().lower() == ALL_PAIRS:
        return ALL_PAIRS
    pairs: list[tuple[int, int]] = []
    for item in (t.strip() for t in text.split(",")):
        parts = item.split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--pairs: expected items 'Y1:Y2' such as 2016:2017, got {item!r}")
        y1, y2 = int(parts[0]), int(parts[1])
        if y1 >= y2:
            raise ValueError(f"--pairs: expected the earlier year first, got {item!r}")
        if (y1, y2) not in pairs:
            pairs.append((y1, y2))
    if not pairs:
        raise ValueError("--pairs: expected at least one pair Y1:Y2")
    return pairs


def _call(model: Any, windows: list[Any], years: Sequence[int | None], pairs: Sequence[tuple[int, int]]) -> Any:
    return model(pixel_values_t1=windows[0], pixel_values_t2=windows[1]).logits


def scene_year_pairs(scene: Scene, pairs: Sequence[tuple[int, int]] | str | None) -> list[tuple[int, int]]:
    """The pairs ``--pairs`` asks of one scene (default: consecutive years and first → last; ``all``:
    every pair), each year checked to be there."""
    from euromine_hf.data.archive import ArchiveError

    if pairs is None:
        scene_pairs = default_year_pairs(scene.images)
    elif pairs == ALL_PAIRS:
        scene_pairs = all_year_pairs(scene.images)
    else:
        scene_pairs = list(pairs)
    if not scene_pairs:
        raise ArchiveError(scene.folder, "years", "at least two Year{YYYY}.tif images for change maps", f"years {sorted(scene.images)}")
    for y1, y2 in scene_pairs:
        for year in (y1, y2):
            if year not in scene.images:
                raise ArchiveError(scene.folder, f"image for year {year}", f"Year{year}.tif (--pairs {y1}:{y2})", "no such file")
    return scene_pairs


def _scene_jobs(scene: Scene, pairs: Sequence[tuple[int, int]] | str | None, base: Path) -> list[Job]:
    return [one_map([scene.images[y1], scene.images[y2]], [y1, y2], base / f"Change{y1}_{y2}.tif",
                    base / f"ChangeProbability{y1}_{y2}.tif", "change") for y1, y2 in scene_year_pairs(scene, pairs)]


def _file_jobs(source: Path, t2: Path | None, out_dir: Path) -> list[Job]:
    from euromine_hf.data.archive import ArchiveError

    if t2 is None:
        raise ValueError(f"{source}: a change detector compares two dates; give the later image with --t2 OTHER.tif "
                         "(same grid), or a folder of Year{YYYY}.tif images")
    t2 = Path(t2)
    if not t2.is_file():
        raise ArchiveError(t2, "--t2", "a GeoTIFF (the later image)", "no such file")
    y1, y2 = year_of(source), year_of(t2)
    name = f"{y1}_{y2}" if y1 is not None and y2 is not None else f"{source.stem}_{t2.stem}"
    return [one_map([source, t2], [y1, y2], out_dir / f"Change{name}.tif", out_dir / f"ChangeProbability{name}.tif", "change")]


def _needed_years(years: Iterable[int] | None, pairs: Sequence[tuple[int, int]] | str | None) -> Iterable[int] | None:
    """The years of explicit pairs must be found too (``all`` and the default take what is there)."""
    if pairs is not None and pairs != ALL_PAIRS:
        return sorted({y for pair in pairs for y in pair} | set(years or []))
    return years


CHANGE_DETECTION = PredictionTask(
    name="change_detection", kind="change", role="change detector", dates=2,
    inputs_needed="a change detector needs two images (t1, t2)", takes_pairs=True,
    call=_call, scene_jobs=_scene_jobs, file_jobs=_file_jobs, needed_years=_needed_years,
)
