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

__all__ = [
    "select_bands", "window_offsets", "predict_scene", "predict_archive", "add_parser",
    "predict_change_scene", "predict_change_archive", "default_year_pairs", "parse_year_pairs",
]


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
            "Example:\n  euromine predict outputs/demo/model outputs/archive outputs/pred --split test\n\n"
            "With a change detector (train.py --task change_detection) it writes change maps\n"
            "OUT/{Site}/Change{Y1}_{Y2}.tif for --pairs (default: consecutive years and first:last), the\n"
            "layout `euromine evaluate ARCHIVE OUT --task change` reads:\n"
            "  euromine predict outputs/demo/change_detection/model outputs/archive outputs/cd --pairs 2016:2017,2015:2024"
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
    parser.add_argument("--pairs", default=None, metavar="Y1:Y2,...",
                        help="change detectors only: year pairs to map, e.g. 2016:2017,2015:2024 (default: consecutive "
                             "years and first:last); writes OUT/{Site}/Change{Y1}_{Y2}.tif")
    parser.set_defaults(func=_run_by_task)
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


# ---- change detectors: whole-scene change maps -------------------------------------------------


def default_year_pairs(years: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive years, then first → last (when that is not already consecutive)."""
    years = sorted({int(y) for y in years})
    pairs = list(zip(years, years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    return pairs


def parse_year_pairs(text: str) -> list[tuple[int, int]]:
    """``"2016:2017,2015:2024"`` → ``[(2016, 2017), (2015, 2024)]`` (each pair earlier:later)."""
    pairs: list[tuple[int, int]] = []
    for item in (t.strip() for t in text.split(",")):
        parts = item.split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--pairs: expected items 'Y1:Y2' such as 2016:2017, got {item!r}")
        y1, y2 = int(parts[0]), int(parts[1])
        if y1 >= y2:
            raise ValueError(f"--pairs: expected the earlier year first, got {item!r}")
        if (y1, y2) not in pairs:
            pairs.append((y1, y2))
    if not pairs:
        raise ValueError("--pairs: expected at least one pair Y1:Y2")
    return pairs


def _normaliser(model: torch.nn.Module, band_names: Sequence[str], mean: np.ndarray, std: np.ndarray):
    """(model bands, mean, std) tensors for the channels a model was trained on."""
    model_bands = list(getattr(model.config, "band_names", band_names))
    index = [list(BANDS).index(b) if b in BANDS else None for b in model_bands]
    if any(i is None for i in index):
        raise ValueError(f"no published normalisation for bands {model_bands}")
    band_mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)[index]).view(1, -1, 1, 1)
    band_std = torch.as_tensor(np.asarray(std, dtype=np.float32)[index]).view(1, -1, 1, 1)
    return model_bands, band_mean, band_std


def _wrap_pad(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[1:]
    padded = np.take(image, np.arange(max(height, PATCH_SIZE)) % height, axis=1)
    return np.take(padded, np.arange(max(width, PATCH_SIZE)) % width, axis=2)


@torch.no_grad()
def predict_change_scene(
    model: torch.nn.Module,
    image_t1: np.ndarray,
    image_t2: np.ndarray,
    *,
    band_names: Sequence[str] = BANDS,
    batch_size: int = 16,
    stride: int | None = None,
    threshold: float = 0.5,
    mean: np.ndarray = MEAN,
    std: np.ndarray = STD,
) -> tuple[np.ndarray, np.ndarray]:
    """Change mask (uint8 {0,1}) and change probability (float32) between two co-registered scenes.

    The same windows as :func:`predict_scene` (published grid, or ``stride`` for overlaps, wrap
    padding under 160 px) are cut from both dates at the same place; the change probability of
    overlapping windows is averaged before thresholding.
    """
    images = []
    for name, image in (("image_t1", image_t1), ("image_t2", image_t2)):
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"{name} must be (bands, height, width); got shape {image.shape}")
        if not np.issubdtype(image.dtype, np.integer):
            raise ValueError(f"{name} must hold integer Sentinel-2 DN; got dtype {image.dtype}")
        images.append(image)
    if images[0].shape != images[1].shape:
        raise ValueError(f"image_t1 {images[0].shape} and image_t2 {images[1].shape}: expected the same grid")
    model_bands, band_mean, band_std = _normaliser(model, band_names, mean, std)
    first, second = (_wrap_pad(select_bands(image, model_bands, band_names)) for image in images)
    height, width = images[0].shape[1:]
    windows = [(r, c) for r in window_offsets(height, PATCH_SIZE, stride) for c in window_offsets(width, PATCH_SIZE, stride)]
    prob_sum = np.zeros(first.shape[1:], dtype=np.float32)
    hits = np.zeros(first.shape[1:], dtype=np.float32)
    device = _model_device(model)
    was_training = model.training
    model.eval()

    def window_batch(padded: np.ndarray, chunk: list[tuple[int, int]]) -> torch.Tensor:
        batch = np.stack([padded[:, r : r + PATCH_SIZE, c : c + PATCH_SIZE] for r, c in chunk]).astype(np.float32)
        return ((torch.from_numpy(batch) - band_mean) / band_std).to(device)

    try:
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            logits = model(pixel_values_t1=window_batch(first, chunk), pixel_values_t2=window_batch(second, chunk)).logits
            probability = torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()
            for (r, c), p in zip(chunk, probability):
                prob_sum[r : r + PATCH_SIZE, c : c + PATCH_SIZE] += p
                hits[r : r + PATCH_SIZE, c : c + PATCH_SIZE] += 1.0
    finally:
        model.train(was_training)
    probability = (prob_sum / np.maximum(hits, 1.0))[:height, :width]
    return (probability > threshold).astype(np.uint8), probability


def predict_change_archive(
    model: torch.nn.Module,
    archive: str | Path,
    out_dir: str | Path,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
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
    """Change maps of year pairs of every site of an archive (or of one split of it).

    Writes ``{out_dir}/{Site}/Change{Y1}_{Y2}.tif`` (uint8 0/1, CRS and transform of the t1 image;
    the layout ``euromine evaluate --task change`` reads) and, with ``save_probability``,
    ``ChangeProbability{Y1}_{Y2}.tif``. ``pairs`` default: consecutive years of ``years`` (default
    2015–2024) and first → last. Each file is written atomically.
    """
    from euromine_hf.bands import YEARS
    from euromine_hf.data.archive import read_image, scan_archive
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.splits import assign_splits

    year_list = tuple(sorted({int(y) for y in years})) if years is not None else YEARS
    pairs = list(pairs) if pairs is not None else default_year_pairs(year_list)
    needed = sorted({y for pair in pairs for y in pair})
    records = scan_archive(archive, years=needed, sites=sites)
    if split is not None:
        chosen = set(assign_splits([r.name for r in records], split_scheme, seed)[split])
        records = [r for r in records if r.name in chosen]
    if not records:
        raise ValueError(f"{archive}: no site to predict (sites={sites}, split={split})")
    out_dir = Path(out_dir)
    written: list[Path] = []
    jobs = [(record, pair) for record in records for pair in pairs]
    for record, (y1, y2) in tqdm(jobs, desc="predict change", unit="pair", disable=not progress):
        if record.layout != "raw":
            raise ValueError(f"{record.folder}: whole-scene prediction needs the raw GeoTIFF layout, found {record.layout}")
        image_t1, georef = read_image(record.image_path(y1))
        image_t2, _ = read_image(record.image_path(y2))
        if image_t1.shape != image_t2.shape:
            raise ValueError(f"{record.image_path(y2)}: shape {image_t2.shape}, expected {image_t1.shape} like "
                             f"{record.image_path(y1)} (the years of a site share one grid)")
        mask, probability = predict_change_scene(model, image_t1, image_t2, batch_size=batch_size, stride=stride)
        written.append(write_geotiff(out_dir / record.name / f"Change{y1}_{y2}.tif", mask, georef["crs"], georef["transform"]))
        if save_probability:
            written.append(write_geotiff(out_dir / record.name / f"ChangeProbability{y1}_{y2}.tif", probability,
                                         georef["crs"], georef["transform"]))
    return written


def _is_change_detector(model: str) -> bool:
    """Whether a model folder (or Hub id) holds a change detector, from its config alone."""
    import euromine_hf.models  # noqa: F401  (registers the model types)
    from transformers import AutoConfig

    if Path(model).is_dir():  # a damaged folder: name the file and field (AutoConfig would ask for remote code)
        from euromine_hf.models.loading import check_model_folder

        check_model_folder(model)
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{model}: could not read the model's config.json: {error}") from error
    return getattr(config, "task", "segmentation") == "change_detection"


def _run_by_task(args: argparse.Namespace) -> int:
    """``euromine predict``: yearly mine maps for a segmenter, change maps for a detector."""
    if not _is_change_detector(args.model):
        if args.pairs is not None:
            raise ValueError(f"--pairs: {args.model} is a segmenter (it maps years); --pairs needs a change detector")
        return _run(args)
    from euromine_hf.models.registry import AutoModelForChangeDetection

    pairs = parse_year_pairs(args.pairs) if args.pairs is not None else None
    if Path(args.model).exists():
        from euromine_hf.models.loading import check_model_folder

        check_model_folder(args.model)  # a bad folder names the file, as for segmenters
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForChangeDetection.from_pretrained(args.model).to(device)
    paths = predict_change_archive(
        model, args.archive, args.out, pairs=pairs, sites=args.sites, years=args.years, split=args.split,
        split_scheme=args.split_scheme, seed=args.seed, batch_size=args.batch_size, stride=args.stride,
        save_probability=args.probability,
    )
    print(f"wrote {len(paths)} change rasters under {args.out}")
    return 0
