"""How the exported Parquet shards are encoded: small on disk, the builder's rows unchanged.

``datasets`` writes Parquet with snappy compression and dictionary encoding on every column. For
Sentinel-2 images that is a poor fit: a uint16 array is stored as 32-bit integers whose upper two
bytes are always zero, and a patch has far more distinct reflectances than a dictionary page can
hold, so the writer falls back to plain pages. Parquet's own ``BYTE_STREAM_SPLIT`` encoding puts
byte 0 of every value together, then byte 1, … (the zero bytes become long runs, the low bytes of
neighbouring pixels sit side by side), and zstd compresses that about twice as well as snappy
compresses plain or dictionary pages (measured in BENCHMARKS.md, "Hub dataset size").

:func:`write_compact_shard` rewrites one shard of the builder's output with that encoding, row group
by row group (memory: one row group), keeping the schema and its ``huggingface`` metadata, so
``load_dataset`` restores the same typed features. Masks and the small scalar columns keep
dictionary encoding (few distinct values). Content-defined chunking stays on, as ``datasets`` writes
it, so the Hub's storage can deduplicate the repeated images of ``cd_pairs`` across shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ZSTD_LEVEL", "parquet_write_options", "write_compact_shard"]

#: zstd level of exported shards: level 3 (zstd's default) is within 6 % of level 9's size at a
#: third of its write time (BENCHMARKS.md).
ZSTD_LEVEL = 3


def _leaf_paths(name: str, pa_type: Any) -> list[tuple[str, Any]]:
    """Parquet's leaf column paths (``image.list.element.list.element.list.element``) with their value type."""
    import pyarrow as pa

    if isinstance(pa_type, pa.ExtensionType):
        pa_type = pa_type.storage_type
    if pa.types.is_struct(pa_type):
        return [leaf for field in pa_type for leaf in _leaf_paths(f"{name}.{field.name}", field.type)]
    if pa.types.is_list(pa_type) or pa.types.is_large_list(pa_type) or pa.types.is_fixed_size_list(pa_type):
        return _leaf_paths(f"{name}.list.element", pa_type.value_type)
    return [(name, pa_type)]


def parquet_write_options(schema: Any, zstd_level: int = ZSTD_LEVEL) -> dict[str, Any]:
    """``pyarrow.parquet.ParquetWriter`` options for a shard of ``schema``: byte-stream split for
    multi-byte integer arrays (images), dictionary encoding for everything else, zstd throughout."""
    import pyarrow as pa

    split, dictionary = [], []
    for field in schema:
        for path, value_type in _leaf_paths(field.name, field.type):
            in_array = path != field.name
            wide = pa.types.is_integer(value_type) and value_type.bit_width >= 16
            (split if in_array and wide else dictionary).append(path)
    return {
        "compression": "zstd",
        "compression_level": zstd_level,
        "use_dictionary": dictionary,
        "column_encoding": {path: "BYTE_STREAM_SPLIT" for path in split},
        "write_page_index": True,
        "use_content_defined_chunking": True,
    }


def write_compact_shard(source: str | Path, dest: str | Path, zstd_level: int = ZSTD_LEVEL) -> Path:
    """Rewrite the Parquet file ``source`` into ``dest`` (atomically) with :func:`parquet_write_options`,
    one row group at a time and with the same row groups, schema and schema metadata."""
    import pyarrow.parquet as pq

    from euromine_hf.io import atomic_path

    dest = Path(dest)
    reader = pq.ParquetFile(source)
    schema = reader.schema_arrow
    with atomic_path(dest) as tmp:
        with pq.ParquetWriter(tmp, schema, **parquet_write_options(schema, zstd_level)) as writer:
            for i in range(reader.num_row_groups):
                writer.write_table(reader.read_row_group(i), row_group_size=reader.metadata.row_group(i).num_rows)
    if pq.ParquetFile(dest).metadata.num_rows != reader.metadata.num_rows:
        raise RuntimeError(f"{dest}: rewrote {pq.ParquetFile(dest).metadata.num_rows} rows of {reader.metadata.num_rows} from {source}")
    return dest
