"""Start a 10-band model from an RGB checkpoint.

Sentinel-2 B04/B03/B02 are red/green/blue, so those input channels take the RGB filters of the
checkpoint's first convolution; every other band starts from the mean of the three RGB filters.
The result is scaled by 3/C (the rule segmentation_models_pytorch uses in ``patch_first_conv``),
which keeps the first layer's activation scale only if the bands move together. Normalised
Sentinel-2 bands do not: on the synthetic default the mean inter-band correlation is 0.44 and
visible vs near-infrared bands are anti-correlated (B02–B8A −0.28; the real archive: mean 0.46,
B04–B08 −0.15). Measured with ``python bench/band_adaptation.py``, the adapted 10-band layer's
activations have 0.57× (10th–90th percentile 0.40–0.74) the standard deviation of the original
RGB layer on the RGB bands for random filters, and 0.59× for luminance-like filters (the three
RGB weights close, as most ImageNet first-layer filters are). BatchNorm (or LayerNorm) right after
the first layer absorbs that constant factor in every model of the zoo; what carries over is the
filters' spatial structure, not their absolute response.

Early-fusion change detectors (FC-EF, FCN-PP, RDP-Net) stack both dates into one input of 2×C
channels, date 1's bands first. Their first layer is adapted per date (:func:`adapt_rgb_pair_weight`):

* from a 6-channel early-fusion RGB checkpoint ([R, G, B] of date 1, then of date 2), each half is
  adapted as above, date 1's filters to date 1's C bands and date 2's to date 2's;
* from a 3-channel (single-image) RGB checkpoint, both dates get the same adapted filter, halved:
  a pair of two identical images then gives exactly the RGB layer's response to that one image
  (the activations keep their size), and the layer starts symmetric in the dates, leaving it to
  training to learn the date-1/date-2 contrast that change needs (an initial t2 − t1 difference
  filter would answer nothing on unchanged ground, where most pixels are).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import PreTrainedModel

from euromine_hf.bands import RGB_BANDS

logger = logging.getLogger(__name__)


def adapt_rgb_weight(
    weight: torch.Tensor, band_names: Sequence[str], rgb_bands: Sequence[str] = RGB_BANDS
) -> torch.Tensor:
    """Map an RGB first-layer weight ``(O, 3, ...)`` onto ``band_names`` → ``(O, len(band_names), ...)``."""
    if weight.ndim < 2 or weight.shape[1] != 3:
        raise ValueError(f"expected an RGB weight with 3 input channels in dim 1, got shape {tuple(weight.shape)}")
    mean_filter = weight.mean(dim=1)
    channels = []
    for band in band_names:
        if band in rgb_bands:
            channels.append(weight[:, list(rgb_bands).index(band)])
        else:
            channels.append(mean_filter)
    adapted = torch.stack(channels, dim=1)
    return adapted * (3.0 / len(band_names))


def adapt_rgb_pair_weight(
    weight: torch.Tensor, band_names: Sequence[str], rgb_bands: Sequence[str] = RGB_BANDS
) -> torch.Tensor:
    """Map an RGB first-layer weight onto an early-fusion layer of two dates → ``(O, 2·len(band_names), ...)``.

    ``weight`` has 6 input channels (date 1's R, G, B, then date 2's: each half is adapted with
    :func:`adapt_rgb_weight`) or 3 (one image's: the same adapted filter for both dates, × 1/2 so a
    pair of identical images gives the RGB filter's response to one of them).
    """
    if weight.ndim < 2 or weight.shape[1] not in (3, 6):
        raise ValueError(f"expected an RGB weight with 3 or 6 (two dates) input channels in dim 1, got shape "
                         f"{tuple(weight.shape)}")
    if weight.shape[1] == 6:
        halves = (adapt_rgb_weight(weight[:, :3], band_names, rgb_bands), adapt_rgb_weight(weight[:, 3:], band_names, rgb_bands))
    else:
        half = adapt_rgb_weight(weight, band_names, rgb_bands) * 0.5
        halves = (half, half.clone())
    return torch.cat(halves, dim=1)


def adapt_rgb_rows(tensor: torch.Tensor, band_names: Sequence[str], rgb_bands: Sequence[str] = RGB_BANDS) -> torch.Tensor:
    """Map a *band-indexed* RGB tensor (one row per input band in dim 0, e.g. a grouped convolution
    with one group per band, or its bias) onto ``band_names`` → ``(len(band_names), ...)``.

    Each row acts on its own band only, so nothing is summed over bands and no 3/C scaling applies:
    an RGB band takes its row, every other band the mean of the three rows.
    """
    if tensor.ndim < 1 or tensor.shape[0] != 3:
        raise ValueError(f"expected a band-indexed RGB tensor with 3 rows in dim 0, got shape {tuple(tensor.shape)}")
    mean_row = tensor.mean(dim=0)
    return torch.stack(
        [tensor[list(rgb_bands).index(band)] if band in rgb_bands else mean_row for band in band_names], dim=0
    )


@dataclass
class AdaptationReport:
    """What :func:`load_rgb_checkpoint` did with each tensor of the checkpoint."""

    copied: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    #: input layers left at the model's random initialisation (``first_layer="random"``, the authors' choice)
    reinitialised: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    #: model tensor → the checkpoint tensor it came from (copied, adapted or re-initialised ones)
    origin: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready lists (``pretrained_load_report.json``)."""
        return {"copied": list(self.copied), "adapted": list(self.adapted), "reinitialised": list(self.reinitialised),
                "skipped": dict(self.skipped), "missing": list(self.missing), "origin": dict(self.origin)}


def read_state_dict(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint folder/file (safetensors), or of a Hub model id when online.

    A folder with a ``config.json`` of a known architecture is loaded through transformers, because
    transformers 5 renames some architectures' keys (Segformer, Swin) only inside ``from_pretrained``:
    the raw safetensors names would not match the in-memory modules.
    """
    from euromine_hf.models.loading import is_local_path

    path = Path(checkpoint)
    if path.is_file():
        try:
            return load_file(str(path))
        except SafetensorError as error:
            raise ValueError(
                f"{path}: RGB checkpoint: expected a safetensors file (pickled .pth/.bin files are not read; "
                f"convert with safetensors.torch.save_file), {error}"
            ) from None
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.safetensors file in this checkpoint folder")
        model = _load_with_transformers(path)
        if model is not None:
            return {key: value.detach() for key, value in model.state_dict().items()}
        state: dict[str, torch.Tensor] = {}
        for file in files:
            state.update(load_file(str(file)))
        return state
    if is_local_path(checkpoint) or path.suffix in (".safetensors", ".pt", ".pth", ".bin", ".ckpt"):
        raise FileNotFoundError(f"{path}: RGB checkpoint: expected a safetensors file or model folder, found no such path")
    # A Hub id: needs a network (or a Hub-compatible endpoint); never used by the demo.
    from huggingface_hub import snapshot_download

    local = snapshot_download(str(checkpoint), allow_patterns=["*.safetensors", "*.json"])
    return read_state_dict(local)


def _load_with_transformers(path: Path) -> PreTrainedModel | None:
    """The checkpoint as its own transformers class, or None when its config is not one transformers knows."""
    if not (path / "config.json").is_file():
        return None
    import transformers
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)  # never a prompt, never its code
    except (ValueError, KeyError, OSError, ImportError):  # ImportError: a timm config (TimmWrapperConfig needs timm)
        return None
    architecture = (getattr(config, "architectures", None) or [None])[0]
    model_class = getattr(transformers, architecture, None) if isinstance(architecture, str) else None
    if not (isinstance(model_class, type) and issubclass(model_class, PreTrainedModel)):
        from euromine_hf.models.registry import MODEL_ZOO

        model_class = next((s.model_class for s in MODEL_ZOO.values() if s.model_class.__name__ == architecture), AutoModel)
    return model_class.from_pretrained(str(path), config=config)


def _match_key(ckpt_key: str, model_keys: Mapping[str, torch.Tensor], suffix_index: dict[str, list[str]]) -> str | None:
    """Find the model key for a checkpoint key, tolerating different wrapper prefixes on either side."""
    if ckpt_key in model_keys:
        return ckpt_key
    parts = ckpt_key.split(".")
    for start in range(len(parts) - 1):
        tail = ".".join(parts[start:])
        hits = suffix_index.get(tail, [])
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return None
    return None


FIRST_LAYER_MODES = ("adapt", "random")


def load_rgb_checkpoint(
    model: PreTrainedModel,
    checkpoint: str | Path,
    band_names: Sequence[str] | None = None,
    *,
    first_layer: str = "adapt",
    state_dict: Mapping[str, torch.Tensor] | None = None,
) -> AdaptationReport:
    """Load an RGB checkpoint into ``model``, adapting 3-channel input layers to the model's bands
    (and 3- or 6-channel ones to an early-fusion detector's two dates of bands, and the parameters a
    model lists in ``band_indexed_parameters`` — one row per band — row by row).

    Keys are matched exactly or by their longest unique dotted suffix, so a checkpoint of the bare
    backbone (e.g. a ``SegformerModel`` or ``ResNetModel`` folder) loads into the wrapped model.
    ``first_layer="random"`` leaves those input layers at the model's own random initialisation
    (what the EuroMineNet authors did for 10 bands) and lists them as ``reinitialised``.
    ``state_dict`` gives the checkpoint's tensors already read (and renamed) by the caller;
    ``checkpoint`` then only names it in messages.
    """
    if first_layer not in FIRST_LAYER_MODES:
        raise ValueError(f"first_layer must be one of {FIRST_LAYER_MODES}; got {first_layer!r}")
    band_names = list(band_names or model.config.band_names)
    band_indexed = set(getattr(model, "band_indexed_parameters", ()))
    source = dict(state_dict) if state_dict is not None else read_state_dict(checkpoint)
    target = model.state_dict()
    suffix_index: dict[str, list[str]] = {}
    for key in target:
        parts = key.split(".")
        for start in range(len(parts)):
            suffix_index.setdefault(".".join(parts[start:]), []).append(key)
    report = AdaptationReport()
    new_state: dict[str, torch.Tensor] = {}
    for ckpt_key, tensor in source.items():
        model_key = _match_key(ckpt_key, target, suffix_index)
        if model_key is None:
            report.skipped[ckpt_key] = "no unique matching parameter in the model"
            continue
        want = target[model_key]
        report.origin[model_key] = ckpt_key
        if tuple(tensor.shape) == tuple(want.shape):
            new_state[model_key] = tensor.to(want.dtype)
            report.copied.append(model_key)
        elif (
            model_key in band_indexed
            and tensor.ndim == want.ndim
            and tensor.shape[0] == 3
            and want.shape[0] == len(band_names)
            and tensor.shape[1:] == want.shape[1:]
        ):  # one row per input band (e.g. TinyCD's per-band date mixing)
            new_state[model_key] = adapt_rgb_rows(tensor, band_names).to(want.dtype)
            report.adapted.append(model_key)
        elif (
            tensor.ndim == want.ndim
            and tensor.ndim >= 2
            and tensor.shape[1] == 3
            and want.shape[1] == len(band_names)
            and tensor.shape[0] == want.shape[0]
            and tensor.shape[2:] == want.shape[2:]
        ):
            new_state[model_key] = adapt_rgb_weight(tensor, band_names).to(want.dtype)
            report.adapted.append(model_key)
        elif (
            tensor.ndim == want.ndim
            and tensor.ndim >= 2
            and tensor.shape[1] in (3, 6)
            and want.shape[1] == 2 * len(band_names)
            and tensor.shape[0] == want.shape[0]
            and tensor.shape[2:] == want.shape[2:]
        ):  # an early-fusion first layer: both dates' bands stacked
            new_state[model_key] = adapt_rgb_pair_weight(tensor, band_names).to(want.dtype)
            report.adapted.append(model_key)
        else:
            del report.origin[model_key]
            report.skipped[ckpt_key] = f"shape {tuple(tensor.shape)} does not fit {model_key} {tuple(want.shape)}"
    if first_layer == "random":  # the input layers keep the model's random initialisation
        for key in report.adapted:
            del new_state[key]
        report.reinitialised, report.adapted = report.adapted, []
    if not (report.adapted or report.reinitialised) and len(band_names) != 3:
        raise ValueError(
            f"{checkpoint}: found no 3-channel input layer to adapt to {len(band_names)} bands; "
            "is this an RGB checkpoint of the same backbone?"
        )
    if not new_state:
        raise ValueError(f"{checkpoint}: no tensor of the checkpoint matches the model's parameters")
    model.load_state_dict(new_state, strict=False)
    report.missing = sorted(set(target) - set(new_state) - set(report.reinitialised))
    logger.info(
        "RGB checkpoint %s: %d copied, %d adapted to %d bands, %d re-initialised at random, %d skipped, "
        "%d model tensors left as initialised",
        checkpoint, len(report.copied), len(report.adapted), len(band_names), len(report.reinitialised),
        len(report.skipped), len(report.missing),
    )
    return report
