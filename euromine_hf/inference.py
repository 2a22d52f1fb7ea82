"""Whole-scene prediction: a trained segmenter → one mine map per site and year, as GeoTIFF.

Scenes are cut into 160×160 windows on the published grid (edge-aligned last row/column, wrap
padding for sites under 160 px), or on a denser grid with ``stride < 160``; the mine probability
of overlapping windows is averaged before thresholding, so seams between windows do not show.
Outputs keep the CRS and transform of the input image and follow the prediction-folder layout
that ``euromine evaluate`` and ``euromine stats`` read (``{out}/{Site}/Year{YYYY}.tif``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from euromine_hf.bands import BANDS, MEAN, PATCH_SIZE, STD

logger = logging.getLogger(__name__)

__all__ = ["select_bands", "window_offsets", "predict_scene", "predict_archive", "add_parser"]


def select_bands(image: np.ndarray, band_names: Sequence[str], source_bands: Sequence[str] = BANDS) -> np.ndarray:
    """The channels of a ``source_bands`` image that a model with ``band_names`` expects, in its order."""
    missing = [b for b in band_names if b not in source_bands]
    if missing:
        raise ValueError(
            f"model expects bands {list(band_names)}; {missing} are not among the image's bands {list(source_bands)}"
        )
    if image.shape[0] != len(source_bands):
        raise ValueError(f"image has {image.shape[0]} bands; expected {len(source_bands)} ({', '.join(source_bands)})")
    if list(band_names) == list(source_bands):
        return image
    return image[[list(source_bands).index(b) for b in band_names]]


def window_offsets(length: int, size: int = PATCH_SIZE, stride: int | None = None) -> list[int]:
    """Window starts along one axis: every ``stride`` pixels, the last one aligned to the edge.

    With ``stride == size`` this is the published patch grid. A length under ``size`` gives ``[0]``
    (the scene is wrap-padded to ``size`` first).
    """
    stride = size if stride is None else int(stride)
    if not 0 < stride <= size:
        raise ValueError(f"stride must be in 1..{size}, got {stride}")
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict_scene(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    band_names: Sequence[str] = BANDS,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Mine mask (uint8 {0,1}) and mine probability (float32) for a whole scene ``(bands, H, W)``.

    ``image`` holds Sentinel-2 DN in ``band_names`` order; the model's ``config.band_names`` pick
    the channels it was trained on, normalised with the published per-band mean/std.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be (bands, height, width); got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.integer):
        raise ValueError(f"image must hold integer Sentinel-2 DN; got dtype {image.dtype}")
    model_bands = list(getattr(model.config, "band_names", band_names))
    image = select_bands(image, model_bands, band_names)
    index = [list(BANDS).index(b) if b in BANDS else None for b in model_bands]
    if any(i is None for i in index):
        raise ValueError(f"no published normalisation for bands {model_bands}")
    band_mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)[index]).view(1, -1, 1, 1)
    band_std = torch.as_tensor(np.asarray(std, dtype=np.float32)[index]).view(1, -1, 1, 1)

    height, width = image.shape[1:]
    padded = np.take(image, np.arange(max(height, PATCH_SIZE)) % height, axis=1)
    padded = np.take(padded, np.arange(max(width, PATCH_SIZE)) % width, axis=2)
    windows = [(r, c) for r in window_offsets(height, PATCH_SIZE, stride) for c in window_offsets(width, PATCH_SIZE, stride)]
    prob_sum = np.zeros(padded.shape[1:], dtype=np.float32)
    hits = np.zeros(padded.shape[1:], dtype=np.float32)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            batch = np.stack([padded[:, r : r + PATCH_SIZE, c : c + PATCH_SIZE] for r, c in chunk]).astype(np.float32)
            pixel_values = ((torch.from_numpy(batch) - band_mean) / band_std).to(device)
            logits = model(pixel_values=pixel_values).logits.float()
            probability = torch.softmax(logits, dim=1)[:, 1].cpu().numpy()
            for (r, c), p in zip(chunk, probability):
                prob_sum[r : r + PATCH_SIZE, c : c + PATCH_SIZE] += p
                hits[r : r + PATCH_SIZE, c : c + PATCH_SIZE] += 1.0
    finally:
        model.train(was_training)
    probability = (prob_sum / np.maximum(hits, 1.0))[:height, :width]
    return (probability > threshold).astype(np.uint8), probability


def predict_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    sites: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    batch_size: int = 16,
    stride: int | None = None,
    save_probability: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Predict every (site, year) of an archive (or of one split of it) into ``out_dir``.

    Writes ``{out_dir}/{Site}/Year{YYYY}.tif`` (uint8 0/1, CRS and transform of the input) and, with
    ``save_probability``, ``{Site}/Probability{YYYY}.tif`` (float32). Each file is written
    atomically, so an interrupted run leaves only whole rasters.
    """
    from euromine_hf.bands import YEARS
    from euromine_hf.data.archive import read_image, scan_archive
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.splits import assign_splits

    year_list = tuple(years) if years is not None else YEARS
    records = scan_archive(archive, years=year_list, sites=sites)
    if split is not None:
        chosen = set(assign_splits([r.name for r in records], split_scheme, seed)[split])
        records = [r for r in records if r.name in chosen]
    if not records:
        raise ValueError(f"{archive}: no site to predict (sites={sites}, split={split})")
    out_dir = Path(out_dir)
    written: list[Path] = []
    jobs = [(record, year) for record in records for year in year_list]
    for record, year in tqdm(jobs, desc="predict", unit="scene", disable=not progress):
        if record.layout != "raw":
            raise ValueError(f"{record.folder}: whole-scene prediction needs the raw GeoTIFF layout, found {record.layout}")
        image, georef = read_image(record.image_path(year), (record.height, record.width))  # header checked first
        mask, probability = predict_scene(model, image, batch_size=batch_size, stride=stride)
        target = out_dir / record.name / f"Year{year}.tif"
        written.append(write_geotiff(target, mask, georef["crs"], georef["transform"]))
        if save_probability:
            written.append(
                write_geotiff(out_dir / record.name / f"Probability{year}.tif", probability, georef["crs"], georef["transform"])
            )
    return written


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=(
            "Predict yearly mine maps of whole scenes with a trained segmenter.\n\n"
            "MODEL is a folder written by train.py / save_pretrained (or a Hub id when online).\n"
            "Writes OUT/{Site}/Year{YYYY}.tif (0/1, georeferenced like the input), the layout that\n"
            "`euromine evaluate ARCHIVE OUT` and `euromine stats OUT --archive ARCHIVE` read.\n\n"
            "Example:\n  euromine predict outputs/demo/model outputs/archive outputs/pred --split test"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder or Hub id")
    parser.add_argument("archive", help="archive folder in the raw GeoTIFF layout")
    parser.add_argument("out", help="output prediction folder")
    parser.add_argument("--split", choices=("train", "validation", "test"), default=None, help="only the sites of this split")
    parser.add_argument("--split-scheme", default="auto", choices=("auto", "official", "random"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random split scheme")
    parser.add_argument("--sites", nargs="+", default=None, help="only these sites")
    parser.add_argument("--years", nargs="+", type=int, default=None, help="only these years (default 2015-2024)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--stride", type=int, default=None, help="window step in pixels (default 160, the published grid; 80 averages overlaps)")
    parser.add_argument("--probability", action="store_true", help="also write the mine probability as float32 GeoTIFF")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from euromine_hf.models.loading import load_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model).to(device)  # a bad folder is a ValueError naming the file
    paths = predict_archive(
        model, args.archive, args.out, sites=args.sites, years=args.years, split=args.split,
        split_scheme=args.split_scheme, seed=args.seed, batch_size=args.batch_size, stride=args.stride,
        save_probability=args.probability,
    )
    print(f"wrote {len(paths)} rasters under {args.out}")
    return 0
