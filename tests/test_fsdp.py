"""FSDP exercised, not only configured (issue 7).

accelerate turns FSDP into DDP on CPU, but FSDP2 (``torch.distributed.fsdp.fully_shard``) runs on
gloo, so the slow test launches 2 processes (torchrun) that, for every model of
:data:`~euromine_hf.training.fsdp.LARGE_MODELS` (tiny presets), shard it with its own
``_no_split_modules``, take 4 Adam steps with a sharded checkpoint (DCP, the ``SHARDED_STATE_DICT`` layout
accelerate writes: ``pytorch_model_fsdp_0`` / ``optimizer_0``) after step 2, and check:

* the gathered full state dict → ``save_pretrained`` → ``from_pretrained`` gives the sharded
  model's outputs;
* a fresh, differently initialised sharded model resumed from the step-2 checkpoint ends at
  step 4 with the same parameters as the uninterrupted run (buffers such as BatchNorm running
  statistics stay per rank under FSDP, and DCP keeps one rank's copy);
* ``consolidate_sharded_checkpoint`` turns the step-2 checkpoint into a ``model.safetensors``
  folder that ``from_pretrained`` loads with exactly the step-2 weights.

The fast tests check that ``configs/fsdp.yaml`` leaves the units to the model (accelerate's own policy
builder, fed the environment ``accelerate launch`` derives from the file, wraps ``SwinLayer`` for
upernet-swin), that every zoo model declares units it contains, and the converter's errors.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from euromine_hf.models import build_model
from euromine_hf.models import MODEL_ZOO
from euromine_hf.training.fsdp import LARGE_MODELS, consolidate_sharded_checkpoint, main as fsdp_main, wrap_classes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZE = 32


def _accelerate_wrapped_classes(model) -> set[str]:
    """The classes accelerate's FSDP2 policy wraps in ``model`` under ``accelerate launch --config_file configs/fsdp.yaml``."""
    from unittest import mock

    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(ROOT / "configs" / "fsdp.yaml"), "train.py"])
    env = prepare_multi_gpu_env(_validate_launch_command(args)[0])
    with mock.patch.dict(os.environ, env):
        policy = fsdp2_prepare_auto_wrap_policy(FullyShardedDataParallelPlugin(), model)
    return {type(m).__name__ for m in model.modules() if policy(m)}


def test_fsdp_config_wraps_the_models_own_layers():
    config = yaml.safe_load((ROOT / "configs" / "fsdp.yaml").read_text())
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
    assert config["fsdp_config"]["fsdp_version"] == 2
    assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    # the README's command: --model upernet-swin with this config wraps Swin layers (it named SegformerLayer)
    assert _accelerate_wrapped_classes(build_model("upernet-swin", size="tiny")) == {"SwinLayer"}
    assert _accelerate_wrapped_classes(build_model("segformer", size="tiny")) == {"SegformerLayer"}


def test_every_zoo_model_declares_units_it_contains():
    for name in MODEL_ZOO:
        model = build_model(name, size="tiny")
        classes = wrap_classes(model)
        found = {type(m).__name__ for m in model.modules()}
        assert classes and set(classes) <= found, (name, classes, set(classes) - found)
        # units are parts, not the whole model, and more than one (otherwise nothing is sharded)
        assert type(model).__name__ not in classes, name
        assert sum(type(m).__name__ in classes for m in model.modules()) >= 2, name


def test_units_follow_the_backbone():
    assert wrap_classes(build_model("upernet-swin", size="tiny")) == ("SwinLayer",)
    assert wrap_classes(build_model("upernet-convnext", size="tiny")) == ("ConvNextStage",)
    assert wrap_classes(build_model("deeplabv3plus-resnet101", size="tiny")) == ("ResNetStage",)
    assert wrap_classes(build_model("deeplabv3plus-mobilenetv2", size="tiny")) == ("MobileNetV2InvertedResidual",)
    # rebuilt from its config, as from_pretrained does: the same units
    assert set(wrap_classes(type(m := build_model("mask2former", size="tiny"))(m.config))) == {
        "SwinLayer", "Mask2FormerPixelDecoderEncoderLayer", "Mask2FormerMaskedAttentionDecoderLayer"}


def test_converter_errors(tmp_path, capsys):
    model = build_model("unet", size="tiny")
    with pytest.raises(FileNotFoundError, match="pytorch_model_fsdp_0"):
        consolidate_sharded_checkpoint(tmp_path, model, tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(FileExistsError, match="busy"):
        consolidate_sharded_checkpoint(tmp_path, model, tmp_path / "busy")
    assert fsdp_main([str(tmp_path), str(tmp_path / "out"), "--model", "unet", "--size", "tiny"]) == 2
    assert "no sharded model checkpoint" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_fsdp2_two_ranks_every_large_model(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
               EUROMINE_FSDP_OUT=str(tmp_path), CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(Path(__file__).resolve())]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    reports = json.loads((tmp_path / "report.json").read_text())
    assert sorted(reports) == sorted(LARGE_MODELS)
    for name, report in reports.items():
        assert report["world_size"] == 2 and report["sharded"], name
        assert report["checkpoint_files"] == [".metadata", "__0_0.distcp", "__1_0.distcp"], name
        assert report["reload_max_abs_diff"] <= 1e-5, (name, report)
        assert report["reload_state_equal"], name
        assert report["trained"], name
        assert report["resume_state_differing"] == [], name
        assert report["converted_state_differing"] == [], name
        assert {"config.json", "model.safetensors"} <= set(report["converted_files"]), name


# ---------------------------------------------------------------------------------------------
# the worker: run by torchrun in 2 processes


def _batch(step: int, rank: int):
    import torch

    gen = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randn(2, 10, SIZE, SIZE, generator=gen), torch.randint(0, 2, (2, SIZE, SIZE), generator=gen)


def _train_steps(model, optimizer, steps, rank):
    import torch

    model.train()
    for step in steps:
        torch.manual_seed(10_000 + 1000 * step + rank)  # dropout / Mask2Former's point sampling
        x, y = _batch(step, rank)
        model(pixel_values=x, labels=y).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def _full_state(model):
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _differing(a, b, keys=None):
    import torch

    assert a.keys() == b.keys(), sorted(a.keys() ^ b.keys())[:5]
    return [k for k in (keys if keys is not None else a) if not torch.equal(a[k], b[k])]


def _sharded(name, mesh, seed):
    import torch

    from euromine_hf.training.fsdp import shard_model

    torch.manual_seed(seed)
    model = shard_model(build_model(name, size="tiny"), mesh=mesh)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def _run_model(name, mesh, rank, folder: Path) -> dict:
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict, get_optimizer_state_dict, set_model_state_dict, set_optimizer_state_dict,
    )
    from torch.distributed.tensor import DTensor

    from euromine_hf.training.fsdp import SHARDED_MODEL_FOLDER

    model, optimizer = _sharded(name, mesh, seed=0)
    initial = _full_state(model)
    _train_steps(model, optimizer, (1, 2), rank)
    checkpoint = folder / "checkpoint-2"  # accelerate's SHARDED_STATE_DICT layout
    dcp.save({"model": get_model_state_dict(model)}, checkpoint_id=str(checkpoint / SHARDED_MODEL_FOLDER))
    dcp.save({"optimizer": get_optimizer_state_dict(model, optimizer)}, checkpoint_id=str(checkpoint / "optimizer_0"))
    at_step2 = _full_state(model)
    _train_steps(model, optimizer, (3, 4), rank)
    final = _full_state(model)
    x0, _ = _batch(0, 0)
    model.eval()
    with torch.no_grad():
        sharded_logits = model(pixel_values=x0).logits

    resumed, resumed_opt = _sharded(name, mesh, seed=1)  # other initial weights: only the checkpoint may restore them
    state = {"model": get_model_state_dict(resumed)}
    dcp.load(state, checkpoint_id=str(checkpoint / SHARDED_MODEL_FOLDER))
    set_model_state_dict(resumed, state["model"])
    optim_state = {"optimizer": get_optimizer_state_dict(resumed, resumed_opt)}
    # parameters that never get a gradient (Swin's final layernorm under UperNet / Mask2Former) have
    # no Adam state in the checkpoint, while the fresh optimizer's state dict lists one: partial load
    dcp.load(optim_state, checkpoint_id=str(checkpoint / "optimizer_0"),
             planner=DefaultLoadPlanner(allow_partial_load=True))
    set_optimizer_state_dict(resumed, resumed_opt, optim_state["optimizer"])
    _train_steps(resumed, resumed_opt, (3, 4), rank)
    resumed_final = _full_state(resumed)

    report = {"world_size": dist.get_world_size(),
              "sharded": any(isinstance(p, DTensor) for p in model.parameters())}
    if rank == 0:
        plain = build_model(name, size="tiny")
        params = [k for k, _ in plain.named_parameters()]
        plain.load_state_dict(final, strict=True)
        plain.save_pretrained(folder / "final")
        reloaded = type(plain).from_pretrained(folder / "final").eval()
        with torch.no_grad():
            logits = reloaded(pixel_values=x0).logits
        converted = consolidate_sharded_checkpoint(checkpoint, build_model(name, size="tiny"), folder / "converted")
        report.update(
            checkpoint_files=sorted(p.name for p in (checkpoint / SHARDED_MODEL_FOLDER).iterdir()),
            reload_max_abs_diff=float((logits - sharded_logits).abs().max()),
            reload_state_equal=_differing(reloaded.state_dict(), final) == [],
            trained=bool(_differing(initial, final)),
            # parameters only: FSDP (unlike DDP) leaves buffers such as BatchNorm running statistics
            # per rank, and DCP stores one rank's copy, so they need not equal rank 0's
            resume_state_differing=_differing(resumed_final, final, params),
            converted_state_differing=_differing(type(plain).from_pretrained(converted).state_dict(), at_step2, params),
            converted_files=sorted(p.name for p in converted.iterdir()),
        )
    dist.barrier()
    return report


def _worker() -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    out = Path(os.environ["EUROMINE_FSDP_OUT"])
    reports = {name: _run_model(name, mesh, rank, out / name) for name in LARGE_MODELS}
    if rank == 0:
        (out / "report.json").write_text(json.dumps(reports, indent=1))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    _worker()
