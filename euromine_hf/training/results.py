"""What a run returns and the small helpers every training module shares (a leaf: imports no other
``euromine_hf.training`` module, so the run function, the tasks and the reports can all use it).

``RunResult`` is what :func:`euromine_hf.training.run.run_training` hands back; ``json_ready`` /
``write_json_atomic`` write the JSON reports; ``resolve_data_dir`` picks the archive a run reads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: The file whose presence means a run's reports are complete (written last, atomically).
ALL_RESULTS = Path("results") / "all_results.json"


@dataclass
class RunResult:
    """What a run produced: test metrics of the model and the baseline, and where things are."""

    output_dir: Path
    model_dir: Path
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, float] | None = None
    baseline: Any = None
    post_classification_metrics: dict[str, float] | None = None  # change read off the test maps (Table 6)
    change_metrics: dict[str, float] | None = None  # a series model's change maps of every pair (Table 5)
    train_metrics: dict[str, float] = field(default_factory=dict)
    written: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    task: str = "segmentation"
    summary: str = ""  # what the console shows at the end (the task's summary), filled by the run function


def resolve_data_dir(data_args: Any) -> tuple[Path, str]:
    """The archive to train on and whether it is the synthetic default (for the model card)."""
    if data_args.data_dir is not None:
        path = Path(data_args.data_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"--data_dir {path}: no such directory (expected a EuroMineNet archive)")
        return path, "archive" if not (path / "synthetic.json").is_file() else "synthetic"
    from euromine_hf.data.synthetic import default_archive

    path = Path(default_archive())
    # said on the console, not only in the card: scores on this archive are not EuroMineNet results
    logger.info("no --data_dir: training on the embedded synthetic archive at %s (synthetic data, not "
                "EuroMineNet; pass --data_dir for a real archive)", path)
    return path, "synthetic"


def dataset_name(data_dir: Path, data_source: str) -> str:
    """What a card's model-index names as the training data: the synthetic default by its name, any
    other archive (real, or synthetic made with other options) by its path."""
    from euromine_hf.data.synthetic import is_default_archive

    return "euromine-synthetic-default" if data_source == "synthetic" and is_default_archive(data_dir) else str(data_dir)


def data_description(data_dir: Path, data_source: str) -> str:
    """The data a report's tables were scored on, in words."""
    if data_source != "synthetic":
        return str(data_dir)
    name = dataset_name(data_dir, data_source)
    return "the synthetic default (no real imagery)" if name != str(data_dir) else f"the synthetic archive {data_dir} (no real imagery)"


def json_ready(obj: Any) -> Any:
    """``obj`` with numpy scalars, tuples and paths turned into what ``json.dumps`` writes."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: Path, payload: Any) -> Path:
    from euromine_hf.io import atomic_write_text

    return atomic_write_text(path, json.dumps(json_ready(payload), indent=1))
