"""Export an archive as the Hub face of EuroMineNet: Parquet shards per config and a dataset card.

The output folder is laid out as ``push_to_hub(config_name=...)`` writes a repo::

    OUT/README.md                                   dataset card (huggingface_hub DatasetCard): configs /
                                                    dataset_info YAML, bands, sites, tasks, licence, statistics
    OUT/sites.json                                  each site's split, CRS, affine transform, size: places
                                                    a row's patch (its row/col offset) on the map
    OUT/eval.yaml                                   the benchmark's tasks in the Hub's eval.yaml form
    OUT/mapping/train-00000-of-00003.parquet        shards per config and split
    OUT/cd_pairs/validation-00000-of-00001.parquet
    ...

so ``load_dataset(OUT, "cd_pairs")`` works offline (and on the Hub once the folder is uploaded),
with the typed features (uint16 ``Array3D`` images) restored from the card and the Parquet schema.

The Parquet files hold the builder's own output (``download_and_prepare(file_format="parquet")``),
re-encoded shard by shard, row group by row group, for size (:mod:`~euromine_hf.data.parquet_layout`:
byte-stream split + zstd for the uint16 images, about half of ``datasets``' default snappy); the rows,
row groups, schema and feature metadata are the builder's. ``cd_pairs`` stores each image up to nine
times: for training, pairs are an index over ``mapping`` rows instead (``PairDataset``). Everything is written into a
temporary sibling folder that is renamed to ``OUT`` only when complete: an interrupted export
leaves no half-written folder behind.

The export never deletes what it did not create. ``OUT`` may not be, contain or lie inside the
archive (symlinks resolved). Every export, and its temporary folder from the moment it exists,
holds a marker file :data:`EXPORT_MARKER`; ``--overwrite`` replaces only a folder that is
recognisably a previous export (the marker, ``README.md`` and ``{config}/*.parquet``, nothing
else), and each run removes the temporary folders of earlier runs that were killed before they
could clean up (marker present, process gone).

Command line: ``euromine export ARCHIVE [OUT] [--configs ...] [--max-shard-size 500MB]``; ``OUT``
defaults to ``./euromine``, so ``load_dataset("euromine", "cd_pairs")`` works from that folder as
written, and ``euromine push NAMESPACE`` uploads it as ``NAMESPACE/euromine``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from euromine_hf.bands import GSD_M, YEARS
from euromine_hf.data.config_names import CONFIG_NAMES
from euromine_hf.hub.eval_spec import EVAL_FILE, TASKS, render_eval_yaml

__all__ = [
    "export_parquet", "render_card", "find_card_template", "add_parser", "DEFAULT_MAX_SHARD_SIZE", "EXPORT_MARKER",
    "ExportDestinationError", "DEFAULT_EXPORT_NAME", "SITES_FILE", "build_dataset_card", "read_export_marker",
    "card_sites_code", "card_location_note",
]

DEFAULT_MAX_SHARD_SIZE = "500MB"
#: ``euromine export ARCHIVE`` writes here (relative to the working directory): the name under which
#: ``load_dataset("euromine", ...)`` finds it, and the repo name ``euromine push NAMESPACE`` uses.
DEFAULT_EXPORT_NAME = "euromine"
#: Per-site georeferencing written beside the card.
SITES_FILE = "sites.json"
#: The card template ships in the package (dataset_script/dataset_card.md.jinja links to it).
_PACKAGED_TEMPLATE = "dataset_card.md.jinja"
_SYNTHETIC_MARKER = "synthetic.json"
#: Written into every export folder (and its temporary folder first): marks the folder as ours.
EXPORT_MARKER = ".euromine-export.json"
_SHARD_FILE = re.compile(r"^(?:train|validation|test)-\d{5}-of-\d{5}\.parquet$")


class ExportDestinationError(ValueError):
    """The output folder cannot be used without risking data the export did not create."""


def _read_marker(folder: Path) -> dict[str, Any] | None:
    marker = folder / EXPORT_MARKER
    if folder.is_symlink() or not marker.is_file() or marker.is_symlink():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("created_by") == __name__ else None


def read_export_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of an export folder (``None`` if ``folder`` is not an export): its configs and
    the ``repo_id`` its card's snippet names (``euromine push`` rewrites that to the real repo)."""
    return _read_marker(Path(folder))


def _write_marker(folder: Path, complete: bool, configs: Sequence[str], **extra: Any) -> None:
    from euromine_hf.io import atomic_write_json

    atomic_write_json(folder / EXPORT_MARKER, {
        "created_by": __name__, "complete": complete, "configs": list(configs),
        "pid": os.getpid(), "host": socket.gethostname(), **extra,
    })


def _not_an_export(folder: Path) -> list[str]:
    """What in ``folder`` an export would not have written (empty: a previous export of ours)."""
    if _read_marker(folder) is None:
        return [f"no {EXPORT_MARKER} marker (not written by euromine export)"]
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            foreign.append(entry.name)
        elif entry.name in (EXPORT_MARKER, "README.md", SITES_FILE, EVAL_FILE) and entry.is_file():
            continue
        elif entry.name in CONFIG_NAMES and entry.is_dir():
            foreign.extend(f"{entry.name}/{f.name}" for f in sorted(entry.iterdir()) if f.is_symlink() or not _SHARD_FILE.match(f.name))
        else:
            foreign.append(entry.name)
    return foreign


def _check_destination(archive: Path, out_dir: Path, overwrite: bool) -> None:
    """Refuse an output folder that is, contains or lies inside the archive, or that holds anything
    but a previous export (and that only with ``overwrite``)."""
    real_archive = archive.resolve()
    if out_dir == real_archive or out_dir in real_archive.parents or real_archive in out_dir.parents:
        relation = "is" if out_dir == real_archive else ("contains" if out_dir in real_archive.parents else "lies inside")
        raise ExportDestinationError(
            f"{out_dir}: output folder: expected a folder outside the archive, found one that {relation} the archive {real_archive}"
        )
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: output folder: expected a folder, found a file (not replaced)")
    if not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out_dir}: exists and is not empty (pass overwrite=True / --overwrite to replace a previous export)")
    foreign = _not_an_export(out_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileExistsError(
            f"{out_dir}: --overwrite: expected a previous export (its {EXPORT_MARKER}, README.md and "
            f"{{config}}/*.parquet only), found {shown}; not replaced"
        )


def _process_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_exports(out_dir: str | Path) -> list[Path]:
    """Remove temporary folders that killed exports to ``out_dir`` left beside it; returns them.

    Only folders named like ours and holding our marker are touched; one whose process still runs
    on this host is left alone. A previous export moved aside (``.OUT.old-*``) is put back when
    ``OUT`` itself is missing (killed mid-swap), else removed.
    """
    out_dir = Path(out_dir)
    removed: list[Path] = []
    if not out_dir.parent.is_dir():
        return removed
    for entry in sorted(out_dir.parent.iterdir()):
        is_tmp = entry.name.startswith(f".{out_dir.name}.tmp-")
        is_old = entry.name.startswith(f".{out_dir.name}.old-")
        if not (is_tmp or is_old) or not entry.is_dir() or entry.is_symlink():
            continue
        marker = _read_marker(entry)
        if marker is None:
            continue
        if is_tmp and marker.get("host") == socket.gethostname() and _process_alive(marker.get("pid")) and marker.get("pid") != os.getpid():
            continue  # another export to the same place is running
        if is_old and not out_dir.exists() and marker.get("complete"):
            entry.rename(out_dir)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def find_card_template(template: str | Path | None = None) -> str:
    """Text of the dataset card template: ``template`` if given, else the packaged one
    (``euromine_hf/resources/dataset_card.md.jinja``)."""
    if template is not None:
        path = Path(template)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: dataset card template: expected a Jinja2 Markdown file")
        return path.read_text(encoding="utf-8")
    packaged = resources.files("euromine_hf").joinpath("resources", _PACKAGED_TEMPLATE)
    return packaged.read_text(encoding="utf-8")


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{nbytes} B"


def _size_category(max_rows: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if max_rows < bound:
            return label
    return "1M<n<10M"


_TAGS = ["remote-sensing", "sentinel-2", "multispectral", "change-detection", "mining", "earth-observation", "benchmark"]


def card_sites_code(repo_id: str) -> str:
    """The first lines of the card's ``sites.json`` snippet: where the file is. A local name (no
    ``/``) is a folder beside the working directory, as ``load_dataset(repo_id, ...)`` reads it; a
    Hub id ``NAMESPACE/NAME`` is downloaded. ``euromine push`` swaps one for the other."""
    lines = ["import json", "from rasterio.transform import Affine"]
    if "/" in repo_id:
        lines += ["from huggingface_hub import hf_hub_download", "",
                  f'sites_file = hf_hub_download("{repo_id}", "{SITES_FILE}", repo_type="dataset")']
    else:
        lines += ["", f'sites_file = "{repo_id}/{SITES_FILE}"']
    return "\n".join(lines)


def card_location_note(repo_id: str, local_name: str) -> str:
    """The card's sentence on where its snippets run and how the folder reaches the Hub: what
    ``euromine push`` really does (the repo is ``NAMESPACE/euromine`` whatever the folder's name,
    see :func:`euromine_hf.hub.push_cli.dataset_repo_id`). ``euromine push`` swaps the local form
    for the Hub one."""
    from euromine_hf.hub.push_cli import dataset_repo_id

    if "/" in repo_id:
        return (f"The snippets load the Hub repo `{repo_id}`; a local copy (the folder `{local_name}/` that "
                f"`euromine export` wrote) loads the same way by its path.")
    if repo_id != local_name:
        return f"The snippets load `{repo_id}`; the folder `euromine export` wrote is `{local_name}/`."
    export_option = "" if local_name == DEFAULT_EXPORT_NAME else f" --export {local_name}"
    written = (" (what `euromine export ARCHIVE` writes by default)" if local_name == DEFAULT_EXPORT_NAME
               else f" (written by `euromine export ARCHIVE {local_name}`)")
    return (f"Run them from the folder that holds `{local_name}/`{written}; "
            f"`euromine push NAMESPACE{export_option}` uploads it as the dataset repo `{dataset_repo_id('NAMESPACE')}` "
            f"(`euromine push NAMESPACE/NAME{export_option}` picks another name).")


def card_metadata(context: dict[str, Any]) -> Any:
    """The card's YAML as :class:`huggingface_hub.DatasetCardData`: licence (the archive's CC BY 4.0;
    generated data: the generator's Apache-2.0, a Hub license id, not ``other`` without a link),
    configs with their Parquet ``data_files`` and the typed ``dataset_info``."""
    from huggingface_hub import DatasetCardData

    configs = []
    for config in context["configs"]:
        entry: dict[str, Any] = {"config_name": config["name"]}
        if config["name"] == context["default_config"]:
            entry["default"] = True
        entry["data_files"] = [{"split": s["name"], "path": f"{config['name']}/{s['name']}-*"} for s in config["splits"]]
        configs.append(entry)
    synthetic = bool(context["is_synthetic"])
    licence: dict[str, Any] = {"license": "apache-2.0" if synthetic else "cc-by-4.0"}
    return DatasetCardData(
        **licence,
        pretty_name=context["pretty_name"],
        language=["en"],
        task_categories=["image-segmentation"],
        tags=_TAGS + (["synthetic"] if synthetic else []),
        size_categories=[context["size_category"]],
        configs=configs,
        dataset_info=context["dataset_info"],
    )


def build_dataset_card(context: dict[str, Any], template: str | Path | None = None) -> Any:
    """The dataset card (:class:`huggingface_hub.DatasetCard`): YAML from :func:`card_metadata`,
    body rendered from the Jinja2 template (undefined variables are errors) and an export's facts."""
    import jinja2
    from huggingface_hub import DatasetCard

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    from euromine_hf.hub.card_rules import check_card

    metadata = card_metadata(context)
    check_card(metadata.to_dict(), "dataset", f"dataset card of {context['pretty_name']}")
    text = env.from_string(find_card_template(template)).render(card_data=metadata.to_yaml(), **context)
    return DatasetCard(text)


def render_card(context: dict[str, Any], template: str | Path | None = None) -> str:
    """Text of the dataset card (README.md), see :func:`build_dataset_card`."""
    return str(build_dataset_card(context, template))


def _crs_name(wkt: str | None) -> str | None:
    if wkt is None:
        return None
    from rasterio.crs import CRS

    crs = CRS.from_wkt(wkt)
    return crs.to_string() or crs.name


def _site_table(data_dir: Path, site_splits: dict[str, str], years: Sequence[int]) -> list[dict[str, Any]]:
    """One entry per exported site: split, CRS (WKT and short name), affine transform, raster size
    and patch count (read from the archive's headers)."""
    from euromine_hf.data.archive import scan_archive

    table = []
    for record in scan_archive(data_dir, years=years, sites=sorted(site_splits)):
        transform = list(record.transform) if record.transform is not None else None
        table.append({
            "site": record.name, "country": record.country, "split": site_splits[record.name],
            "crs_name": _crs_name(record.crs), "crs": record.crs, "transform": transform,
            "height": record.height, "width": record.width, "num_patches": record.num_patches,
        })
    return table


def _split_stats(files: Sequence[Path]) -> dict[str, Any]:
    """Row, site and patch counts of one split, reading only the key columns of its shards."""
    import pyarrow.parquet as pq  # here, not at import: `euromine export --help` stays light

    rows = 0
    pairs: set[tuple[str, int]] = set()
    for path in files:
        table = pq.read_table(path, columns=["site", "patch"])
        rows += table.num_rows
        pairs.update(zip(table.column("site").to_pylist(), table.column("patch").to_pylist()))
    size = sum(p.stat().st_size for p in files)
    return {
        "sites": sorted({s for s, _ in pairs}),
        "num_rows": rows,
        "num_sites": len({s for s, _ in pairs}),
        "num_patches": len(pairs),
        "num_shards": len(files),
        "num_bytes_parquet": size,
        "size_human": _human(size),
    }


def _collect_shards(build_dir: Path, split: str) -> list[Path]:
    """The Parquet files the builder wrote for one split, in shard order."""
    pattern = re.compile(rf"^.+-{re.escape(split)}(?:-(\d{{5}}))?(?:-(\d{{5}}))?(?:-of-\d{{5}})?\.parquet$")
    found = []
    for path in build_dir.iterdir():
        m = pattern.match(path.name)
        if m:
            found.append(((int(m.group(1) or 0), int(m.group(2) or 0)), path))
    return [p for _, p in sorted(found)]


def export_parquet(
    data_dir: str | Path,
    out_dir: str | Path,
    configs: Iterable[str] = CONFIG_NAMES,
    *,
    years: Iterable[int] | None = None,
    intervals: Iterable[int] | None = None,
    sites: Iterable[str] | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    max_shard_size: str | int = DEFAULT_MAX_SHARD_SIZE,
    num_proc: int | None = None,
    writer_batch_size: int | None = None,
    overwrite: bool = False,
    template: str | Path | None = None,
    pretty_name: str = "EuroMineNet",
    repo_id: str | None = None,
) -> Path:
    """Write Parquet shards per config and split plus a dataset card into ``out_dir``.

    ``years`` / ``intervals`` / ``sites`` / ``split_scheme`` / ``seed`` are the builder's config
    fields (:class:`~euromine_hf.data.builder.EuroMineNetConfig`). ``max_shard_size`` bounds each
    shard's uncompressed size (``"500MB"`` as ``push_to_hub``); a shard is cut only between Parquet
    row groups of ``writer_batch_size`` rows (default: about 32 MB of rows). An existing non-empty ``out_dir``
    is refused unless ``overwrite``, and even then replaced only if it is a previous export
    (:data:`EXPORT_MARKER`); an ``out_dir`` that is, contains or lies inside the archive is refused
    (:class:`ExportDestinationError`). ``repo_id`` is the name the card's usage snippet loads
    (default: the folder's name, which is how ``load_dataset`` finds it from its parent folder;
    ``euromine push`` rewrites it to the Hub repo). Returns ``out_dir``.
    """
    import datasets

    from euromine_hf.data.builder import CITATION, DOI, HOMEPAGE, EuroMineNet, band_table

    configs = list(dict.fromkeys(configs))
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if not configs or unknown:
        raise ValueError(f"export: configs: expected some of {list(CONFIG_NAMES)}, got {configs}")
    from euromine_hf.data.archive import detect_layout
    from euromine_hf.data.builder import prepare
    from euromine_hf.data.parquet_layout import write_compact_shard
    from euromine_hf.io import make_temp_dir, replace_folder, writing

    data_dir = Path(data_dir)
    detect_layout(data_dir)  # a missing or empty archive fails before anything is created
    out_dir = Path(out_dir).resolve()
    _check_destination(data_dir, out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_exports(out_dir)
    shard_bytes = datasets.utils.py_utils.convert_file_size_to_int(max_shard_size)
    config_kwargs: dict[str, Any] = {"split_scheme": split_scheme, "seed": seed}
    for key, value in (("years", years), ("intervals", intervals), ("sites", sites)):
        if value is not None:
            config_kwargs[key] = tuple(value)

    tmp = make_temp_dir(out_dir.parent, f".{out_dir.name}.tmp-")
    work = tmp / ".work"
    try:
        _write_marker(tmp, complete=False, configs=configs)
        card_configs = []
        info_yaml = []
        max_rows = 0
        built_config = None
        site_splits: dict[str, str] = {}
        for name in configs:
            build_dir = work / f"build-{name}"
            kwargs = {k: v for k, v in config_kwargs.items() if k != "intervals" or name == "cd_pairs"}
            builder = EuroMineNet(
                config_name=name, data_dir=str(data_dir), cache_dir=str(work / "cache"),
                writer_batch_size=writer_batch_size, **kwargs,
            )
            with writing(out_dir):  # datasets' write errors name no file: name the export
                prepare(builder, output_dir=str(build_dir), file_format="parquet", max_shard_size=shard_bytes, num_proc=num_proc)
            built_config = builder.config
            target = tmp / name
            target.mkdir()
            split_entries = []
            info = builder.info
            for split in ("train", "validation", "test"):
                if split not in (info.splits or {}):
                    continue
                shards = _collect_shards(build_dir, split)
                if not shards:
                    raise RuntimeError(f"{build_dir}: expected Parquet shards for split {split!r}, found none")
                final = []
                for i, shard in enumerate(shards):
                    dest = target / f"{split}-{i:05d}-of-{len(shards):05d}.parquet"
                    final.append(write_compact_shard(shard, dest))
                    Path(shard).unlink()
                stats = _split_stats(final)
                expected = info.splits[split].num_examples
                if stats["num_rows"] != expected:
                    raise RuntimeError(f"{target}: split {split}: wrote {stats['num_rows']} rows, the builder counted {expected}")
                max_rows = max(max_rows, stats["num_rows"])
                site_splits.update({site: split for site in stats.pop("sites")})
                split_entries.append({"name": split, **stats})
            card_configs.append({"name": name, "splits": split_entries})
            info_dict = {"config_name": name, **info._to_yaml_dict()}
            info_dict.pop("download_size", None)
            info_yaml.append(info_dict)
        shutil.rmtree(work)  # builder scratch: caches, lock files, info files

        assert built_config is not None
        is_synthetic = (data_dir / _SYNTHETIC_MARKER).is_file()
        sites = _site_table(data_dir, site_splits, built_config.selected_years)
        for site in sites:
            site["transform_text"] = ", ".join(f"{v:.12g}" for v in site["transform"]) if site["transform"] else "none"
        repo_id = repo_id or out_dir.name
        context = {
            "pretty_name": pretty_name + (" (synthetic)" if is_synthetic else ""),
            "summary": "EuroMineNet: a multitemporal Sentinel-2 benchmark for mining-footprint mapping and change detection.",
            "is_synthetic": is_synthetic,
            "synthetic": _synthetic_facts(data_dir) if is_synthetic else {},
            "source_name": data_dir.resolve().name,
            "source_layout": _layout(data_dir),
            "repo_id": repo_id,
            "local_name": out_dir.name,
            "config_names": [c["name"] for c in card_configs],
            "splits": {c["name"]: [split["name"] for split in c["splits"]] for c in card_configs},
            "sites_code": card_sites_code(repo_id),
            "location_note": card_location_note(repo_id, out_dir.name),
            "default_config": "mapping" if "mapping" in configs else configs[0],
            "configs": card_configs,
            "dataset_info": info_yaml,
            "size_category": _size_category(max_rows),
            "bands": band_table(),
            "gsd_m": f"{GSD_M:g}",
            "years": list(built_config.selected_years),
            "intervals": list(built_config.selected_intervals) if "cd_pairs" in configs else [],
            "split_scheme": split_scheme,
            "sites": sites,
            "tasks": [t for t in TASKS if t["config"] in configs],
            "doi": DOI,
            "homepage": HOMEPAGE,
            "citation": CITATION,
        }
        from euromine_hf.io import atomic_write_json, atomic_write_text

        atomic_write_text(tmp / "README.md", render_card(context, template))
        atomic_write_json(tmp / SITES_FILE, [{k: v for k, v in site.items() if k != "transform_text"} for site in sites])
        atomic_write_text(tmp / EVAL_FILE, render_eval_yaml(configs, synthetic=is_synthetic))
        _write_marker(tmp, complete=True, configs=configs, repo_id=repo_id)
        _check_destination(data_dir, out_dir, overwrite)  # unchanged while we built?
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _synthetic_facts(data_dir: Path) -> dict[str, Any]:
    """Generator, version, seed and site count from the archive's ``synthetic.json``."""
    path = data_dir / _SYNTHETIC_MARKER
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: synthetic archive description: expected JSON ({error})") from None
    config = raw.get("config") if isinstance(raw, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: field 'config': expected the generator's settings (an object)")
    return {
        "generator": raw.get("generator", "euromine_hf.data.synthetic"), "version": raw.get("version", "unknown"),
        "seed": config.get("seed", "unknown"), "num_sites": len(raw.get("sites") or []) or config.get("num_sites", "?"),
    }


def _layout(data_dir: Path) -> str:
    from euromine_hf.data.archive import detect_layout

    return detect_layout(data_dir)


# ----------------------------------------------------------------------------------------------
# Command line


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``euromine export`` and ``euromine build`` (the builder's config fields)."""
    from euromine_hf.options import INTERVAL, POSITIVE, SEED

    parser.add_argument(
        "--configs", nargs="+", choices=CONFIG_NAMES, default=list(CONFIG_NAMES), metavar="CONFIG",
        help=f"which configs to write (default: all of {', '.join(CONFIG_NAMES)})",
    )
    parser.add_argument("--years", nargs="+", type=int, metavar="YYYY", help=f"years to include (default: all, {YEARS[0]}-{YEARS[-1]})")
    parser.add_argument(
        "--intervals", nargs="+", type=INTERVAL, metavar="K", help="cd_pairs: year gaps t2 - t1 to include (default: 1..9)"
    )
    parser.add_argument("--sites", nargs="+", metavar="SITE", help="only these site folders (default: every site)")
    parser.add_argument(
        "--split-scheme", choices=("auto", "official", "random"), default="auto",
        help="site split: the published lists, a seeded 70/10/20 split, or auto (official when all sites have published names)",
    )
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the random site split (default: 0)")
    parser.add_argument("--num-proc", type=POSITIVE, default=None, help="processes for building (default: 1)")


def add_parser(subparsers: Any, name: str = "export", summary: str = "export Parquet shards and a dataset card for the Hub") -> argparse.ArgumentParser:
    """``euromine export ARCHIVE OUT``: Parquet shards per config and split + dataset card."""
    parser = subparsers.add_parser(
        name,
        help=summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Turn an archive (raw GeoTIFF or cropped .npy layout) into the folder a Hub dataset repo holds:\n"
            "  OUT/README.md                       dataset card (configs + dataset_info YAML, bands, sites, tasks, licence, stats)\n"
            "  OUT/sites.json                      each site's split, CRS, affine transform and size\n"
            "  OUT/eval.yaml                       the benchmark's tasks (Hub eval.yaml: leaderboard)\n"
            "  OUT/{config}/{split}-NNNNN-of-NNNNN.parquet\n"
            "OUT defaults to ./euromine, so datasets.load_dataset('euromine', CONFIG) works from here for each\n"
            "exported config; `euromine push NAMESPACE` uploads it as the dataset repo NAMESPACE/euromine.\n\n"
            "Example:\n"
            "  euromine synth outputs/archive\n"
            "  euromine export outputs/archive --configs mapping cd_pairs    # writes ./euromine\n"
            "  euromine push YOUR_NAME                                       # -> YOUR_NAME/euromine\n\n"
            "cd_pairs stores every image up to nine times (45 pairs of 10 years): ~9x the size of mapping\n"
            "(12-site default: 1.5 GB vs 0.17 GB of Parquet; load_dataset then builds a 3.5 GB Arrow cache).\n"
            "To form pairs yourself, export timeseries or mapping and index the pairs (euromine_hf.data.pairs)."
        ),
    )
    parser.add_argument("archive", type=Path, help="archive folder (from `euromine synth` or the published EuroMineNet)")
    parser.add_argument(
        "out", type=Path, nargs="?", default=Path(DEFAULT_EXPORT_NAME),
        help=f"output folder (default: ./{DEFAULT_EXPORT_NAME}, so load_dataset({DEFAULT_EXPORT_NAME!r}, CONFIG) works from here; "
             "created; refused if not empty unless --overwrite)",
    )
    _add_config_options(parser)
    parser.add_argument(
        "--max-shard-size", default=DEFAULT_MAX_SHARD_SIZE,
        help=f"largest uncompressed size of one Parquet shard, e.g. 200MB or 1GB (default: {DEFAULT_MAX_SHARD_SIZE})",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace OUT if it is a previous export (swapped in only when complete; any other folder is refused)",
    )
    parser.add_argument("--template", type=Path, default=None, help="dataset card template (default: the packaged dataset_card.md.jinja)")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    # user errors (ArchiveError, FileExistsError, ValueError, …) become one line and exit 2 in euromine_hf.cli
    out = export_parquet(
        args.archive, args.out, args.configs,
        years=args.years, intervals=args.intervals, sites=args.sites,
        split_scheme=args.split_scheme, seed=args.seed, max_shard_size=args.max_shard_size,
        num_proc=args.num_proc, overwrite=args.overwrite, template=args.template,
    )
    print(f"wrote {out}")
    print(f"{'config':<11} {'split':<11} {'rows':>8} {'shards':>6} {'size':>10}")
    for config in args.configs:
        for split in ("train", "validation", "test"):
            files = sorted((out / config).glob(f"{split}-*.parquet"))
            if files:
                rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
                size = _human(sum(f.stat().st_size for f in files))
                print(f"{config:<11} {split:<11} {rows:>8} {len(files):>6} {size:>10}")
    return 0
