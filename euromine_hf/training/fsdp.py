"""FSDP for the large zoo models: which blocks are sharding units, and sharded checkpoints → safetensors.

``configs/fsdp.yaml`` trains with FSDP2 and ``fsdp_state_dict_type: SHARDED_STATE_DICT``: every
checkpoint holds the model as a ``torch.distributed.checkpoint`` (DCP) folder,
``checkpoint-N/pytorch_model_fsdp_0/`` (one ``__R_0.distcp`` file per rank plus ``.metadata``; keys
``model.<parameter name>``), the optimizer beside it in ``optimizer_0/``, and no ``model.safetensors``.
Resuming reads those folders back in any number of processes; :func:`consolidate_sharded_checkpoint`
turns one into a normal model folder (``config.json`` + ``model.safetensors``) that
``from_pretrained`` loads, without a process group::

    python -m euromine_hf.training.fsdp CHECKPOINT_DIR OUT_DIR --model upernet-swin [--size paper]

The sharding units are the model's own ``_no_split_modules`` (declared by each model and by the
encoders it is built from, gathered in ``EuroMinePreTrainedModel.post_init``); ``configs/fsdp.yaml``
names no class, so accelerate wraps those, and ``tests/test_fsdp.py`` shards each large model with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

#: The paper's large models, the ones FSDP is meant for (tests/test_fsdp.py shards each of them);
#: the small CNNs and detectors fit one device and train with configs/ddp.yaml, though their
#: ``_no_split_modules`` make them shardable too.
LARGE_MODELS: tuple[str, ...] = (
    "segformer", "upernet-swin", "upernet-convnext", "mask2former", "deeplabv3-mobilevitv2", "deeplabv3plus-resnet101",
)

#: Where accelerate writes the model of a SHARDED_STATE_DICT checkpoint, and under which key.
SHARDED_MODEL_FOLDER = "pytorch_model_fsdp_0"
SHARDED_MODEL_KEY = "model"


def wrap_classes(model: torch.nn.Module) -> tuple[str, ...]:
    """The FSDP unit classes of a built model: its ``_no_split_modules``, sorted.

    accelerate's ``TRANSFORMER_BASED_WRAP`` reads the same attribute when ``configs/fsdp.yaml`` names
    no class, so the wrap follows the model (``SwinLayer`` for upernet-swin, ``SegformerLayer`` for
    segformer, …) without a per-model command-line flag.
    """
    names = tuple(sorted(getattr(model, "_no_split_modules", None) or ()))
    if not names:
        raise ValueError(f"{type(model).__name__} declares no _no_split_modules: nothing to wrap as FSDP units")
    return names


def shard_model(model: torch.nn.Module, **fully_shard_kwargs: Any) -> torch.nn.Module:
    """Apply FSDP2 ``fully_shard`` to every module of a ``_no_split_modules`` class, then to the root.

    This is what accelerate's ``TRANSFORMER_BASED_WRAP`` policy does with ``configs/fsdp.yaml``; it
    needs an initialised process group (gloo works on CPU).
    """
    from torch.distributed.fsdp import fully_shard

    names = set(wrap_classes(model))
    units = [m for m in model.modules() if type(m).__name__ in names]
    found = {type(m).__name__ for m in units}
    if found != names:
        raise ValueError(f"{type(model).__name__}: wrap classes {sorted(names - found)} do not occur in the model")
    for module in units:
        fully_shard(module, **fully_shard_kwargs)
    fully_shard(model, **fully_shard_kwargs)
    return model


def sharded_model_dir(checkpoint_dir: str | os.PathLike) -> Path:
    """The DCP folder of a checkpoint: ``checkpoint-N/pytorch_model_fsdp_0`` (or that folder itself)."""
    path = Path(checkpoint_dir)
    for candidate in (path, path / SHARDED_MODEL_FOLDER):
        if (candidate / ".metadata").is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no sharded model checkpoint (expected {SHARDED_MODEL_FOLDER}/.metadata, "
                            "as FSDP with fsdp_state_dict_type SHARDED_STATE_DICT writes it)")


def load_sharded_weights(model: torch.nn.Module, checkpoint_dir: str | os.PathLike) -> None:
    """Read a sharded checkpoint into an unsharded ``model`` in place (no process group needed).

    DCP reshards on load, so the full tensors come together from every rank's file; every
    parameter and buffer of ``model`` must be in the checkpoint (DCP raises otherwise).
    """
    import torch.distributed.checkpoint as dcp

    state = {SHARDED_MODEL_KEY: model.state_dict()}
    # no_dist: one process reads every rank's file (also when a process group happens to be initialised)
    dcp.load(state, checkpoint_id=str(sharded_model_dir(checkpoint_dir)), no_dist=True)
    model.load_state_dict(state[SHARDED_MODEL_KEY], strict=True)


def consolidate_sharded_checkpoint(
    checkpoint_dir: str | os.PathLike, model: torch.nn.Module, output_dir: str | os.PathLike, overwrite: bool = False,
) -> Path:
    """Write ``output_dir`` = ``config.json`` + ``model.safetensors`` from a sharded (DCP) checkpoint.

    ``model`` is an unsharded model of the checkpoint's architecture (e.g. ``build_model(name, size)``);
    its weights are replaced by the checkpoint's, then ``save_pretrained`` writes them in
    transformers' on-disk names.  The folder appears whole or not at all (written beside, renamed).
    """
    from euromine_hf.io import make_temp_dir, replace_folder

    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: exists and is not empty (pass overwrite=True / --overwrite to replace it)")
        names = {p.name for p in out.iterdir()}
        # what save_pretrained writes: config, weights, image processor, the model's remote code (*.py)
        ours = {"config.json", "model.safetensors"} <= names and all(
            n in ("config.json", "model.safetensors", "preprocessor_config.json", "generation_config.json")
            or n.endswith(".py") for n in names
        )
        if not ours:
            raise FileExistsError(
                f"{out}: holds files other than a converted model (config.json, model.safetensors, "
                "preprocessor_config.json, code files); refusing to replace a folder this converter did not write"
            )
    load_sharded_weights(model, checkpoint_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out.parent, f".{out.name}.tmp-")
    try:
        model.save_pretrained(tmp)
        replace_folder(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m euromine_hf.training.fsdp CHECKPOINT OUT --model NAME``: sharded checkpoint → safetensors."""
    parser = argparse.ArgumentParser(description=consolidate_sharded_checkpoint.__doc__)
    parser.add_argument("checkpoint", help="checkpoint-N folder written with configs/fsdp.yaml (or its pytorch_model_fsdp_0)")
    parser.add_argument("output_dir", help="model folder to write (config.json + model.safetensors)")
    parser.add_argument("--model", required=True, help="zoo model name the checkpoint was trained as")
    parser.add_argument("--size", default="paper", help="size preset (paper or tiny)")
    parser.add_argument("--config_overrides", default=None, help="the same --config_overrides as in training")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    from euromine_hf.models import build_model
    from euromine_hf.training.arguments import parse_overrides

    try:
        model = build_model(args.model, size=args.size, **parse_overrides(args.config_overrides))
        out = consolidate_sharded_checkpoint(args.checkpoint, model, args.output_dir, overwrite=args.overwrite)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
