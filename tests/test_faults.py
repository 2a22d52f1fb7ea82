"""File-system faults: a read-only or full output folder ends in one line naming the path and the
reason, exit 2, nothing half-written; finished writes are synced to disk (issue 18, items 3, 8, 10).

The mount cases run on a small tmpfs (read-only, or filled to the last block) where the machine lets
this process mount one (root in a container with CAP_SYS_ADMIN); elsewhere they skip saying why, and
the unit cases below simulate the same errnos by monkeypatching so the behaviour is covered anyway.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from euromine_hf.cli import user_error_message
from euromine_hf.io import WriteError, atomic_write_bytes, atomic_write_text, make_temp_dir, replace_folder, writing

from _data_fixtures import small_archive  # noqa: F401  (session fixture)

REPO = Path(__file__).resolve().parents[1]


# ---- durability (item 3) ---------------------------------------------------------------------------


@pytest.fixture
def sync_log(monkeypatch):
    """Record ``("fsync", path)`` and ``("replace", src, dst)`` in the order they happen."""
    log: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst, **kwargs) -> None:
        real_replace(src, dst, **kwargs)
        log.append(("replace", os.fspath(src), os.fspath(dst)))

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name a synced descriptor")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def test_atomic_write_syncs_file_before_rename_and_folder_after(tmp_path, sync_log):
    target = atomic_write_bytes(tmp_path / "out" / "x.bin", b"data")
    replaces = [i for i, e in enumerate(sync_log) if e[0] == "replace" and e[2] == str(target)]
    assert len(replaces) == 1, sync_log
    (at,) = replaces
    tmp = sync_log[at][1]
    assert ("fsync", tmp) in sync_log[:at], f"the file was not synced before its rename: {sync_log}"
    assert ("fsync", str(target.parent)) in sync_log[at + 1:], f"the folder was not synced after the rename: {sync_log}"


def test_replace_folder_syncs_the_new_tree_and_the_parent(tmp_path, sync_log):
    new = make_temp_dir(tmp_path, ".new-")
    (new / "sub").mkdir()
    (new / "sub" / "a.parquet").write_bytes(b"a")  # written by a third-party writer, not synced by it
    (new / "b.json").write_bytes(b"b")
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    replace_folder(new, dest)
    swap = next(i for i, e in enumerate(sync_log) if e[0] == "replace" and e[2] == str(dest))
    before = {e[1] for e in sync_log[:swap] if e[0] == "fsync"}
    assert {str(new / "sub" / "a.parquet"), str(new / "b.json"), str(new / "sub"), str(new)} <= before, sync_log
    assert ("fsync", str(tmp_path)) in sync_log[swap + 1:], sync_log
    assert (dest / "b.json").read_bytes() == b"b" and not (dest / "old.txt").exists()


def test_a_saved_model_is_synced_before_save_pretrained_returns(tmp_path, sync_log):
    from euromine_hf.models import build_model

    folder = tmp_path / "model"
    build_model("unet", "tiny").save_pretrained(folder)
    synced = [e[1] for e in sync_log if e[0] == "fsync"]
    assert {str(folder / "model.safetensors"), str(folder / "config.json"), str(folder), str(tmp_path)} <= set(synced), synced
    last = {path: i for i, path in enumerate(synced)}
    assert last[str(folder / "model.safetensors")] < last[str(folder)] < last[str(tmp_path)]


# ---- write faults simulated (item 10, on any machine) ----------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_a_refused_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, code):
    target = tmp_path / "table.md"

    def refuse(self, *args, **kwargs):
        raise OSError(code, os.strerror(code))  # as a full disk answers write(): no file name

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(WriteError) as caught:
        atomic_write_bytes(target, b"x")
    assert str(target) in str(caught.value) and os.strerror(code) in str(caught.value)
    assert caught.value.errno == code
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    assert user_error_message(caught.value) == f"cannot write {target}: {os.strerror(code)}"


def test_a_write_fault_deep_in_a_library_error_is_a_user_error(tmp_path):
    """datasets wraps the disk's ENOSPC in its own error; the CLI still gives one line, not a traceback."""

    class DatasetGenerationError(Exception):
        pass

    with pytest.raises(WriteError) as caught:
        with writing(tmp_path / "cache"):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError as disk:
                raise DatasetGenerationError("An error occurred while generating the dataset") from disk
    assert user_error_message(caught.value) == f"cannot write {tmp_path / 'cache'}: No space left on device"
    readonly = OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out")
    assert user_error_message(readonly) == "/mnt/ro/out: Read-only file system"
    assert user_error_message(OSError(errno.ECONNRESET, "Connection reset")) is None  # not the user's disk


def test_text_write_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    class FullFile:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return FullFile(fh) if "w" in mode and ".tmp" in os.fspath(file) else fh

    monkeypatch.setattr(builtins, "open", fake_open)
    with pytest.raises(WriteError, match=r"cannot write .*notes\.txt: No space left on device"):
        atomic_write_text(tmp_path / "notes.txt", "hello")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a real (one-step) training run, ~18 s on a shared CPU
def test_training_fails_when_its_statistics_cannot_be_written(small_archive, tmp_path, monkeypatch, capsys):  # noqa: F811
    """Item 8: a full disk under statistics/ is exit 2 naming the file, not a warning and exit 0."""
    from euromine_hf.training import reports
    from euromine_hf.training.main import main

    blocked = tmp_path / "run" / "statistics" / "reference" / "statistics.md"

    def full_disk(*args, **kwargs):
        raise WriteError(errno.ENOSPC, "No space left on device", str(blocked))

    monkeypatch.setattr(reports, "write_footprint_statistics", full_disk)
    code = main([
        "--model", "unet", "--size", "tiny", "--data_dir", str(small_archive), "--cache_dir", str(tmp_path / "cache"),
        "--output_dir", str(tmp_path / "run"), "--max_steps", "1", "--per_device_train_batch_size", "4",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--num_qualitative", "0", "--baseline", "false", "--disable_tqdm", "true", "--report_to", "none",
    ])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == f"train.py: error: cannot write {blocked}: No space left on device", err


# ---- the same on a real read-only / full file system -----------------------------------------------


def _mount_unavailable() -> str | None:
    if sys.platform != "linux":
        return "tmpfs mounts need Linux"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CAP_SYS_ADMIN); the simulated cases above cover the behaviour"
    return None


@pytest.fixture
def mount_point(tmp_path):
    """A function ``mount(kind)`` giving a tmpfs that is read-only or full; unmounted afterwards."""
    reason = _mount_unavailable()
    if reason:
        pytest.skip(reason)
    mounted: list[Path] = []

    def mount(kind: str) -> Path:
        point = tmp_path / f"mnt-{kind}-{len(mounted)}"
        point.mkdir()
        options = "size=1m,ro" if kind == "ro" else "size=64k"
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); the simulated cases cover it")
        mounted.append(point)
        if kind == "full":  # fill it to the last block: the next write of any size fails
            with open(point / "filler", "wb", buffering=0) as fh:
                try:
                    while True:
                        fh.write(b"\0" * 4096)
                except OSError as error:
                    assert error.errno == errno.ENOSPC
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _euromine(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "euromine_hf.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def _left_behind(point: Path) -> list[str]:
    """Files (not empty folders) the failed command left on the mount, the filler aside."""
    return sorted(str(p.relative_to(point)) for p in point.rglob("*") if p.is_file() and p.name != "filler")


COMMANDS = {
    "synth": lambda archive, out: ["synth", str(out / "archive"), "--sites", "1", "--min-size", "160", "--max-size", "160"],
    "export": lambda archive, out: ["export", str(archive), str(out / "export"), "--configs", "mapping"],
    "build": lambda archive, out: ["build", str(archive), str(out / "cache"), "--configs", "mapping"],
    "stats": lambda archive, out: ["stats", str(archive), "--out", str(out / "stats")],
    "leaderboard show": lambda archive, out: ["leaderboard", "show", "--results", str(out / "lb"), "--out", str(out / "board")],
}


@pytest.mark.parametrize("kind", ["ro", "full"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_on_a_read_only_or_full_disk(small_archive, mount_point, command, kind):  # noqa: F811
    point = mount_point(kind)
    filler = (point / "filler").stat().st_size if kind == "full" else None
    proc = _euromine(*COMMANDS[command](small_archive, point))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.replace("\r", "\n").splitlines() if ": error: " in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    reason = "Read-only file system" if kind == "ro" else "No space left on device"
    assert errors[0].startswith(f"euromine {command.split()[0]}: error: ") and str(point) in errors[0] and errors[0].endswith(reason), errors
    assert _left_behind(point) == []
    if filler is not None:
        assert (point / "filler").stat().st_size == filler  # what the program did not create is untouched


def test_train_on_a_read_only_output_folder(small_archive, mount_point, tmp_path, capsys):  # noqa: F811
    from euromine_hf.training.main import main

    point = mount_point("ro")
    code = main([
        "--model", "unet", "--size", "tiny", "--data_dir", str(small_archive), "--cache_dir", str(tmp_path / "cache"),
        "--output_dir", str(point / "run"), "--max_steps", "1", "--per_device_train_batch_size", "4",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--num_qualitative", "0", "--baseline", "false", "--disable_tqdm", "true", "--report_to", "none",
    ])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("train.py: error: ") and str(point) in err[-1] and err[-1].endswith("Read-only file system"), err
