"""Two-process CPU DDP (gloo) through accelerate: both ranks end with the same weights.

The test launches this very file as the worker (``accelerate launch --multi_gpu --num_processes 2``
with ``ACCELERATE_USE_CPU=true``); each rank trains a few steps with ``EuroMineTrainer`` (its step-
seeded augmentation included) and writes a digest of its final parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _launch(args: list[str], tmp_path: Path, timeout: int = 540) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
    env = dict(os.environ, ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1", PYTHONPATH=str(HERE),
               EUROMINE_DDP_OUT=str(tmp_path))
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.mark.slow
def test_two_rank_ddp_ranks_agree(tmp_path):
    _launch([str(Path(__file__).resolve())], tmp_path)
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert reports[0]["world_size"] == reports[1]["world_size"] == 2
    assert reports[0]["steps"] == reports[1]["steps"] == 4
    assert reports[0]["digest"] == reports[1]["digest"]
    assert reports[0]["sum"] == pytest.approx(reports[1]["sum"], rel=0, abs=0)
    assert reports[0]["sum"] != pytest.approx(reports[0]["initial_sum"], rel=1e-6)  # it trained


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_readme_ddp_command_forms_one_cpu_process_group(tmp_path):
    """``accelerate launch --config_file configs/ddp.yaml train.py ...`` as the README writes it, on a
    machine without GPU and without ACCELERATE_USE_CPU: one gloo group of 2 ranks, not 2 trainings."""
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    archive = tmp_path / "archive"
    generate_archive(archive, SyntheticConfig(seed=3, num_sites=8, min_size=100, max_size=180))
    out = tmp_path / "run"
    accelerate = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    # 32 training rows, batch 8 per process: 2 optimizer steps per epoch with 2 ranks (4 with 1)
    cmd = [accelerate, "launch", "--config_file", "configs/ddp.yaml", "--main_process_port", str(_free_port()),
           "train.py", "--demo", "--data_dir", str(archive), "--cache_dir", str(tmp_path / "hf"),
           "--output_dir", str(out), "--num_train_epochs", "1", "--max_train_samples", "32",
           "--max_eval_samples", "8", "--max_test_samples", "8", "--num_qualitative", "0", "--disable_tqdm", "true"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert log.count("2 processes in one process group (gloo)") == 1, log[-4000:]
    # issue 20 item 11: INFO lines once (main process), no per-rank DDP warning, no per-save shard bars
    assert log.count(" INFO euromine_hf.train: demo: ") == 1, log[-4000:]
    (demo_line,) = [line for line in log.splitlines() if " demo: " in line]
    assert demo_line.count("--output_dir") == 1, demo_line  # the user's, not the preset's and then the user's
    assert "find_unused_parameters=True" not in log and "Writing model shards" not in log, log[-4000:]
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-2"]
    assert (out / "model" / "model.safetensors").is_file()


def _worker() -> None:
    import torch

    from test_training import TinyConfig, TinySegmenter, collate, make_dataset, training_args
    from euromine_hf.training.trainer import EuroMineTrainer

    out = Path(os.environ["EUROMINE_DDP_OUT"])
    torch.manual_seed(0)
    model = TinySegmenter(TinyConfig())
    initial = float(sum(p.detach().double().sum() for p in model.parameters()))
    trainer = EuroMineTrainer(
        model=model, args=training_args(out / "run", max_steps=4, per_device_train_batch_size=2),
        train_dataset=make_dataset(n_sites=4), data_collator=collate, augment=True,
    )
    trainer.train()
    params = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
    report = {
        "rank": trainer.args.process_index, "world_size": trainer.args.world_size,
        "steps": trainer.state.global_step, "sum": float(params.double().sum()), "initial_sum": initial,
        "digest": hashlib.sha256(params.numpy().tobytes()).hexdigest(),
    }
    (out / f"rank{trainer.args.process_index}.json").write_text(json.dumps(report))
    # Tear the gloo group down before exit: left to interpreter shutdown, its threads can abort a rank.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    _worker()
