"""User-input errors on every command line: exit 2, one line naming the file / field / expectation,
no traceback; ``--debug`` / ``EUROMINE_DEBUG=1`` show the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from euromine_hf.cli import main, run_guarded, user_error_message

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from euromine_hf.models import build_model

    folder = tmp_path_factory.mktemp("model") / "unet"
    build_model("unet", "tiny").save_pretrained(folder)
    return folder


def _copy(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for f in src.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def _one_error_line(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0]


def _damage(folder: Path, how: str) -> str:
    """Damage a saved model the way users do; returns what the message must name."""
    config, weights = folder / "config.json", folder / "model.safetensors"
    if how == "json":
        config.write_text(config.read_text() + "}{")
        return str(config)
    if how == "model_type":
        data = json.loads(config.read_text())
        data.pop("model_type")
        config.write_text(json.dumps(data))
        return "model_type"
    if how == "truncated":
        os.truncate(weights, weights.stat().st_size - 100)
        return f"{weights}: tensor data"
    if how == "no_weights":
        weights.unlink()
        return "model.safetensors"
    if how in ("pickle_bin", "garbage_bin", "object_bin"):  # pytorch_model.bin instead of safetensors
        import pickle

        import torch

        weights.unlink()
        binary = folder / "pytorch_model.bin"
        if how == "pickle_bin":  # a bare pickle: torch.load(weights_only=True) raised UnpicklingError
            binary.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
            return f"{binary}: weights: expected torch.save's zip archive of tensors"
        if how == "garbage_bin":
            binary.write_bytes(b"not a checkpoint " * 64)
            return f"{binary}: weights: expected"
        torch.save({"weight": torch.zeros(2), "extra": _Opaque()}, binary)  # a zip holding a non-tensor object
        return "weights: expected tensors only, found other pickled objects"
    if how == "wrong_weights":  # weights of another architecture under this config
        from euromine_hf.models import build_model

        build_model("linknet", "tiny").save_pretrained(folder / "other")
        (folder / "other" / "model.safetensors").replace(weights)
        return "weights do not match"
    raise AssertionError(how)


class _Opaque:
    """An arbitrary object in a weights file: torch's weights-only unpickler refuses it."""


@pytest.mark.parametrize("how", ["json", "model_type", "truncated", "no_weights", "wrong_weights",
                                 "pickle_bin", "garbage_bin", "object_bin"])
def test_predict_with_a_damaged_model_folder_exits_2_naming_the_file(saved_model, tmp_path, capsys, how):
    import numpy as np
    from rasterio.transform import from_origin

    from euromine_hf.data.geotiff import write_geotiff

    folder = _copy(saved_model, tmp_path / "model")
    expected = _damage(folder, how)
    # a valid input: the destination and inputs are checked before weights load, so only the model is wrong
    write_geotiff(tmp_path / "images" / "Year2016.tif", np.ones((10, 32, 32), np.uint16), "EPSG:32633", from_origin(500000, 5600000, 10, 10))
    capsys.readouterr()
    assert main(["predict", str(folder), str(tmp_path / "images"), str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys, "euromine predict")
    assert expected in line
    assert not (tmp_path / "out").exists()


def test_load_model_names_the_file_and_loads_a_good_folder(saved_model, tmp_path):
    from euromine_hf.models.loading import check_safetensors, load_model

    assert load_model(saved_model).config.model_type == "euromine-unet"
    with pytest.raises(ValueError, match="no such folder"):
        load_model(tmp_path / "missing")
    broken = tmp_path / "x.safetensors"
    broken.write_bytes(b"\x05\x00")
    with pytest.raises(ValueError, match=r"x\.safetensors: safetensors header"):
        check_safetensors(broken)
    padded = _copy(saved_model, tmp_path / "padded")
    with (padded / "model.safetensors").open("ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(ValueError, match="trailing bytes"):
        load_model(padded)


def test_predict_with_a_missing_archive_exits_2(saved_model, tmp_path, capsys):
    assert main(["predict", str(saved_model), str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert str(tmp_path / "nowhere") in _one_error_line(capsys, "euromine predict")


@pytest.mark.parametrize("command", ["evaluate", "build", "export", "stats"])
def test_every_reading_command_exits_2_on_a_missing_archive(tmp_path, capsys, command):
    argv = {
        "evaluate": ["evaluate", str(tmp_path / "nowhere"), str(tmp_path / "pred"), "--output", str(tmp_path / "o")],
        "build": ["build", str(tmp_path / "nowhere"), str(tmp_path / "o")],
        "export": ["export", str(tmp_path / "nowhere"), str(tmp_path / "o")],
        "stats": ["stats", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")],
    }[command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "nowhere" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"euromine {command}: error: ")  # the one handler's shape (stats had its own)
    with pytest.raises(ValueError, match="nowhere"):  # --debug: the traceback, from every command alike
        main(["--debug", *argv])


def test_synth_and_train_bad_values_exit_2(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s"), "--min-size", "200", "--max-size", "100"]) == 2
    assert "--min-size" in capsys.readouterr().err
    from euromine_hf.training.main import main as train_main

    assert train_main(["--model", "nosuch", "--output_dir", str(tmp_path / "t")]) == 2
    assert "--model" in _one_error_line(capsys, "train.py") and not (tmp_path / "t").exists()
    assert train_main(["--model", "unet", "--size", "tiny", "--data_dir", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "t")]) == 2
    assert "nowhere" in _one_error_line(capsys, "train.py")
    assert main(["train", "--model", "unet", "--years", "2030", "--output_dir", str(tmp_path / "t")]) == 2
    assert "2030" in _one_error_line(capsys, "euromine train")
    # a typo in --config_overrides (a transformers config would keep it as an inert attribute)
    assert train_main(["--model", "unet", "--size", "tiny", "--config_overrides", "base_widht=8",
                       "--output_dir", str(tmp_path / "t")]) == 2
    line = _one_error_line(capsys, "train.py")
    assert "unknown config field(s) base_widht" in line and "base_width" in line and not (tmp_path / "t").exists()
    assert train_main(["--model", "upernet-swin", "--size", "tiny", "--config_overrides", "embed_dim=16",
                       "--output_dir", str(tmp_path / "t")]) == 2
    assert "'embed_dim' is no longer read" in _one_error_line(capsys, "train.py")


def test_debug_flag_and_environment_show_the_traceback(tmp_path, monkeypatch):
    from euromine_hf.data.archive import ArchiveError

    argv = ["evaluate", str(tmp_path / "nowhere"), str(tmp_path / "pred")]
    with pytest.raises(ArchiveError):
        main(["--debug", *argv])
    assert "EUROMINE_DEBUG" not in os.environ  # --debug does not leak into later calls
    monkeypatch.setenv("EUROMINE_DEBUG", "1")
    with pytest.raises(ArchiveError):
        main(argv)


def test_bugs_keep_their_traceback_and_generation_errors_report_their_cause(capsys):
    from datasets.exceptions import DatasetGenerationError

    def bug() -> int:
        raise KeyError("internal")

    with pytest.raises(KeyError):
        run_guarded(bug, "euromine x")

    def generation() -> int:
        try:
            raise ValueError("/a/Site/Year2015.tif: pixel value: expected 0/1, found 7")
        except ValueError as cause:
            raise DatasetGenerationError("An error occurred while generating the dataset") from cause

    assert run_guarded(generation, "euromine build") == 2
    assert _one_error_line(capsys, "euromine build").endswith("Year2015.tif: pixel value: expected 0/1, found 7")
    assert "/x/y" in user_error_message(FileNotFoundError(2, "No such file or directory", "/x/y"))
    assert user_error_message(PermissionError("denied")) == "denied"
    assert user_error_message(ValueError("two\nlines")) == "two lines"


def test_subprocess_exit_code_2_and_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EUROMINE_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "euromine_hf.cli", "evaluate", str(tmp_path / "nowhere"), str(tmp_path / "pred")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"euromine evaluate: error: {tmp_path / 'nowhere'}: "), lines
