"""EuroMineNet as Hugging Face datasets: a ``GeneratorBasedBuilder`` with three configs.

datasets ≥ 4 runs no loading scripts, so the builder is a class in the package::

    builder = EuroMineNet(config_name="mapping", data_dir="outputs/archive", cache_dir="outputs/hf")
    builder.download_and_prepare()
    ds = builder.as_dataset()            # DatasetDict: train / validation / test

or in one call :func:`load_euromine`. The archive is either layout :mod:`euromine_hf.data.archive`
reads (raw GeoTIFFs or cropped ``.npy`` patches); nothing is downloaded.

Configs (every row also carries ``site``, ``country``, ``patch``, ``row``, ``col``,
``site_height``, ``site_width``, see ARCHITECTURE.md):

* ``mapping``: one row per site, patch and year: ``image`` uint16 (10,160,160), ``mask`` uint8
  (160,160) in {0,1}, ``year``. This is what training reads; pairs and time series for training
  are index views over it (:mod:`euromine_hf.data.pairs`), so they cost no extra disk.
* ``timeseries``: one row per site and patch: ``images`` uint16 (T,10,160,160), ``masks`` uint8
  (T,160,160), ``years``.
* ``cd_pairs``: one row per site, patch and year pair t1 < t2 (interval in ``intervals``):
  ``image_t1``, ``image_t2``, ``mask_t1``, ``mask_t2``, ``change`` = |mask_t2 − mask_t1|,
  ``year_t1``, ``year_t2``, ``interval``. Materialised for export and inspection; it stores each
  image up to 9 times, so do not train from it (use :class:`~euromine_hf.data.pairs.PairDataset`).

Images are stored as typed ``Array3D(uint16)`` columns rather than raw bytes. Measured with
``bench/data_loading.py`` (BENCHMARKS.md): through the zero-copy reader of
:mod:`euromine_hf.data.pairs`, which training uses, both storages load equally fast (within the
run-to-run noise); only through datasets' own numpy formatter is a binary column faster, and that
path is slower than the zero-copy reader either way. So the typed column wins: shape and dtype
stay in the schema and in exported Parquet. Read rows yourself with
``with_format("numpy", dtype=None)`` (the default formats widen uint16 to int64).

The cache is keyed by the config *and* a fingerprint of the archive's files (names and a fast
hash of their bytes, band descriptions included, and the reader's version :data:`READER_VERSION`,
so rows an older reader built, e.g. before band descriptions were read, are rebuilt), so regenerating or editing the archive rebuilds instead of serving stale rows,
even when an edit keeps a file's size and modification time (``touch -r``, ``rsync -t``, a restore).
The fingerprint covers what the reader reads: root files and site folders (symlinked ones
followed, links out of the archive refused), not hidden folders or anything else such as a
datasets cache kept inside the archive, which would otherwise change it on every run.

Errors in the archive found while rows are generated reach the caller as the reader's
:class:`~euromine_hf.data.archive.ArchiveError` (datasets wraps them in ``DatasetGenerationError``),
and the half-written cache of a failed build is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from euromine_hf.bands import BANDS, GSD_M, MEAN, NUM_BANDS, PATCH_SIZE, STD, YEARS, load_resource
from euromine_hf.data.archive import ArchiveError, SiteRecord, _folder_layout, check_inside, iter_site_patches, scan_archive
from euromine_hf.data.splits import SPLITS, assign_splits

__all__ = [
    "CONFIG_NAMES",
    "CITATION",
    "HOMEPAGE",
    "LICENSE",
    "DOI",
    "EuroMineNetConfig",
    "EuroMineNet",
    "load_euromine",
    "archive_fingerprint",
    "READER_VERSION",
    "archive_errors",
    "prepare",
    "features_for",
    "band_table",
]

from euromine_hf.data.config_names import CONFIG_NAMES  # noqa: E402  (light, for --help)
MAX_INTERVAL = len(YEARS) - 1
HOMEPAGE = "https://github.com/EricYu97/EuroMineNet"
DOI = "10.14278/rodare.4656"
LICENSE = "CC BY 4.0"
CITATION = """\
@article{yu2025eurominenet,
  title   = {EuroMineNet: A Multitemporal Sentinel-2 Benchmark for Spatiotemporal Mining Footprint
             Analysis in the European Union (2015--2024)},
  author  = {Yu, Weikang and Nwazelibe, Vincent and Ma, Xianping and Zhang, Xiaokang and
             Gloaguen, Richard and Zhu, Xiao Xiang and Ghamisi, Pedram},
  journal = {arXiv preprint arXiv:2510.14661},
  year    = {2025}
}
@misc{eurominenet_data,
  title     = {EuroMineNet dataset},
  publisher = {Rodare (Helmholtz-Zentrum Dresden-Rossendorf)},
  doi       = {10.14278/rodare.4656},
  note      = {CC BY 4.0}
}"""

_SPLIT_NAMES = {"train": datasets.Split.TRAIN, "validation": datasets.Split.VALIDATION, "test": datasets.Split.TEST}
#: Rows per Arrow record batch: ~32 MB batches keep memory flat while writing big rows.
_WRITER_BATCH_SIZE = {"mapping": 64, "timeseries": 8, "cd_pairs": 32}


def band_table() -> list[dict[str, Any]]:
    """One dict per band: name, published normalisation mean and std (DN), GSD in metres."""
    return [
        {"band": name, "mean": float(m), "std": float(s), "gsd_m": GSD_M}
        for name, m, s in zip(BANDS, MEAN.tolist(), STD.tolist())
    ]


def _key_features() -> dict[str, datasets.features.FeatureType]:
    return {
        "site": datasets.Value("string"),
        "country": datasets.Value("string"),
        "patch": datasets.Value("int32"),
        "row": datasets.Value("int32"),
        "col": datasets.Value("int32"),
        "site_height": datasets.Value("int32"),
        "site_width": datasets.Value("int32"),
    }


def features_for(config_name: str, num_years: int = len(YEARS)) -> datasets.Features:
    """The typed features of a config (``num_years`` = T of the ``timeseries`` arrays)."""
    image = datasets.Array3D((NUM_BANDS, PATCH_SIZE, PATCH_SIZE), "uint16")
    mask = datasets.Array2D((PATCH_SIZE, PATCH_SIZE), "uint8")
    feats = _key_features()
    if config_name == "mapping":
        feats.update(year=datasets.Value("int32"), image=image, mask=mask)
    elif config_name == "timeseries":
        feats.update(
            years=datasets.List(datasets.Value("int32")),
            images=datasets.Array4D((num_years, NUM_BANDS, PATCH_SIZE, PATCH_SIZE), "uint16"),
            masks=datasets.Array3D((num_years, PATCH_SIZE, PATCH_SIZE), "uint8"),
        )
    elif config_name == "cd_pairs":
        feats.update(
            year_t1=datasets.Value("int32"),
            year_t2=datasets.Value("int32"),
            interval=datasets.Value("int32"),
            image_t1=image,
            image_t2=image,
            mask_t1=mask,
            mask_t2=mask,
            change=mask,
        )
    else:
        raise ValueError(f"EuroMineNet config: expected one of {CONFIG_NAMES}, got {config_name!r}")
    return datasets.Features(feats)


def _as_int_tuple(values: Iterable[Any] | None, field: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes, int)):
        values = [values]
    try:
        out = tuple(sorted({int(v) for v in values}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"EuroMineNetConfig.{field}: expected integers, got {values!r}") from exc
    if not out:
        raise ValueError(f"EuroMineNetConfig.{field}: expected at least one value, got none")
    return out


@dataclass
class EuroMineNetConfig(datasets.BuilderConfig):
    """What to build from which archive.

    Attributes:
        data_dir: the archive (raw GeoTIFF or cropped ``.npy`` layout). Required.
        years: years to include (default: all ten, 2015–2024); every site needs every one, unless
            ``allow_missing_years``.
        allow_missing_years: ``mapping`` only: a site may lack a year (its image and label both
            absent); it then has no rows for that year. The series model trains on such gaps
            (``TimeseriesDataset(allow_missing=True)``: the year is masked, never seen nor scored).
        intervals: ``cd_pairs`` only: year gaps t2 − t1 to include (default 1..9).
        sites: build only these sites (default: every site folder of the archive). Naming them is
            also what lets ``split_scheme="official"`` build a subset of the published sites.
        split_scheme: ``"official"`` published lists (every published site must be there unless
            ``sites`` names a subset), ``"random"`` seeded 70/10/20 by site, or ``"auto"`` (official
            when every site has a published name; missing published sites are then warned about).
        seed: seed of the random site split.
        fingerprint: filled in by :class:`EuroMineNet` from the archive's files so the cache
            follows the archive's content; leave it empty.
    """

    years: tuple[int, ...] | None = None
    intervals: tuple[int, ...] | None = None
    sites: tuple[str, ...] | None = None
    split_scheme: str = "auto"
    seed: int = 0
    allow_missing_years: bool = False
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Normalise and check the fields. Also run by :class:`EuroMineNet` after datasets has set
        the caller's values with ``setattr`` (which skips ``__post_init__``), so a bad value never
        reaches a build."""
        self.years = _as_int_tuple(self.years, "years")
        self.intervals = _as_int_tuple(self.intervals, "intervals")
        if self.sites is not None:
            sites = [self.sites] if isinstance(self.sites, str) else list(self.sites)
            if not sites or not all(isinstance(s, str) and s for s in sites):
                raise ValueError(f"EuroMineNetConfig.sites: expected site folder names, got {self.sites!r}")
            self.sites = tuple(sorted(set(sites)))
        if not isinstance(self.allow_missing_years, bool):
            raise ValueError(f"EuroMineNetConfig.allow_missing_years: expected True or False, got {self.allow_missing_years!r}")
        if self.allow_missing_years and self.name != "mapping":
            raise ValueError(
                f"EuroMineNetConfig.allow_missing_years: expected only with config 'mapping' (rows per year), got config "
                f"{self.name!r}, whose rows hold every selected year"
            )
        if self.split_scheme not in ("auto", "official", "random"):
            raise ValueError(f"EuroMineNetConfig.split_scheme: expected 'auto', 'official' or 'random', got {self.split_scheme!r}")
        if self.intervals is not None and (self.intervals[0] < 1 or self.intervals[-1] > MAX_INTERVAL):
            raise ValueError(f"EuroMineNetConfig.intervals: expected values in 1..{MAX_INTERVAL}, got {list(self.intervals)}")
        if self.years is not None and len(self.years) < (2 if self.name == "cd_pairs" else 1):
            raise ValueError(f"EuroMineNetConfig.years: cd_pairs needs at least two years, got {list(self.years)}")
        if self.name == "cd_pairs" and not self.year_pairs():
            raise ValueError(
                f"EuroMineNetConfig.intervals: expected a gap between two of the years {list(self.selected_years)}, "
                f"got {list(self.selected_intervals)} (no year pair selected)"
            )

    @property
    def selected_years(self) -> tuple[int, ...]:
        return self.years if self.years is not None else tuple(YEARS)

    @property
    def selected_intervals(self) -> tuple[int, ...]:
        return self.intervals if self.intervals is not None else tuple(range(1, MAX_INTERVAL + 1))

    def year_pairs(self) -> list[tuple[int, int]]:
        """(t1, t2) with t1 < t2 among the selected years and t2 − t1 among the selected intervals."""
        years = self.selected_years
        wanted = set(self.selected_intervals)
        return [(a, b) for i, a in enumerate(years) for b in years[i + 1 :] if b - a in wanted]


#: Version of what the readers make of an archive's files, part of :func:`archive_fingerprint`:
#: bump it when the same files start to give different rows, so no cache built before is served.
#: 2: images are read in the published band order their band descriptions give.
READER_VERSION = 2


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


#: Content hashes already computed in this process, keyed by what any write changes (inode, size,
#: mtime and ctime: an edit that restores the mtime still moves the ctime), so the several configs
#: of one export or training run read each file once. Only files whose ctime is older than
#: :data:`_SETTLED_NS` are remembered: a timestamp is coarse (a clock tick), so a file hashed in the
#: tick it was written could be written again with the same key (git's "racily clean" entries).
_CONTENT_HASHES: dict[tuple[int, int, int, int, int], str] = {}
_HASH_CHUNK = 8 << 20
_SETTLED_NS = 2_000_000_000


def file_content_hash(path: Path, st: os.stat_result | None = None) -> str:
    """xxh3-128 of the file's bytes (about 5 GB/s in memory: reading the file dominates)."""
    import xxhash

    st = st or path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _CONTENT_HASHES.get(key)
    if known is not None:
        return known
    digest = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    if time.time_ns() - st.st_ctime_ns > _SETTLED_NS:
        _CONTENT_HASHES[key] = value
    return value


def archive_fingerprint(data_dir: str | Path, exclude: Iterable[str | Path] = ()) -> str:
    """Hash of the relative path and the content (:func:`file_content_hash`) of every file the reader may read.

    Content, not size and modification time: a label edited in place with both kept would be served
    stale. The cost is one read of the archive per process (BENCHMARKS.md, "Builder cache key"). Covered:
    the root's files and every site folder (one holding ``image/``/``label/`` or ``{YYYY}/``),
    following symlinks, so an edited label behind a symlinked site folder rebuilds. Skipped: hidden
    (``.``/``_``) entries, other folders (e.g. a datasets cache inside the archive) and ``exclude``.
    A symlink leading out of the archive raises :class:`ArchiveError`.
    """
    root = Path(data_dir)
    skip = {Path(p).resolve() for p in exclude}
    digest = hashlib.sha256(f"euromine reader {READER_VERSION}\n".encode())

    def add(path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            return
        digest.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{file_content_hash(path, st)}\n".encode())

    for entry in sorted(root.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_symlink():
            check_inside(root, entry)
        if entry.is_file():
            add(entry)
        elif entry.is_dir() and entry.resolve() not in skip and _folder_layout(entry) is not None:
            seen = {entry.resolve()}
            for dirpath, dirnames, filenames in os.walk(entry, followlinks=True):
                here = Path(dirpath)
                keep = []
                for name in sorted(dirnames):
                    sub = here / name
                    if _hidden(name):
                        continue
                    if sub.is_symlink():
                        check_inside(root, sub)
                    real = sub.resolve()
                    if real in skip or real in seen:  # excluded, or a symlink loop
                        continue
                    seen.add(real)
                    keep.append(name)
                dirnames[:] = keep
                for name in sorted(filenames):
                    if _hidden(name):
                        continue
                    path = here / name
                    if path.is_symlink():
                        check_inside(root, path)
                    add(path)
    return digest.hexdigest()[:16]


def _archive_cause(exc: BaseException) -> ArchiveError | None:
    """The first :class:`ArchiveError` in an exception's cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ArchiveError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def archive_errors() -> Iterator[None]:
    """Re-raise an :class:`ArchiveError` that datasets wrapped in ``DatasetGenerationError``.

    datasets reports any error raised while generating rows as its own exception, so a bad pixel
    value would surface as a 50-line traceback instead of the message naming the file.
    """
    try:
        yield
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = _archive_cause(exc)
        if cause is None:
            raise
        raise cause.with_traceback(None) from None


def _remove_failed_build(builder: datasets.DatasetBuilder, empty: bool = False) -> None:
    """Remove what a failed ``download_and_prepare`` left in the cache: the config's (empty or
    partial) folder, its lock files, and cache folders that became empty. A complete earlier build
    of the same config (it has ``dataset_info.json``) is kept, unless ``empty``: a build that
    selected no rows is marked complete by datasets but must not be served."""
    out = Path(str(builder._output_dir))
    root = Path(str(builder._cache_dir_root)).resolve()
    if empty or not (out / datasets.config.DATASET_INFO_FILENAME).is_file():
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(f"{out}.incomplete", ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(f"{out}_builder.lock").unlink()
    config_dir = out.parent.name  # e.g. mapping-<hash>: datasets' lock files at the root carry it
    for lock in root.glob(f"*{config_dir}*.lock"):
        with contextlib.suppress(OSError):
            lock.unlink()
    folder = out.parent
    while folder.resolve() != root and root in folder.resolve().parents:
        try:
            folder.rmdir()  # only if empty
        except OSError:
            break
        folder = folder.parent


def prepare(builder: datasets.DatasetBuilder, **kwargs: Any) -> None:
    """``builder.download_and_prepare(**kwargs)`` that raises archive errors as :class:`ArchiveError`
    and leaves no half-built cache behind when it fails. A write the file system refuses names the
    cache folder (datasets' own error names no file); with ``output_dir`` the caller names its own."""
    from euromine_hf.io import writing

    naming = writing(builder._cache_dir_root) if kwargs.get("output_dir") is None else contextlib.nullcontext()
    try:
        with archive_errors(), naming:
            builder.download_and_prepare(**kwargs)
    except BaseException:
        _remove_failed_build(builder)
        raise
    splits = builder.info.splits or {}
    if not any(s.num_examples for s in splits.values()):
        _remove_failed_build(builder, empty=True)
        config = builder.config
        raise ValueError(
            f"{config.data_dir}: config {config.name!r} (years {list(config.selected_years)}, sites "
            f"{list(config.sites) if config.sites else 'all'}): expected at least one row, the selection has none"
        )


def _describe(config_name: str) -> str:
    bands = ", ".join(f"{b} (mean {m:.2f}, std {s:.2f})" for b, m, s in zip(BANDS, MEAN.tolist(), STD.tolist()))
    what = {
        "mapping": "one row per site, patch and year (image + mine mask)",
        "timeseries": "one row per site and patch with every selected year",
        "cd_pairs": "one row per site, patch and year pair t1 < t2 with the change mask |mask_t2 - mask_t1|",
    }[config_name]
    return (
        f"EuroMineNet ({config_name}: {what}). Sentinel-2 L2A imagery of EU mining sites, "
        f"{NUM_BANDS} bands at {GSD_M:g} m GSD as uint16 digital numbers (reflectance x 10000), "
        f"{PATCH_SIZE}x{PATCH_SIZE} patches cut with the published rule, expert mine masks in {{0,1}}. "
        f"Bands in order with the published normalisation constants (x - mean) / std: {bands}. "
        f"Splits by site (train / validation / test). Licence {LICENSE}, data DOI {DOI}."
    )


class EuroMineNet(datasets.GeneratorBasedBuilder):
    """The EuroMineNet archive as ``mapping`` / ``timeseries`` / ``cd_pairs`` datasets."""

    BUILDER_CONFIG_CLASS = EuroMineNetConfig
    BUILDER_CONFIGS = [
        EuroMineNetConfig(name="mapping", description="one row per site, patch and year"),
        EuroMineNetConfig(name="timeseries", description="one row per site and patch, all selected years"),
        EuroMineNetConfig(name="cd_pairs", description="one row per site, patch and year pair t1 < t2"),
    ]
    DEFAULT_CONFIG_NAME = "mapping"
    VERSION = datasets.Version("1.0.0")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data_dir = kwargs.get("data_dir")
        if data_dir is not None:
            kwargs["data_dir"] = str(Path(data_dir).resolve())
            if kwargs.get("fingerprint") is None and Path(data_dir).is_dir():
                cache = [kwargs["cache_dir"]] if kwargs.get("cache_dir") else []
                kwargs["fingerprint"] = archive_fingerprint(data_dir, exclude=cache)
        for key in ("years", "intervals", "sites"):  # hashable, order-free config ids
            if kwargs.get(key) is not None and not isinstance(kwargs[key], (str, int)):
                kwargs[key] = tuple(sorted(set(kwargs[key])))
        super().__init__(*args, **kwargs)
        try:
            self.config.validate()
        except ValueError:
            _remove_failed_build(self)  # the lock files datasets has just created
            raise
        if kwargs.get("writer_batch_size") is None:
            self._writer_batch_size = _WRITER_BATCH_SIZE.get(self.config.name, 32)

    # ------------------------------------------------------------------------------------------
    def _info(self) -> datasets.DatasetInfo:
        name = self.config.name
        return datasets.DatasetInfo(
            description=_describe(name),
            features=features_for(name, len(self.config.selected_years)),
            homepage=HOMEPAGE,
            license=LICENSE,
            citation=CITATION,
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        config = self.config
        if not config.data_dir:
            raise ValueError(
                "EuroMineNet: data_dir: expected the archive folder (raw {Site}/image/Year{YYYY}.tif or cropped "
                "{Site}/{YYYY}/image/*.npy), e.g. EuroMineNet(config_name='mapping', data_dir='outputs/archive')"
            )
        sites = scan_archive(config.data_dir, years=config.selected_years, sites=config.sites,
                             allow_missing_years=config.allow_missing_years)
        if not sites:
            raise ValueError(f"{config.data_dir}: sites: expected at least one site folder, found none")
        by_name = {s.name: s for s in sites}
        # sites= is an explicit subset: the official lists need not all be there
        assignment = assign_splits(list(by_name), scheme=config.split_scheme, seed=config.seed,
                                   partial=config.sites is not None)
        generators = []
        for split in SPLITS:
            members = [by_name[n] for n in assignment.get(split, []) if n in by_name]
            if members:
                generators.append(datasets.SplitGenerator(name=_SPLIT_NAMES[split], gen_kwargs={"sites": members}))
        return generators

    def _generate_examples(self, sites: Sequence[SiteRecord]) -> Iterator[tuple[str, dict[str, Any]]]:
        name = self.config.name
        if name == "mapping":
            yield from self._mapping_rows(sites)
        elif name == "timeseries":
            yield from self._timeseries_rows(sites)
        else:
            yield from self._pair_rows(sites)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _keys(site: SiteRecord, patch: int, row: int, col: int) -> dict[str, Any]:
        return {
            "site": site.name,
            "country": site.country,
            "patch": int(patch),
            "row": int(row),
            "col": int(col),
            "site_height": int(site.height),
            "site_width": int(site.width),
        }

    def _mapping_rows(self, sites: Sequence[SiteRecord]) -> Iterator[tuple[str, dict[str, Any]]]:
        # Site by site, year by year: one site raster in memory at a time.
        for site in sites:
            for year in site.years:  # the selected years (those the site has, with allow_missing_years)
                for rec in iter_site_patches(site, year):
                    row = self._keys(site, rec.patch, rec.row, rec.col)
                    row.update(year=int(year), image=rec.image, mask=rec.mask)
                    yield f"{site.name}/{rec.patch}/{year}", row

    @staticmethod
    def _site_stack(site: SiteRecord, years: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """All selected years of one site as (N, T, 10, 160, 160) images and (N, T, 160, 160) masks.

        Holds one site's T years in memory (about T × the site's raster size × 2 bytes × 10 bands),
        which is what grouping rows by patch across years costs; mapping streams year by year.
        """
        images: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        offsets: list[tuple[int, int]] = []
        for t, year in enumerate(years):
            recs = list(iter_site_patches(site, year))
            if t == 0:
                offsets = [(r.row, r.col) for r in recs]
            elif len(recs) != len(offsets):
                raise ValueError(f"{site.folder}: patches of year {year}: expected {len(offsets)} like year {years[0]}, found {len(recs)}")
            images.append(np.stack([r.image for r in recs]))
            masks.append(np.stack([r.mask for r in recs]))
        return np.stack(images, axis=1), np.stack(masks, axis=1), offsets

    def _timeseries_rows(self, sites: Sequence[SiteRecord]) -> Iterator[tuple[str, dict[str, Any]]]:
        years = list(self.config.selected_years)
        for site in sites:
            images, masks, offsets = self._site_stack(site, years)
            for p, (r, c) in enumerate(offsets):
                row = self._keys(site, p, r, c)
                row.update(years=years, images=images[p], masks=masks[p])
                yield f"{site.name}/{p}", row

    def _pair_rows(self, sites: Sequence[SiteRecord]) -> Iterator[tuple[str, dict[str, Any]]]:
        years = list(self.config.selected_years)
        index = {y: t for t, y in enumerate(years)}
        pairs = self.config.year_pairs()
        for site in sites:
            images, masks, offsets = self._site_stack(site, years)
            for p, (r, c) in enumerate(offsets):
                for y1, y2 in pairs:
                    m1, m2 = masks[p, index[y1]], masks[p, index[y2]]
                    row = self._keys(site, p, r, c)
                    row.update(
                        year_t1=y1,
                        year_t2=y2,
                        interval=y2 - y1,
                        image_t1=images[p, index[y1]],
                        image_t2=images[p, index[y2]],
                        mask_t1=m1,
                        mask_t2=m2,
                        change=np.bitwise_xor(m1, m2),  # = |m2 - m1| for masks in {0, 1}
                    )
                    yield f"{site.name}/{p}/{y1}-{y2}", row


def load_euromine(
    data_dir: str | Path,
    config_name: str = "mapping",
    cache_dir: str | Path | None = None,
    *,
    num_proc: int | None = None,
    download_mode: str | None = None,
    **config_kwargs: Any,
) -> datasets.DatasetDict:
    """Build (or reuse from ``cache_dir``) one config of an archive and return its splits.

    ``config_kwargs`` go to :class:`EuroMineNetConfig` (``years``, ``intervals``, ``sites``,
    ``split_scheme``, ``seed``, ``allow_missing_years``). ``download_mode="force_redownload"`` rebuilds the cache.
    """
    if config_name not in CONFIG_NAMES:
        raise ValueError(f"load_euromine: config_name: expected one of {CONFIG_NAMES}, got {config_name!r}")
    builder = EuroMineNet(
        config_name=config_name,
        data_dir=str(data_dir),
        cache_dir=None if cache_dir is None else str(cache_dir),
        **config_kwargs,
    )
    prepare(builder, num_proc=num_proc, download_mode=download_mode)
    return builder.as_dataset()


def dataset_facts() -> dict[str, Any]:
    """Band names, normalisation constants, GSD, licence and citation, for cards and reports."""
    info = load_resource("euromine_bands.json")
    return {
        "bands": list(BANDS),
        "mean": MEAN.tolist(),
        "std": STD.tolist(),
        "gsd_m": GSD_M,
        "patch_size": PATCH_SIZE,
        "years": list(YEARS),
        "label_values": info["label_values"],
        "license": LICENSE,
        "doi": DOI,
        "homepage": HOMEPAGE,
        "citation": CITATION,
    }
