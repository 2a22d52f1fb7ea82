"""Cost of the builder's cache key (``archive_fingerprint``): a content hash of every archive file.

    python bench/fingerprint.py [--repeats 5] [--keep DIR]

Generates the default synthetic archive (12 sites, 150-480 px) and the 133 official site names
(``--official-names``), then times, per archive: the first fingerprint of a process (every file
read and hashed, xxh3-128; the page cache is warm, so this is hashing plus reading from memory,
not from disk), a second one in the same process (files unchanged since more than 2 s: stat only),
and the hash alone over the bytes in memory. Prints one Markdown table row per archive.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def archive_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def time_fingerprint(root: Path, repeats: int) -> tuple[float, float]:
    from euromine_hf.data import builder

    first, again = [], []
    for _ in range(repeats):
        builder._CONTENT_HASHES.clear()
        start = time.perf_counter()
        builder.archive_fingerprint(root)
        first.append(time.perf_counter() - start)
        start = time.perf_counter()
        builder.archive_fingerprint(root)
        again.append(time.perf_counter() - start)
    return statistics.median(first), statistics.median(again)


def main() -> None:
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="generate the archives here (reused if present)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="euromine-fp-"))
    layouts = {"default (12 sites, 150-480 px)": SyntheticConfig(),
               "official names (133 sites, 96-200 px)": SyntheticConfig(official_names=True)}
    print("| archive | files | MB | first fingerprint (s) | MB/s | again, same process (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, (label, config) in enumerate(layouts.items()):
        root = base / f"archive{i}"
        if not (root / "synthetic.json").is_file():
            generate_archive(root, config, overwrite=True)
            time.sleep(2.1)  # past the memo's settling time, as an archive written earlier is
        n, size = archive_bytes(root)
        first, again = time_fingerprint(root, args.repeats)
        print(f"| {label} | {n:,} | {size / 1e6:,.1f} | {first:.3f} | {size / 1e6 / first:,.0f} | {again:.3f} |")
    print(f"\n(cpu count {os.cpu_count()}; archives under {base})")


if __name__ == "__main__":
    main()
