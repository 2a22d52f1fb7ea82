"""A prediction task is the only task-specific part of ``predict``: a new one runs end to end.

The multitemporal model to come (a folder of yearly images → maps of a year series) must be one new
module plus its line in ``TASKS``. Here a three-date task defined in the test alone, registered in
``TASKS``, goes through planning, header checks, windows, blending and the COG writer unchanged.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from euromine_hf.bands import MEAN, STD
from euromine_hf.inference import Job, PredictionTask, predict
from euromine_hf.inference.jobs import one_map
from euromine_hf.inference import tasks as task_registry
from euromine_hf.inference.segmentation import SEGMENTATION


class MeanOfDatesModel(torch.nn.Module):
    """1×1 convolution of the three dates' mean: a pixel's output does not depend on its window."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(task="test-three-dates", band_names=None, model_type="euromine-test-three-dates")
        torch.manual_seed(0)
        self.head = torch.nn.Conv2d(10, 2, 1)

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.head(pixel_values))


def _scene_jobs(scene, pairs, base: Path) -> list[Job]:
    years = sorted(scene.images)
    return [one_map([scene.images[y] for y in years[i : i + 3]], years[i : i + 3], base / f"Mean{years[i]}_{years[i + 2]}.tif",
                    base / f"MeanProbability{years[i]}_{years[i + 2]}.tif", "mine") for i in range(len(years) - 2)]


def _file_jobs(source: Path, t2, out_dir: Path) -> list[Job]:
    raise ValueError(f"{source}: three dates need a folder")


THREE_DATES = PredictionTask(
    name="test-three-dates", kind="mine", role="series model", dates=3, inputs_needed="three images", takes_pairs=False,
    call=lambda model, windows, years, pairs: model(pixel_values=(windows[0] + windows[1] + windows[2]) / 3).logits,
    scene_jobs=_scene_jobs, file_jobs=_file_jobs, needed_years=SEGMENTATION.needed_years,
)


def test_a_task_registered_in_tasks_runs_through_predict(tmp_path, monkeypatch):
    monkeypatch.setitem(task_registry.TASKS, THREE_DATES.name, THREE_DATES)
    rng = np.random.default_rng(0)
    images = {year: rng.integers(200, 4000, size=(10, 200, 170), dtype=np.uint16) for year in (2015, 2016, 2017, 2018)}
    folder = tmp_path / "scene"
    folder.mkdir()
    for year, data in images.items():
        with rasterio.open(folder / f"Year{year}.tif", "w", driver="GTiff", height=200, width=170, count=10, dtype="uint16",
                           crs="EPSG:32633", transform=from_origin(500000.0, 5600000.0, 10.0, 10.0)) as dst:
            dst.write(data)
    model = MeanOfDatesModel().eval()

    written = predict(model, folder, tmp_path / "out", save_probability=True, progress=False)

    assert sorted(p.name for p in written) == ["Mean2015_2017.tif", "Mean2016_2018.tif",
                                               "MeanProbability2015_2017.tif", "MeanProbability2016_2018.tif"]
    for first in (2015, 2016):
        normalised = [(images[y].astype(np.float32) - MEAN[:, None, None]) / STD[:, None, None] for y in (first, first + 1, first + 2)]
        with torch.no_grad():
            logits = model.head(torch.from_numpy(sum(normalised) / 3)[None])
        expected = (torch.softmax(logits, dim=1)[0, 1].numpy() > 0.5).astype(np.uint8)
        with rasterio.open(tmp_path / "out" / f"Mean{first}_{first + 2}.tif") as src:
            assert src.tags()["task"] == "test-three-dates"
            assert src.tags()["years"] == f"{first},{first + 1},{first + 2}"
            np.testing.assert_array_equal(src.read(1), expected)
