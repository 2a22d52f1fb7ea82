"""``euromine evaluate``: score a folder of predictions against one split of an archive and write
the paper-shaped tables (Markdown, CSV, JSON), the full score dictionaries and, on request,
qualitative error maps.

Prediction folders (ARCHITECTURE.md): per-year mine maps ``{pred}/{Site}/Year{YYYY}.tif`` (whole
site, {0,1} or {0,255}) or ``{pred}/{Site}/{YYYY}/Patch{n}.npy|png`` (160×160, the site's patch
order) — used by ``--task mapping`` and ``--task post-classification``. For ``--task change`` the
folder holds change maps per year pair: ``{pred}/{Site}/Change{Y1}_{Y2}.tif`` or
``{pred}/{Site}/{Y1}_{Y2}/Patch{n}.npy|png``.
"""

from __future__ import annotations

import argparse
import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from euromine_hf.bands import YEARS
from euromine_hf.metrics.scores import EMPTY_RULES, PROTOCOLS

__all__ = ["add_parser", "run", "evaluate_folder"]

DESCRIPTION = """Score predictions against the ground truth of one split of an archive.

Examples:
  euromine evaluate outputs/archive outputs/preds --split test
  euromine evaluate outputs/archive outputs/cd_preds --task change --protocol all --paper
  euromine evaluate outputs/archive outputs/preds --task post-classification --maps 5

Prediction folders: mine maps per year (mapping, post-classification) as {Site}/Year{YYYY}.tif
(whole site, 0/1 or 0/255) or {Site}/{YYYY}/Patch{n}.npy|png (160x160, the site's patch order);
change maps per pair (change) as {Site}/Change{Y1}_{Y2}.tif or {Site}/{Y1}_{Y2}/Patch{n}.npy|png.

Protocols: site (paper default: per whole-site raster, pixel-weighted mean over sites), micro
(counts pooled over all pixels, as the publishers' scripts), patch (mean over 160x160 patches),
or all. Tables go to OUTPUT/table{4,5,6}_<task>.{md,csv,json}; scores to OUTPUT/scores.json."""

_PATCH_FILE = re.compile(r"^Patch(\d+)\.(npy|png)$", re.IGNORECASE)


def add_parser(subparsers: Any, name: str, summary: str) -> argparse.ArgumentParser:
    from euromine_hf.options import NON_NEGATIVE, SEED

    parser = subparsers.add_parser(
        name, help=summary, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("archive", help="archive folder (raw GeoTIFF or cropped .npy layout)")
    parser.add_argument("predictions", help="prediction folder (layouts above)")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"), help="split to score (default: test)")
    parser.add_argument("--split-scheme", default="auto", choices=("auto", "official", "random"), help="how sites are split (default: auto)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random split scheme")
    parser.add_argument("--task", default="mapping", choices=("mapping", "change", "post-classification"))
    parser.add_argument("--protocol", default="site", choices=PROTOCOLS + ("all",), help="scoring protocol (default: site)")
    parser.add_argument("--empty", default="skip", choices=EMPTY_RULES, help="rule for empty denominators (default: skip)")
    parser.add_argument("--model", default=None, help="row label in the tables (default: the prediction folder's name)")
    parser.add_argument("--paper", action="store_true", help="put the paper's reported numbers beside ours: the row of --model, or every row of the task without --model")
    parser.add_argument("--output", default="outputs/evaluate", help="folder for tables, scores and maps")
    parser.add_argument("--maps", type=NON_NEGATIVE, default=0, metavar="N", help="write error maps (PNG) for the first N site-years / pairs")
    parser.set_defaults(func=run)
    return parser


def _change_patches(pred_dir: Path, site: Any, y1: int, y2: int) -> np.ndarray:
    """Change prediction of a pair as patches (N, 160, 160) in the site's patch order."""
    from euromine_hf.data.archive import ArchiveError, read_label_patch, read_prediction_raster
    from euromine_hf.data.patching import extract_patches

    folder = pred_dir / site.name
    tif = folder / f"Change{y1}_{y2}.tif"
    sub = folder / f"{y1}_{y2}"
    if tif.is_file():
        return extract_patches(read_prediction_raster(tif, site, f"years {y1}-{y2}"))[0]
    files = {int(m.group(1)): p for p in (sub.iterdir() if sub.is_dir() else ()) if (m := _PATCH_FILE.match(p.name))}
    if sorted(files) != list(range(site.num_patches)):
        raise ArchiveError(folder, f"change prediction {y1}-{y2}", f"Change{y1}_{y2}.tif or {y1}_{y2}/Patch0..{site.num_patches - 1}.npy|png", f"{len(files)} patch files" if files else "no such file")
    return np.stack([read_label_patch(files[i]) for i in range(site.num_patches)])


def _keys(site: Any) -> dict[str, Any]:
    offsets = np.asarray(site.offsets, np.int64).reshape(-1, 2)
    return dict(
        sites=site.name, patches=np.arange(len(offsets)), rows=offsets[:, 0], cols=offsets[:, 1],
        site_heights=site.height, site_widths=site.width,
    )


def evaluate_folder(
    archive: str | Path,
    predictions: str | Path,
    split: str = "test",
    task: str = "mapping",
    split_scheme: str = "auto",
    seed: int = 0,
    years: tuple[int, ...] = YEARS,
    maps_dir: Path | None = None,
    max_maps: int = 0,
    maps_out: list[tuple[Path, np.ndarray, str]] | None = None,
) -> Any:
    """Score ``predictions`` on the ``split`` sites of ``archive``; returns the filled scorer.

    Error maps go to ``maps_dir`` as they are made, or, with ``maps_out``, are appended there as
    ``(path, rgb, title)`` for the caller to write once every output has been checked."""
    from euromine_hf.data.archive import (
        ArchiveError,
        read_label_patches,
        read_prediction,
        read_prediction_patches,
        read_site_label,
        scan_archive,
        scan_predictions,
    )
    from euromine_hf.data.splits import assign_splits
    from euromine_hf.metrics.change import ChangeScorer
    from euromine_hf.metrics.maps import error_map, pair_error_map, save_error_map
    from euromine_hf.metrics.mapping import MappingScorer, PostClassificationScorer

    def save_map(path: Path, rgb: np.ndarray, title: str) -> None:
        if maps_out is not None:
            maps_out.append((path, rgb, title))
        else:
            save_error_map(path, rgb, legend=True, title=title)

    pred_dir = Path(predictions)
    all_sites = scan_archive(archive, years)
    chosen = set(assign_splits([s.name for s in all_sites], split_scheme, seed=seed).get(split, []))
    sites = [s for s in all_sites if s.name in chosen]
    if not sites:
        raise ArchiveError(Path(archive), f"sites of split {split!r}", "at least one site", "none")
    maps_left = max_maps if maps_dir is not None else 0

    if task == "change":
        scorer = ChangeScorer(years=years)
        for site in sites:
            labels = {y: read_label_patches(site, y) for y in years}
            for y1, y2 in combinations(years, 2):
                pred = _change_patches(pred_dir, site, y1, y2)
                ref = labels[y1] ^ labels[y2]
                if pred.shape != ref.shape:
                    raise ArchiveError(pred_dir / site.name, f"change {y1}-{y2} patches", f"shape {ref.shape}", pred.shape)
                scorer.add(pred, ref, year_t1=y1, year_t2=y2, **_keys(site))
                if maps_left > 0:
                    from euromine_hf.data.patching import reconstruct

                    if site.size_known:
                        rgb = error_map(reconstruct(pred, site.offsets, site.height, site.width), read_site_label(site, y1) ^ read_site_label(site, y2))
                        save_map(maps_dir / f"{site.name}_{y1}_{y2}.png", rgb, f"{site.name} {y1}-{y2}")
                        maps_left -= 1
        return scorer

    found = scan_predictions(pred_dir)
    for site in sites:
        missing = sorted(set(years) - found.get(site.name, set()))
        if missing:
            raise ArchiveError(pred_dir / site.name, "prediction years", f"every year {list(years)}", f"missing {missing}")
    # every site-year was checked above, so an incomplete patch here is a reading bug: fail loudly
    scorer = (PostClassificationScorer if task == "post-classification" else MappingScorer)(years=years, incomplete="error")
    for site in sites:
        keys = _keys(site)
        for y in years:
            pred = read_prediction_patches(pred_dir, site, y)
            ref = read_label_patches(site, y)
            if pred.shape != ref.shape:
                raise ArchiveError(pred_dir / site.name, f"prediction {y} patches", f"shape {ref.shape}", pred.shape)
            scorer.add(pred, ref, years=np.full(len(pred), y), **keys)
        if maps_left > 0 and site.size_known:
            if task == "mapping":
                for y in years[: maps_left]:
                    rgb = error_map(read_prediction(pred_dir, site, y), read_site_label(site, y))
                    save_map(maps_dir / f"{site.name}_{y}.png", rgb, f"{site.name} {y}")
                    maps_left -= 1
            else:
                y1, y2 = years[0], years[-1]
                rgb = pair_error_map(read_prediction(pred_dir, site, y1), read_prediction(pred_dir, site, y2), read_site_label(site, y1), read_site_label(site, y2))
                save_map(maps_dir / f"{site.name}_{y1}_{y2}.png", rgb, f"{site.name} {y1}-{y2} (post-classification)")
                maps_left -= 1
    return scorer


def run(args: argparse.Namespace) -> int:
    """Score, then check every output name (see :mod:`euromine_hf.owned_outputs`), then write."""
    from euromine_hf import owned_outputs
    from euromine_hf.io import atomic_write_text
    from euromine_hf.metrics.maps import save_error_map
    from euromine_hf.metrics.tables import table_paths, write_tables

    out = Path(args.output)
    reads = (args.archive, args.predictions)
    names = [p.name for p in table_paths(out, args.task).values()] + ["scores.json"]
    owned_outputs.check(out, "evaluate", names, reads=reads, option="--output")  # before scoring: fails at once
    maps: list[tuple[Path, np.ndarray, str]] = []
    scorer = evaluate_folder(
        args.archive, args.predictions, split=args.split, task=args.task, split_scheme=args.split_scheme,
        seed=args.seed, maps_dir=out / "maps" if args.maps else None, max_maps=args.maps, maps_out=maps,
    )
    model = args.model or Path(args.predictions).resolve().name
    protocols = PROTOCOLS if args.protocol == "all" else (args.protocol,)
    results: dict[str, dict[str, float]] = {}
    for protocol in protocols:
        label = model if len(protocols) == 1 else f"{model} [{protocol}]"
        results[label] = scorer.compute(protocol=protocol, empty=args.empty)
    names += [path.relative_to(out).as_posix() for path, _, _ in maps]
    owned_outputs.check(out, "evaluate", names, reads=reads, option="--output")  # and the maps', before the first write
    written = [save_error_map(path, rgb, legend=True, title=title) for path, rgb, title in maps]
    # without --model our row is named after the folder, which names no paper model: show them all
    paths = write_tables(out, args.task, results, paper=args.paper, all_paper_rows=args.model is None)
    payload = {"task": args.task, "split": args.split, "empty": args.empty, "scores": results}
    scores = atomic_write_text(out / "scores.json", json.dumps(payload, indent=2) + "\n")
    owned_outputs.record(out, "evaluate", [*written, *paths.values(), scores])
    print(paths["md"].read_text(encoding="utf-8"))
    print(f"wrote {', '.join(str(p) for p in paths.values())} and {scores}")
    return 0
