"""Start a zoo model from the Hub checkpoint its paper run started from (``ModelSpec.pretrained``).

:func:`checkpoint_folder` fetches a checkpoint through huggingface_hub's cache (``snapshot_download``:
safetensors and JSON only; pickles are never read), or finds it there offline; a checkpoint that is
neither cached nor reachable is one :class:`PretrainedUnavailableError` line naming it, the cache
folder and the opt-out. :func:`load_pretrained` reads it in its layout, loads it with band-aware
adaptation of the input layers (``band_adaptation``), and refuses a start that leaves any parameter
of the pretrained part (``PretrainedCheckpoint.part``) untouched: such a model would train with a
half-random encoder while the report said "pretrained".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import PreTrainedModel

from euromine_hf.models.band_adaptation import AdaptationReport, load_rgb_checkpoint, read_state_dict
from euromine_hf.models.paper_checkpoints import PretrainedCheckpoint


class PretrainedUnavailableError(ValueError):
    """The checkpoint is not in the local Hub cache and cannot be downloaded (a user-facing error)."""


class IncompletePretrainedLoadError(ValueError):
    """The checkpoint left parameters of the model's pretrained part at their random initialisation."""


@dataclass
class PretrainedLoad:
    """What one checkpoint did to the model: where it came from and the per-tensor report."""

    checkpoint: PretrainedCheckpoint
    source: str  # the Hub id or local folder actually read
    folder: Path
    first_layer: str
    report: AdaptationReport

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.source, "revision": None if _is_local(self.source) else self.checkpoint.revision,
                "folder": str(self.folder), "first_layer": self.first_layer, "part": list(self.checkpoint.part),
                "reason": self.checkpoint.reason, **self.report.to_dict()}

    def summary(self) -> str:
        """Lines for the console: counts, then every adapted / re-initialised / skipped tensor by name."""
        r = self.report
        lines = [f"pretrained start {self.source}"
                 + (f" (revision {self.checkpoint.revision})" if self.checkpoint.revision and not _is_local(self.source) else "")
                 + f": {len(r.copied)} tensors copied, {len(r.adapted)} adapted to the bands, "
                 f"{len(r.reinitialised)} re-initialised at random, {len(r.skipped)} skipped"]
        lines += [f"  adapted: {key}" for key in r.adapted]
        lines += [f"  re-initialised: {key}" for key in r.reinitialised]
        lines += [f"  skipped: {key} ({why})" for key, why in r.skipped.items()]
        return "\n".join(lines)


def _is_local(source: str | Path) -> bool:
    from euromine_hf.models.loading import is_local_path

    return is_local_path(source)


def hub_cache_dir() -> str:
    """The folder huggingface_hub caches downloads in (``HF_HUB_CACHE`` / ``HF_HOME``)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def checkpoint_folder(source: str | Path, revision: str | None = None) -> Path:
    """A local folder holding ``source``: the folder itself, or the Hub repo's cached snapshot
    (downloaded through huggingface_hub's cache when it is not there yet)."""
    if _is_local(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: pretrained checkpoint: no such file or folder")
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    label = str(source) if revision is None else f"{source}@{revision}"
    try:
        folder = Path(snapshot_download(str(source), revision=revision, allow_patterns=["*.safetensors", "*.json"]))
    except HfHubHTTPError as error:  # an OSError too: caught first
        raise PretrainedUnavailableError(
            f"pretrained checkpoint {label}: the Hub refused the download ({' '.join(str(error).split())[:200]}); "
            "check the repo id and revision, or train from scratch with --pretrained none"
        ) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as error:
        # offline (HF_HUB_OFFLINE=1) or the Hub unreachable, and nothing cached
        raise PretrainedUnavailableError(
            f"pretrained checkpoint {label}: not in the Hugging Face cache ({hub_cache_dir()}) and the Hub cannot "
            f"be reached ({type(error).__name__}); download it once online (or set HF_HOME to a cache that holds "
            "it), or train from scratch with --pretrained none"
        ) from None
    if not any(folder.glob("*.safetensors")):
        raise PretrainedUnavailableError(
            f"pretrained checkpoint {label}: no *.safetensors file in that revision (pickled pytorch_model.bin "
            "files are never read); name a revision with a safetensors conversion (often refs/pr/N), or train "
            "from scratch with --pretrained none"
        )
    return folder


# ---- checkpoint layouts -------------------------------------------------------------------------


def timm_vgg_to_encoder(state: dict[str, torch.Tensor], model: PreTrainedModel, part: str) -> dict[str, torch.Tensor]:
    """timm's ``vgg*_bn`` keys (``features.N`` conv, ``features.N+1`` BatchNorm) → the package's
    ``VGGEncoder`` under ``part`` (``stages.S.B.conv`` / ``.norm``), the k-th convolution to the k-th
    block in stage order; the classifier (``pre_logits``, ``head``) is left out (skipped)."""
    blocks = sorted(
        {key[len(part):].rsplit(".", 2)[0] for key in model.state_dict() if key.startswith(part) and ".conv." in key},
        key=lambda name: tuple(int(n) for n in re.findall(r"\d+", name)),
    )
    convs = sorted({int(m.group(1)) for key, t in state.items() if (m := re.fullmatch(r"features\.(\d+)\.weight", key))
                    and t.ndim == 4})
    converted: dict[str, torch.Tensor] = {}
    for block, index in zip(blocks, convs):
        for name, tensor in state.items():
            if name.startswith(f"features.{index}."):
                converted[f"{part}{block}.conv.{name.rsplit('.', 1)[1]}"] = tensor
            elif name.startswith(f"features.{index + 1}."):
                converted[f"{part}{block}.norm.{name.rsplit('.', 1)[1]}"] = tensor
    used = {f"features.{i}." for i in convs[: len(blocks)]} | {f"features.{i + 1}." for i in convs[: len(blocks)]}
    for name, tensor in state.items():  # the rest keeps its name: reported as skipped
        if not any(name.startswith(prefix) for prefix in used):
            converted[name] = tensor
    return converted


_RESNET_TO_3D = (
    (r"embedder\.embedder\.convolution\.weight", "stem.0.spatial.weight"),
    (r"embedder\.embedder\.normalization\.(\w+)", r"stem.1.\1"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.0\.convolution\.weight", r"stages.\1.\2.body.0.spatial.weight"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.0\.normalization\.(\w+)", r"stages.\1.\2.body.1.\3"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.1\.convolution\.weight", r"stages.\1.\2.body.3.spatial.weight"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.1\.normalization\.(\w+)", r"stages.\1.\2.body.4.\3"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.weight", r"stages.\1.\2.shortcut.0.weight"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(\w+)", r"stages.\1.\2.shortcut.1.\3"),
)


def resnet_to_3d(state: dict[str, torch.Tensor], model: PreTrainedModel, part: str) -> dict[str, torch.Tensor]:
    """transformers' 2-D ResNet (basic blocks) → AFCF3D's decomposed 3-D trunk under ``part``: every
    k×k kernel is the per-date spatial kernel, BatchNorm statistics carry over to ``BatchNorm3d``, and
    a 1×1 shortcut kernel gains a temporal axis of 1 (the temporal mixing is new, see the table)."""
    target = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        bare = name.split("resnet.", 1)[1] if name.startswith("resnet.") else name
        for pattern, replacement in _RESNET_TO_3D:
            if re.fullmatch(pattern, bare):
                key = part + re.sub(pattern, replacement, bare)
                if key in target and target[key].ndim == tensor.ndim + 1:
                    tensor = tensor.unsqueeze(2)
                converted[key] = tensor
                break
        else:
            converted[name] = tensor
    return converted


_CONVERTERS = {"timm-vgg": timm_vgg_to_encoder, "resnet-to-3d": resnet_to_3d}


def load_pretrained(
    model: PreTrainedModel,
    checkpoint: PretrainedCheckpoint,
    source: str | Path | None = None,
    first_layer: str = "adapt",
) -> PretrainedLoad:
    """Load ``checkpoint`` (or ``source``, a Hub id or folder that replaces its repo) into ``model``.

    Raises :class:`IncompletePretrainedLoadError` naming every parameter of ``checkpoint.part`` that
    was neither copied nor adapted (nor re-initialised as the input layer, with ``first_layer="random"``),
    leaving out the ``new_in_model`` ones.
    """
    source = str(source if source is not None else checkpoint.repo_id)
    folder = checkpoint_folder(source, None if _is_local(source) else checkpoint.revision)
    if checkpoint.layout == "transformers" or folder.is_file():
        state = read_state_dict(folder)
    else:  # a timm (or other) layout: the raw tensors, renamed by the layout's converter
        state = {key: value for file in sorted(folder.glob("*.safetensors")) for key, value in load_file(str(file)).items()}
    report = load_state(model, checkpoint, state, source, first_layer)
    return PretrainedLoad(checkpoint, source, folder, first_layer, report)


def load_state(
    model: PreTrainedModel,
    checkpoint: PretrainedCheckpoint,
    state: dict[str, torch.Tensor],
    source: str,
    first_layer: str = "adapt",
) -> AdaptationReport:
    """:func:`load_pretrained` on tensors already read (in the checkpoint's layout, with transformers'
    in-memory names): rename, load with band adaptation, check the pretrained part is complete."""
    converter = _CONVERTERS.get(checkpoint.layout)
    if converter is not None:
        state = converter(state, model, checkpoint.part[0])
    report = load_rgb_checkpoint(model, source, first_layer=first_layer, state_dict=state)
    loaded = set(report.copied) | set(report.adapted) | set(report.reinitialised)
    left = [key for key in model.state_dict()
            if key.startswith(checkpoint.part) and key not in loaded
            and not any(marker in key for marker in checkpoint.new_in_model)]
    if left:
        # the first one with the checkpoint's reason (e.g. its shape), then a few more by name
        reason = next((why for why in report.skipped.values() if f" fit {left[0]} " in why), None)
        named = left[0] + (f" (checkpoint {reason})" if reason else "") + "".join(f", {key}" for key in left[1:3])
        more = f" and {len(left) - 3} more" if len(left) > 3 else ""
        raise IncompletePretrainedLoadError(
            f"pretrained checkpoint {source}: {len(left)} parameter(s) of the pretrained part "
            f"({', '.join(checkpoint.part)}) were not loaded: {named}{more}; the checkpoint does not fit this "
            "model's configuration (train from scratch with --pretrained none, or give a matching --pretrained)"
        )
    return report
