"""Load a saved zoo model (segmenter or change detector) with errors that name the file and what was expected.

Why not plain ``from_pretrained``: given a user's folder it fails with messages that do not name
the file (a truncated ``model.safetensors`` says "incomplete metadata"), and it silently
re-initialises weights missing from the file, so a wrong folder would predict noise. Here the
folder is checked first (``config.json`` readable, ``model_type`` known, weights present and whole)
and any missing, unexpected or wrongly shaped weight is an error.

Foreign code never runs unasked: a folder whose ``model_type`` is not one of the zoo's but whose
config has an ``auto_map`` would run its own Python files; it is refused unless the caller passes
``trust_remote_code=True`` (the CLI's ``--trust-remote-code``), and transformers is always given an
explicit answer, so its interactive "run the custom code? [y/N]" prompt never appears.

One entry point for both tasks: the Auto class comes from the config's ``task``
(``AutoModelForSemanticSegmentation`` for segmenters, the package's ``AutoModelForChangeDetection``
for detectors), so a command that takes "a model folder" needs no task flag of its own.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

__all__ = [
    "load_model", "check_model_folder", "check_weights", "check_torch_weights", "check_safetensors", "auto_class_for_task",
    "is_local_path", "zoo_model_types", "check_remote_code", "hub_config",
]

#: Weight files ``save_pretrained`` writes, in the order ``from_pretrained`` looks for them.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_EXPECTED = "a folder written by save_pretrained (config.json + model.safetensors)"


def is_local_path(path: str | Path) -> bool:
    """Whether ``path`` means a local file/folder (it exists, or is written like a path) rather than a Hub id."""
    text = str(path)
    return Path(path).exists() or text.startswith((".", "/", "~")) or text.count("/") > 1


def check_safetensors(path: str | Path) -> None:
    """Raise ``ValueError`` naming ``path`` unless its header is valid and the file holds every
    byte the header declares (reads the header only, not the tensors)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: safetensors header: expected an 8-byte header length, found a {size}-byte file")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError(f"{path}: safetensors header: declares {n} header bytes but the file has {size} (truncated?)")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: safetensors header: expected JSON, {error}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header: expected a JSON object of tensors")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"{path}: tensor {name!r}: expected data_offsets [begin, end], found {offsets!r}")
        end = max(end, offsets[1])
    have = size - 8 - n
    if have != end:
        state = "truncated" if have < end else "has trailing bytes"
        raise ValueError(f"{path}: tensor data: header declares {end} bytes, file holds {have} ({state})")


def zoo_model_types() -> frozenset[str]:
    """The ``model_type`` of every zoo model (``euromine-*`` and the transformers types some keep)."""
    from euromine_hf.models.registry import MODEL_ZOO

    return frozenset(spec.config_class.model_type for spec in MODEL_ZOO.values())


def check_remote_code(config: dict[str, Any], where: str | Path, trust_remote_code: bool = False) -> bool:
    """Whether loading ``config`` would run code shipped with the model (its ``auto_map``, for a
    ``model_type`` that is not the zoo's); a ``ValueError`` naming ``where`` when that code is not trusted.

    A zoo model's own ``auto_map`` (``remote_code.py`` saves one) is never needed: the package's classes load it.
    An unknown ``euromine-*`` type is left to the ``model_type`` check (a typo, not foreign code).
    """
    model_type = config.get("model_type")
    if not config.get("auto_map") or model_type in zoo_model_types():
        return False
    if isinstance(model_type, str) and model_type.startswith("euromine-") and not trust_remote_code:
        return False  # a misspelt zoo type: check_model_folder names the field 'model_type'
    if not trust_remote_code:
        raise ValueError(
            f"{where}: field 'auto_map': the model's own Python code would run (model_type {model_type!r} is not a "
            f"euromine model); refused - `euromine predict --trust-remote-code` runs it, if you trust its source"
        )
    return True


def check_torch_weights(path: str | Path, field: str = "weights",
                        expected: str = "torch.save's zip archive of tensors (or model.safetensors)") -> None:
    """Refuse a ``pytorch_model.bin`` that is not ``torch.save``'s zip archive of tensors.

    A bare pickle (torch's pre-1.6 format, or any ``pickle.dump``) or garbage otherwise reaches
    ``torch.load(weights_only=True)``, whose ``UnpicklingError`` is a traceback advising to rerun
    with ``weights_only=False``, i.e. to run the file's code. Here it is one line naming the file.
    """
    import zipfile

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:1] == b"\x80":  # a pickle protocol >= 2 starts with PROTO
        found = "a bare pickle (not loaded: unpickling can run code)"
    elif not zipfile.is_zipfile(path):
        found = "neither a zip archive nor safetensors (damaged or not a checkpoint)"
    else:
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist()):
                return
        found = "a zip archive without torch's data.pkl"
    raise ValueError(f"{path}: {field}: expected {expected}, found {found}")


def check_model_folder(folder: str | Path, trust_remote_code: bool = False) -> dict[str, Any]:
    """Validate a local model folder; returns its parsed ``config.json``.

    Foreign code (:func:`check_remote_code`) is refused unless ``trust_remote_code``.
    """
    import euromine_hf.models  # noqa: F401  (registers the euromine model types)
    from transformers import CONFIG_MAPPING

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: model: expected {_EXPECTED}, found {'a file' if folder.exists() else 'no such folder'}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{config_path}: expected the model's config.json ({_EXPECTED}), found no such file")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{config_path}: expected UTF-8 JSON, {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_path}: expected valid JSON, {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: expected a JSON object, found {type(config).__name__}")
    check_remote_code(config, config_path, trust_remote_code)
    model_type = config.get("model_type")
    if not (trust_remote_code and config.get("auto_map")) and (not isinstance(model_type, str) or model_type not in CONFIG_MAPPING):
        ours = sorted(t for t in CONFIG_MAPPING.keys() if t.startswith("euromine-"))
        raise ValueError(f"{config_path}: field 'model_type': expected a registered type (e.g. {', '.join(ours[:4])}, ...), found {'no such field' if model_type is None else repr(model_type)}")
    check_weights(folder)
    return config


def check_weights(folder: str | Path) -> None:
    """Check the weight files ``from_pretrained`` would read in ``folder`` (headers and sizes, not
    tensors): a damaged file is a ``ValueError`` naming it, not a loader error naming none."""
    folder = Path(folder)
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        raise ValueError(f"{folder}: weights: expected one of {', '.join(WEIGHT_FILES)}, found none")
    if weights[0].name == "model.safetensors":
        check_safetensors(weights[0])
    elif weights[0].name == "pytorch_model.bin":
        check_torch_weights(weights[0])
    else:  # a shard index: every shard it names must be there and sound
        check_shard = check_safetensors if weights[0].name == "model.safetensors.index.json" else check_torch_weights
        try:
            index = json.loads(weights[0].read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{weights[0]}: field 'weight_map': expected a JSON object of tensor -> shard file ({error})") from None
        for shard in shards:
            shard_path = folder / shard
            if not shard_path.is_file():
                raise ValueError(f"{weights[0]}: weight_map names {shard!r}, which is not in {folder}")
            check_shard(shard_path)


def hub_config(repo_id: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a Hub model, without importing any class it names."""
    from transformers import PretrainedConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(str(repo_id))
    except (OSError, ValueError) as error:
        raise ValueError(f"{repo_id} (not a local folder; tried as a Hub id): could not read its config.json: {error}") from error
    return config


def auto_class_for_task(task: str) -> Any:
    """The Auto class that loads a model of ``task`` ("segmentation", "change_detection" or "multitemporal")."""
    from transformers import AutoModelForSemanticSegmentation

    from euromine_hf.models.registry import AutoModelForChangeDetection, AutoModelForMultitemporalSegmentation

    classes = {"segmentation": AutoModelForSemanticSegmentation, "change_detection": AutoModelForChangeDetection,
               "multitemporal": AutoModelForMultitemporalSegmentation}
    if task not in classes:
        raise ValueError(f"task: expected one of {', '.join(classes)}, found {task!r}")
    return classes[task]


def load_model(path: str | Path, task: str | None = None, *, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """The model saved at ``path`` (a local folder, or a Hub id when no such path exists), loaded by
    the Auto class of its config's task after :func:`check_model_folder`.

    ``task`` ("segmentation" / "change_detection"), when given, is what the caller needs: a model
    of the other task is an error naming the folder. Every failure is a ``ValueError`` naming the
    folder or file; ``kwargs`` go to ``from_pretrained``. Code shipped with a non-zoo model runs only
    with ``trust_remote_code=True`` (:func:`check_remote_code`).
    """
    import euromine_hf.models  # noqa: F401  (registers the euromine model types)
    from safetensors import SafetensorError
    from transformers import AutoConfig

    if task is not None:
        auto_class_for_task(task)  # validates the name
    local = is_local_path(path)
    where = path if local else f"{path} (not a local folder; tried as a Hub id)"
    # the raw config.json decides whether foreign code would run, before transformers imports any class
    raw = check_model_folder(path, trust_remote_code) if local else hub_config(path)
    remote = check_remote_code(raw, Path(path) / "config.json" if local else where, trust_remote_code)
    from transformers.utils import logging as hf_logging

    # Mismatched shapes are reported below with the rest; transformers' own report and progress bar
    # would print a table before the one-line error.
    kwargs.setdefault("ignore_mismatched_sizes", True)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        # transformers always gets an explicit trust_remote_code, so it never prompts
        config = kwargs.pop("config", None) or AutoConfig.from_pretrained(str(path), trust_remote_code=remote)
        kwargs["trust_remote_code"] = remote
        found = getattr(config, "task", "segmentation")
        if task is not None and found != task:
            raise _WrongTask(f"{where}: expected a {task.replace('_', ' ')} model, found a {found.replace('_', ' ')} "
                             f"model ({config.model_type})")
        auto_class = auto_class_for_task(found)
        model, info = auto_class.from_pretrained(str(path), config=config, output_loading_info=True, **kwargs)
    except _WrongTask as error:
        raise ValueError(str(error)) from None
    except pickle.UnpicklingError:  # torch's message advises weights_only=False, i.e. running the file's code
        raise ValueError(f"{where}: weights: expected tensors only, found other pickled objects (refused: "
                         "loading them could run code)") from None
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, EOFError, SafetensorError) as error:
        raise ValueError(f"{where}: could not load the model: {error}") from error
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    problems = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if problems:
        detail = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v[:3]))}{' ...' if len(v) > 3 else ''} ({len(v)})" for k, v in problems.items())
        raise ValueError(f"{path}: weights do not match the config's architecture ({detail})")
    return model


class _WrongTask(Exception):
    """Raised inside :func:`load_model`'s loading block (wrong task, untrusted code); re-raised as ``ValueError`` unwrapped."""
