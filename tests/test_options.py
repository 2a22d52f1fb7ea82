"""Every option is checked at parse time (issue 18, item 12, and the ``--device`` part of item 11):
exit 2, one line naming the option and what was expected, nothing read or written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from euromine_hf.cli import main

from _data_fixtures import small_archive  # noqa: F401  (session fixture)

REPO = Path(__file__).resolve().parents[1]


def _parse_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


CASES = [
    (["build", "ARCHIVE", "OUT", "--intervals", "0", "-3"], "euromine build", "--intervals", "1..9"),
    (["export", "ARCHIVE", "OUT", "--intervals", "0"], "euromine export", "--intervals", "1..9"),
    (["export", "ARCHIVE", "OUT", "--num-proc", "0"], "euromine export", "--num-proc", ">= 1"),
    (["build", "ARCHIVE", "OUT", "--num-proc", "-2"], "euromine build", "--num-proc", ">= 1"),
    (["build", "ARCHIVE", "OUT", "--seed", "-1"], "euromine build", "--seed", "0..4294967295"),
    (["evaluate", "ARCHIVE", "OUT", "--maps", "-1"], "euromine evaluate", "--maps", ">= 0"),
    (["synth", "OUT", "--sites", "0"], "euromine synth", "--sites", ">= 1"),
    (["synth", "OUT", "--max-size", "-5"], "euromine synth", "--max-size", ">= 1"),
    (["stats", "ARCHIVE", "--out", "OUT", "--seed", "x"], "euromine stats", "--seed", "got 'x'"),
    (["predict", "MODEL", "ARCHIVE", "OUT", "--batch-size", "0"], "euromine predict", "--batch-size", ">= 1"),
    (["predict", "MODEL", "ARCHIVE", "OUT", "--stride", "161"], "euromine predict", "--stride", "1..160"),
    (["predict", "MODEL", "ARCHIVE", "OUT", "--device", "foo"], "euromine predict", "--device", "got 'foo'"),
    (["predict", "MODEL", "ARCHIVE", "OUT", "--device", "cuda:7"], "euromine predict", "--device", "not available"),
    (["leaderboard", "submit", "SUB", "--archive", "ARCHIVE", "--seed", "-1"], "euromine leaderboard submit", "--seed", "0..4294967295"),
]


@pytest.mark.parametrize("argv, prog, option, expected", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_option_values_fail_at_parse_time(tmp_path, capsys, argv, prog, option, expected):
    if "cuda:7" in argv:
        import torch

        if torch.cuda.device_count() > 7:
            pytest.skip("this machine has a cuda:7")
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else str(tmp_path / a) if a in ("ARCHIVE", "MODEL", "SUB") else a for a in argv]
    line = _parse_error(capsys, argv)
    assert line.startswith(f"{prog}: error: argument {option}: expected"), line
    assert expected in line, line
    assert not out.exists()  # refused before anything was created


def test_device_check_names_what_exists():
    from euromine_hf.devices import check_device

    assert check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match=r"--device: expected a torch device .* got 'cuda:x'"):
        check_device("cuda:x")
    with pytest.raises(ValueError, match=r"--device: expected a device this machine has \(cpu.*got 'cuda:99': not available"):
        check_device("cuda:99")


def test_build_subprocess_bad_intervals_one_line_no_traceback(small_archive, tmp_path):  # noqa: F811
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-m", "euromine_hf.cli", "build", str(small_archive), str(cache), "--intervals", "0", "-3"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "euromine build: error: argument --intervals: expected an integer in 1..9, got '0'"
    ]
    assert not cache.exists()


def test_builder_checks_config_values_passed_through_datasets(small_archive, tmp_path):  # noqa: F811
    """datasets sets the caller's values with setattr (no __post_init__): the builder checks them itself,
    so ``intervals=(0, -3)`` is an error naming the field, and no cache is left marked complete."""
    import datasets

    from euromine_hf.data.builder import load_euromine

    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"EuroMineNetConfig\.intervals: expected values in 1\.\.9, got \[-3, 0\]"):
        load_euromine(small_archive, "cd_pairs", cache_dir=cache, intervals=(0, -3))
    with pytest.raises(ValueError, match=r"EuroMineNetConfig\.intervals: .*\[2015, 2016\], got \[3\] \(no year pair"):
        load_euromine(small_archive, "cd_pairs", cache_dir=cache, years=(2015, 2016), intervals=(3,))
    assert not list(cache.rglob(datasets.config.DATASET_INFO_FILENAME))
    assert not list(cache.rglob("*.lock"))


def test_a_build_that_selects_no_rows_is_an_error_and_not_cached(small_archive, tmp_path, monkeypatch):  # noqa: F811
    import datasets

    from euromine_hf.data.builder import EuroMineNet, load_euromine

    monkeypatch.setattr(EuroMineNet, "_generate_examples", lambda self, sites: iter(()))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"config 'mapping' .*expected at least one row, the selection has none"):
        load_euromine(small_archive, "mapping", cache_dir=cache)
    assert not list(cache.rglob(datasets.config.DATASET_INFO_FILENAME))  # the next run builds, not serves 0 rows


def test_training_refuses_num_channels_other_than_the_data_bands():
    from euromine_hf.training.arguments import DataArguments, ModelArguments, check_task_arguments

    model_args = ModelArguments(model="unet", size="tiny", config_overrides="num_channels=3")
    with pytest.raises(ValueError, match=r"^--config_overrides num_channels: expected 10 .* got 3"):
        check_task_arguments(model_args, DataArguments())


@pytest.mark.parametrize("field, value, expected", [
    ("num_qualitative", -1, "--num_qualitative must be a count >= 0; got -1"),
    ("metric_protocol", "pixel", "--metric_protocol must be one of"),
    ("baseline_index", "ndxi", "--baseline_index must be 'auto' or one of"),
])
def test_train_run_options_are_checked_when_parsed(field, value, expected):
    from euromine_hf.training.arguments import RunArguments

    with pytest.raises(ValueError, match=re.escape(expected)):
        RunArguments(**{field: value})
    RunArguments()  # the defaults pass


def test_pairs_per_series_above_the_pairs_a_series_has_is_refused():
    """k larger than the pairs of --years/--intervals trained on every pair while the run recorded k."""
    from euromine_hf.training.arguments import DataArguments

    assert DataArguments(pairs_per_series=45).pairs_per_series == 45
    with pytest.raises(ValueError, match=re.escape("--pairs_per_series must be at most 45, the year pairs of --years; got 100")):
        DataArguments(pairs_per_series=100)
    with pytest.raises(ValueError, match=re.escape("at most 9, the year pairs of --years and --intervals; got 10")):
        DataArguments(pairs_per_series=10, intervals=[1])
    with pytest.raises(ValueError, match=re.escape("at most 1, the year pairs of --years; got 2")):
        DataArguments(pairs_per_series=2, years=[2016, 2020])


@pytest.mark.parametrize("argv, expected", [
    (["--min-size", "300", "--max-size", "100"], "argument --min-size: expected at most --max-size (100), got 300"),
    (["--min-size", "8"], "argument --min-size: expected >= 16 pixels, got 8"),
])
def test_synth_sizes_are_named_by_their_options(tmp_path, capsys, argv, expected):
    assert main(["synth", str(tmp_path / "out"), *argv]) == 2
    assert capsys.readouterr().err.strip() == f"euromine synth: error: {expected}"
    assert not (tmp_path / "out").exists()
