"""From an input and an output folder to the list of maps to write, checked before anything runs.

Planning needs the model's task, not its weights, so the command line refuses a bad input or a bad
destination (an input as output, the input folder, maps it did not write) before loading a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from euromine_hf.inference.jobs import Job, PredictionTask
from euromine_hf.inference.sources import find_scenes

__all__ = ["plan"]


def plan(task: PredictionTask, source: Path, out_dir: Path, *, t2: str | Path | None,
         pairs: Sequence[tuple[int, int]] | str | None, years: Iterable[int] | None, sites: Iterable[str] | None,
         split: str | None, split_scheme: str, seed: int, save_probability: bool, overwrite: bool,
         model_name: str | None, model_folder: Path | None = None) -> list[Job]:
    """The jobs of :func:`~euromine_hf.inference.driver.predict` (the task's maps of each scene, or
    of the single GeoTIFF ``source``), once their outputs passed
    :func:`~euromine_hf.predict_outputs.check_destination` (``model_folder``, the folder the model is
    read from, is an input too: maps written there would be pushed with the model)."""
    from euromine_hf.predict_outputs import check_destination

    if t2 is not None and not task.takes_t2:
        raise ValueError(f"--t2: {model_name or 'the model'} is a {task.role}, not a change detector; --t2 needs a change detector")
    if source.is_file():
        if sites is not None or split is not None or years is not None or pairs is not None:
            raise ValueError(f"{source}: a single GeoTIFF takes no --sites/--split/--years/--pairs (those select from folders)")
        jobs = task.file_jobs(source, None if t2 is None else Path(t2), out_dir)
    else:
        if t2 is not None:
            raise ValueError(f"--t2: {source} is a folder; --t2 goes with a single GeoTIFF (use --pairs for folders)")
        scenes = find_scenes(source, years=task.needed_years(years, pairs), sites=sites, split=split,
                             split_scheme=split_scheme, seed=seed)
        jobs = [job for scene in scenes for job in task.scene_jobs(scene, pairs, out_dir / scene.name if scene.name else out_dir)]
    maps = [out for job in jobs for out in job.outputs]
    outputs = [out.map for out in maps] + [out.side_car for out in maps]
    outputs += [out.probability for out in maps] if save_probability else []
    inputs = [path for job in jobs for path in job.images]
    folders = ([] if source.is_file() else [source]) + ([model_folder] if model_folder is not None else [])
    check_destination(inputs, folders, out_dir, outputs, overwrite)
    if not save_probability:
        for out in maps:
            if out.map.exists() and (out.probability.exists() or out.probability.is_symlink()):
                raise FileExistsError(
                    f"{out.probability}: kept, but it would no longer match {out.map.name}, which this run replaces; "
                    "pass --probabilities to replace both, or remove it"
                )
    return jobs
