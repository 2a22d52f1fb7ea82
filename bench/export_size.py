"""Hub dataset size: what `euromine export` writes per config, against the raw archive it reads.

For one archive (the synthetic default, the 133-site layout, or any archive you name) this runs the
product path (`euromine_hf.data.export.export_parquet`, all three configs) and prints per config:

* the Parquet bytes as exported (byte-stream split + zstd, content-defined chunking: see
  `euromine_hf/data/parquet_layout.py`) and as `datasets`' default encoding would have written the
  same rows (snappy, dictionary pages, content-defined chunking; the export before this layout);
* the factor of each against the raw archive's GeoTIFF bytes (images + labels);
* an *estimate* of what the Hub's chunk-deduplicating storage keeps: the files cut into
  content-defined chunks (gear hash, ~64 KiB mean, 8–128 KiB) and the bytes of distinct chunks
  counted. It is not the Hub's own chunker; it shows why content-defined chunking stays on
  (cd_pairs repeats each image up to nine times);
* the Arrow cache `load_dataset(export, config)` builds (uncompressed), the cost on a user's disk.

Sizes are deterministic for a given archive; times are not reported.

    python bench/export_size.py --workdir /tmp/bench-export                 # 12-site default
    python bench/export_size.py --workdir /tmp/bench-export --official-names  # 133 sites
    python bench/export_size.py --workdir /tmp/x --archive path/to/EuroMineNet
    python bench/export_size.py --workdir /tmp/bench-export --official-names --configs cd_pairs  # one row
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
from pathlib import Path

import numpy as np

CONFIGS = ("mapping", "timeseries", "cd_pairs")


def folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def _gear_table() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2**63, 256, dtype=np.uint64)


def chunk_boundaries(data: np.ndarray, min_size: int = 8192, max_size: int = 131072, mask_bits: int = 16) -> list[int]:
    """Content-defined cut points of ``data`` (uint8): a 64-byte gear hash whose top ``mask_bits``
    bits are zero marks a candidate; candidates closer than ``min_size`` to the last cut are skipped
    and a cut is forced every ``max_size`` bytes."""
    gear = _gear_table()[data]
    h = np.zeros(len(data), dtype=np.uint64)
    for k in range(64):  # h_i = sum_k gear[b_{i-k}] << k (mod 2^64): the hash of the last 64 bytes
        h[k:] += gear[: len(data) - k] << np.uint64(k)
    candidates = np.flatnonzero((h >> np.uint64(64 - mask_bits)) == 0) + 1
    cuts, last = [], 0
    for c in candidates.tolist():
        while c - last > max_size:
            last += max_size
            cuts.append(last)
        if c - last >= min_size:
            cuts.append(c)
            last = c
    while len(data) - last > max_size:
        last += max_size
        cuts.append(last)
    return cuts + [len(data)]


def dedup_bytes(files: list[Path], block: int = 64 * 2**20) -> int:
    """Bytes of distinct content-defined chunks over ``files``, read ``block`` bytes at a time (the
    tail after a block's last cut is carried into the next block, as a streaming chunker would)."""
    seen: set[bytes] = set()
    unique = 0
    for path in files:
        with open(path, "rb") as f:
            carry = b""
            while True:
                more = f.read(block)
                data = carry + more
                if not data:
                    break
                cuts = chunk_boundaries(np.frombuffer(data, dtype=np.uint8))
                if more and len(cuts) > 1:
                    cuts = cuts[:-1]  # not at the end of the file: the last piece may continue
                start = 0
                for cut in cuts:
                    digest = hashlib.sha256(data[start:cut]).digest()
                    if digest not in seen:
                        seen.add(digest)
                        unique += cut - start
                    start = cut
                carry = data[start:]
                if not more:
                    break
    return unique


def write_default_encoding(files: list[Path], scratch: Path) -> list[Path]:
    """The same shards written with `datasets`' default Parquet options (as `download_and_prepare` does)."""
    import pyarrow.parquet as pq
    from datasets import Features
    from datasets.arrow_writer import get_parquet_column_options
    from datasets.config import DEFAULT_CDC_OPTIONS

    written = []
    for path in files:
        reader = pq.ParquetFile(path)
        schema = reader.schema_arrow
        out = scratch / f"default-{path.parent.name}-{path.name}"
        with pq.ParquetWriter(out, schema, use_content_defined_chunking=DEFAULT_CDC_OPTIONS, write_page_index=True,
                              **get_parquet_column_options(Features.from_arrow_schema(schema), schema)) as writer:
            for i in range(reader.num_row_groups):
                writer.write_table(reader.read_row_group(i), row_group_size=reader.metadata.row_group(i).num_rows)
        written.append(out)
    return written


def arrow_cache_bytes(export: Path, config: str, cache: Path) -> int:
    import datasets

    datasets.load_dataset(str(export), config, cache_dir=str(cache))
    return folder_bytes(cache, "*.arrow")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--archive", type=Path, default=None, help="an existing archive (default: synthesise one)")
    parser.add_argument("--official-names", action="store_true", help="synthesise all 133 official sites (small rasters)")
    parser.add_argument("--no-arrow-cache", action="store_true", help="skip the load_dataset cache measurement")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated configs to measure (default {','.join(CONFIGS)}); the export holds all")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    if not configs or set(configs) - set(CONFIGS):
        parser.error(f"--configs: choose from {', '.join(CONFIGS)}; got {args.configs!r}")

    from euromine_hf.data.export import export_parquet
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    archive = args.archive
    if archive is None:
        archive = work / ("archive-official" if args.official_names else "archive-default")
        if not (archive / "synthetic.json").is_file():
            generate_archive(archive, SyntheticConfig(official_names=True) if args.official_names else SyntheticConfig())
    raw = folder_bytes(archive, "*.tif")
    export = work / f"export-{archive.name}"
    if not (export / "README.md").is_file():
        export_parquet(archive, export, CONFIGS, overwrite=export.exists())
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    print(f"archive {archive}: {raw / 1e6:.1f} MB of GeoTIFF ({platform.machine()}, python {sys.version.split()[0]})")
    print("| config | exported MB | × raw | datasets default MB | × raw | dedup estimate MB (exported / default) | load_dataset Arrow cache MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        files = sorted((export / config).glob("*.parquet"))
        ours = sum(p.stat().st_size for p in files)
        default_files = write_default_encoding(files, scratch)
        default = sum(p.stat().st_size for p in default_files)
        dedup_ours, dedup_default = dedup_bytes(files), dedup_bytes(default_files)
        for out in default_files:
            out.unlink()
        cache = "—" if args.no_arrow_cache else f"{arrow_cache_bytes(export, config, work / f'cache-{archive.name}-{config}') / 1e6:,.0f}"
        print(f"| {config} | {ours / 1e6:,.1f} | {ours / raw:.2f} | {default / 1e6:,.1f} | {default / raw:.2f} | "
              f"{dedup_ours / 1e6:,.1f} / {dedup_default / 1e6:,.1f} | {cache} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
