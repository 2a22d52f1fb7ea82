"""``euromine predict``: the sub-command's parser and glue (task from the config, plan, load, run).

The model's task is read from its config and the destination checked before any weights load, so
a wrong output folder costs a second, not a model load. Imports stay light (no torch) until the
command runs, so ``euromine predict --help`` is fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from euromine_hf.bands import PATCH_SIZE
from euromine_hf.inference.band_order import model_band_names, parse_band_order
from euromine_hf.inference.change_detection import CHANGE_DETECTION, parse_year_pairs
from euromine_hf.inference.driver import run_jobs
from euromine_hf.inference.forward import check_threshold
from euromine_hf.inference.jobs import PredictionTask
from euromine_hf.inference.normalisation import model_normalisation
from euromine_hf.inference.plan import plan
from euromine_hf.inference.tasks import task_of_config

__all__ = ["add_parser", "load_any", "task_of_model_source", "run"]


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """The ``predict`` parser; option values are checked as they are parsed (one line, exit 2)."""
    from euromine_hf.options import POSITIVE, SEED, checked, device_type, int_range

    parser = subparsers.add_parser(
        name,
        help=summary,
        description=(
            "Map whole scenes with a trained model: yearly mine maps (segmenter), change maps (change detector),\n"
            "or both from one pass over a scene's whole series (series model, e.g. utae-series).\n\n"
            "MODEL is a folder written by train.py / save_pretrained (or a Hub id when online).\n"
            "INPUT is an archive ({Site}/image/Year{YYYY}.tif; labels not needed), one site folder, a folder\n"
            "of Year{YYYY}.tif images, or one GeoTIFF (any years). Bands are matched by the GeoTIFF's band\n"
            "descriptions (B02, B03, ...; every band, each once) when present, else the published 10-band order\n"
            "is assumed; --band-order states the order for files whose descriptions say otherwise.\n\n"
            "Writes Cloud-Optimised GeoTIFFs georeferenced like the input: OUT/{Site}/Year{YYYY}.tif for\n"
            "sites (the layout `euromine evaluate ARCHIVE OUT` reads), OUT/Year{YYYY}.tif for a folder or a file\n"
            "(OUT/{name}_mine.tif for a file whose name states no year);\n"
            "0 background, 1 mine, 255 no input data; colour table, overviews, tags naming model/years/bands.\n"
            "OUT may not be an input or lie inside the input folder; existing maps are kept unless --overwrite\n"
            "(which replaces only maps euromine predict wrote, as listed in .euromine-predict.json beside them).\n\n"
            "Examples:\n"
            "  euromine predict outputs/demo/model outputs/archive outputs/pred --split test\n"
            "  euromine predict outputs/demo/model scene/Year2023.tif maps --probabilities\n"
            "  euromine predict outputs/demo/change_detection/model outputs/archive outputs/cd --pairs 2016:2017,2015:2024\n"
            "  euromine predict outputs/demo/change_detection/model a/Year2019.tif maps --t2 a/Year2023.tif\n"
            "  euromine predict SERIES_MODEL site/image maps --pairs all   # Year{YYYY}.tif + Change{Y1}_{Y2}.tif"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model folder or Hub id")
    parser.add_argument("input", help="archive, site folder, folder of Year{YYYY}.tif images, or one GeoTIFF")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--split", choices=("train", "validation", "test"), default=None, help="archives: only the sites of this split")
    parser.add_argument("--split-scheme", default="auto", choices=("auto", "official", "random"))
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random split scheme")
    parser.add_argument("--sites", nargs="+", default=None, help="archives: only these sites")
    parser.add_argument("--years", nargs="+", type=int, default=None, help="only these years (default: every year found)")
    parser.add_argument("--batch-size", type=POSITIVE, default=16)
    parser.add_argument("--stride", type=int_range(1, PATCH_SIZE), default=None, help="window step in pixels (default 160, the published grid; 80 averages overlaps)")
    parser.add_argument("--threshold", type=checked(check_threshold), default=0.5,
                        help="probability above which a pixel is mine/change, strictly between 0 and 1 (default 0.5)")
    parser.add_argument("--band-order", type=checked(parse_band_order), default=None, metavar="B02,B03,...",
                        help="the input files' band order as 10 comma-separated band names; overrides band descriptions "
                             "(needed where they are missing, repeated or unknown); recorded in the maps' tags")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing maps in OUT, but only ones euromine predict wrote there and nobody changed since "
                             "(listed in .euromine-predict.json beside them); anything else is kept and the run refused")
    parser.add_argument("--probabilities", "--probability", dest="probability", action="store_true",
                        help="also write the probability (uint8 percent 0-100, 255 nodata): Probability{YYYY}.tif / ChangeProbability{Y1}_{Y2}.tif")
    parser.add_argument("--device", type=device_type, default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--pairs", default=None, metavar="Y1:Y2,...|all",
                        help="change detectors and series models, folders: year pairs to map, e.g. 2016:2017,2015:2024, or 'all' (every pair "
                             "of the years found: the 45 a change-detection submission needs); default: consecutive "
                             "years and first:last; writes Change{Y1}_{Y2}.tif")
    parser.add_argument("--t2", default=None, metavar="OTHER.tif",
                        help="change detectors, INPUT a single GeoTIFF: the later image (same grid)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the Python code a non-euromine model folder ships (its config's auto_map); "
                             "without it such a folder is refused. Only for sources you trust")
    parser.set_defaults(func=run)
    return parser


def load_any(path: str, trust_remote_code: bool = False) -> Any:
    """A segmenter or change detector through :func:`euromine_hf.models.loading.load_model`."""
    from euromine_hf.models.loading import load_model

    return load_model(path, trust_remote_code=trust_remote_code)  # picks the Auto class from the config's task


def task_of_model_source(model: str, trust_remote_code: bool = False) -> PredictionTask:
    """The prediction task of a model folder (or Hub id), from its config alone."""
    import euromine_hf.models  # noqa: F401  (registers the model types)
    from transformers import AutoConfig

    from euromine_hf.models.loading import check_model_folder, check_remote_code, hub_config, is_local_path

    # a damaged or missing folder, or foreign code: name the file and field, before transformers imports any class
    local = is_local_path(model)
    raw = check_model_folder(model, trust_remote_code) if local else hub_config(model)
    remote = check_remote_code(raw, Path(model) / "config.json" if local else model, trust_remote_code)
    try:  # an explicit trust_remote_code: transformers never prompts
        config = AutoConfig.from_pretrained(model, trust_remote_code=remote)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{model}: could not read the model's config.json: {error}") from error
    return task_of_config(config)


def run(args: argparse.Namespace) -> int:
    """``euromine predict``: yearly mine maps for a segmenter, change maps for a detector."""
    from euromine_hf.threads import sleep_while_waiting_if_busy

    sleep_while_waiting_if_busy()  # before torch is imported (euromine_hf/threads.py)
    import torch

    task = task_of_model_source(args.model, args.trust_remote_code)
    if args.pairs is not None and not task.takes_pairs:
        raise ValueError(f"--pairs: {args.model} is a segmenter (it maps years); --pairs needs a change detector")
    pairs = parse_year_pairs(args.pairs) if args.pairs is not None else None
    jobs = plan(task, Path(args.input), Path(args.out), t2=args.t2, pairs=pairs, years=args.years, sites=args.sites,
                split=args.split, split_scheme=args.split_scheme, seed=args.seed, save_probability=args.probability,
                overwrite=args.overwrite, model_name=str(args.model),
                model_folder=Path(args.model) if Path(args.model).is_dir() else None)  # before any weights are loaded
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_any(args.model, args.trust_remote_code).to(device)
    # checked (the processor file's fields) and said once, before any map folder is touched
    print(model_normalisation(model, model_band_names(model)).describe(str(args.model)))
    paths = run_jobs(model, jobs, save_probability=args.probability, batch_size=args.batch_size, stride=args.stride,
                     threshold=args.threshold, model_name=str(args.model), progress=True, band_order=args.band_order)
    what = {CHANGE_DETECTION.name: "change rasters", "multitemporal": "rasters (yearly and change maps)"}.get(task.name, "rasters")
    print(f"wrote {len(paths)} {what} under {args.out}")
    return 0
