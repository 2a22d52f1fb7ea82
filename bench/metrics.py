"""Throughput of the scores on inputs the size of the real EuroMineNet test split.

Mapping: 1,011 patches × 10 years = 10,110 masks of 160×160 (with patch offsets of realistic site
sizes, so ownership of edge patches is exercised, and CA-TIoU pairing across batches).
Change detection: 45,495 pairs (1,011 patches × 45 year pairs), streamed in chunks.

Each input goes through
  * the core (``euromine_hf.metrics`` scorers),
  * the ``evaluate`` modules (``evaluate.load("metrics/...")``: masks reduced in ``add_batch``),
  * ``evaluate`` fed raw masks (a module whose features are the 160×160 masks; timed on a subset
    and extrapolated, it is ~100× slower).
Prints masks/s on wall-clock and on process CPU time (the latter is steadier on a shared machine).

    python bench/metrics.py [--batch 256] [--raw 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from itertools import combinations
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import evaluate  # noqa: E402

from euromine_hf.bands import PATCH_SIZE, YEARS  # noqa: E402
from euromine_hf.data.patching import patch_offsets  # noqa: E402
from euromine_hf.metrics import ChangeScorer, MappingScorer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_PATCHES = 1011
S = PATCH_SIZE


def make_sites(rng: np.random.Generator, n_patches: int = N_PATCHES) -> list[tuple[str, int, int, int, int]]:
    """(site, patch, row, col, H, W) rows of sites with random sizes until ``n_patches``."""
    out = []
    k = 0
    while len(out) < n_patches:
        h, w = (int(x) for x in rng.integers(120, 1100, 2))
        for p, (r, c) in enumerate(patch_offsets(h, w)):
            out.append((f"Site_{k}", p, r, c, h, w))
        k += 1
    return out[:n_patches]


def make_masks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """References with ~10 % mine pixels and predictions that disagree on ~5 % of pixels."""
    ref = (rng.random((n, S, S), dtype=np.float32) < 0.10).astype(np.uint8)
    pred = ref ^ (rng.random((n, S, S), dtype=np.float32) < 0.05).astype(np.uint8)
    return pred, ref


class RawMaskF1(evaluate.Metric):
    """The naive baseline: raw masks as features, F1 pooled over all pixels at compute."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="raw-mask F1 baseline", citation="", inputs_description="",
            features=datasets.Features({
                "predictions": datasets.Array2D((S, S), "uint8"),
                "references": datasets.Array2D((S, S), "uint8"),
            }),
        )

    def _compute(self, predictions, references):
        p = np.asarray(predictions, bool)
        g = np.asarray(references, bool)
        tp = (p & g).sum()
        return {"F1": 2 * tp / max(1, 2 * tp + (p & ~g).sum() + (~p & g).sum())}


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def mapping_batches(keys, pred, ref, batch):
    """Year-major order (all patches of 2015, then 2016, ...): the hardest case for pairing."""
    n = len(keys)
    site = np.asarray([k[0] for k in keys])
    arr = np.asarray([k[1:] for k in keys], np.int64)
    for t, year in enumerate(YEARS):
        for s in range(0, n, batch):
            sl = slice(s, s + batch)
            yield pred[t, sl], ref[t, sl], dict(
                sites=site[sl], patches=arr[sl, 0], years=np.full(len(arr[sl]), year), rows=arr[sl, 1],
                cols=arr[sl, 2], site_heights=arr[sl, 3], site_widths=arr[sl, 4],
            )


def change_batches(keys, pool_pred, pool_ref, batch):
    """45 pairs of every patch; masks are slices of a pre-generated pool (no generation timed)."""
    site = np.asarray([k[0] for k in keys])
    arr = np.asarray([k[1:] for k in keys], np.int64)
    pool = len(pool_pred)
    offset = 0
    for y1, y2 in combinations(YEARS, 2):
        for s in range(0, len(keys), batch):
            sl = slice(s, s + batch)
            m = len(arr[sl])
            start = offset % (pool - m)
            offset += m
            yield pool_pred[start : start + m], pool_ref[start : start + m], dict(
                sites=site[sl], patches=arr[sl, 0], year_t1=np.full(m, y1), year_t2=np.full(m, y2),
                rows=arr[sl, 1], cols=arr[sl, 2], site_heights=arr[sl, 3], site_widths=arr[sl, 4],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="masks per add/add_batch call")
    parser.add_argument("--raw", type=int, default=300, help="masks fed to the raw-mask evaluate baseline")
    parser.add_argument("--patches", type=int, default=N_PATCHES, help="patches per year (1,011 in the test split)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    keys = make_sites(rng, args.patches)
    pred = np.empty((len(YEARS), len(keys), S, S), np.uint8)
    ref = np.empty_like(pred)
    for t in range(len(YEARS)):
        pred[t], ref[t] = make_masks(rng, len(keys))
    pool_pred, pool_ref = make_masks(rng, 4096)
    n_map = pred.shape[0] * pred.shape[1]
    n_pairs = len(keys) * 45
    rows: list[tuple[str, str, int, float, float]] = []

    def record(task, path, n, fn):
        wall, cpu = timed(fn)
        rows.append((task, path, n, wall, cpu))
        return wall, cpu

    # --- mapping ------------------------------------------------------------------------------
    def core_f1():
        s = MappingScorer(temporal=False)
        for p, r, kw in mapping_batches(keys, pred, ref, args.batch):
            s.add(p, r, **kw)
        core_f1.result = s.compute()

    def core_full():
        s = MappingScorer()
        for p, r, kw in mapping_batches(keys, pred, ref, args.batch):
            s.add(p, r, **kw)
        core_full.result = s.compute()

    def module(name, batches):
        def run():
            m = evaluate.load(str(REPO / "metrics" / name))
            for p, r, kw in batches():
                m.add_batch(predictions=p, references=r, **kw)
            run.result = m.compute()
        return run

    record("mapping", "core: F1 per year (MappingScorer temporal=False)", n_map, core_f1)
    record("mapping", "core: F1 + LCA/GCA-TIoU (MappingScorer)", n_map, core_full)
    yearly = module("yearly_f1", lambda: mapping_batches(keys, pred, ref, args.batch))
    record("mapping", "evaluate: metrics/yearly_f1", n_map, yearly)
    ca = module("ca_tiou", lambda: mapping_batches(keys, pred, ref, args.batch))
    record("mapping", "evaluate: metrics/ca_tiou", n_map, ca)
    assert abs(yearly.result["OF1"] - core_f1.result["OF1"]) < 1e-12
    assert abs(ca.result["GCA-TIoU"] - core_full.result["GCA-TIoU"]) < 1e-12

    def raw():
        m = RawMaskF1()
        flat_p, flat_r = pred.reshape(-1, S, S)[: args.raw], ref.reshape(-1, S, S)[: args.raw]
        for s in range(0, args.raw, 50):
            m.add_batch(predictions=flat_p[s : s + 50], references=flat_r[s : s + 50])
        m.compute()

    record("mapping", f"evaluate fed raw masks (timed on {args.raw})", args.raw, raw)

    # --- change detection ---------------------------------------------------------------------
    def core_cd():
        s = ChangeScorer()
        for p, r, kw in change_batches(keys, pool_pred, pool_ref, args.batch):
            s.add(p, r, **kw)
        core_cd.result = s.compute()

    record("change", "core: F1 per interval (ChangeScorer)", n_pairs, core_cd)
    icd = module("interval_f1", lambda: change_batches(keys, pool_pred, pool_ref, args.batch))
    record("change", "evaluate: metrics/interval_f1", n_pairs, icd)
    assert abs(icd.result["OF1"] - core_cd.result["OF1"]) < 1e-12

    print(f"machine: {platform.node()} | {platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | "
          f"load avg {os.getloadavg()[0]:.1f} | numpy {np.__version__} | evaluate {evaluate.__version__} | batch {args.batch}")
    print()
    print("| task | path | masks | wall s | masks/s (wall) | CPU s | masks/s (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for task, path, n, wall, cpu in rows:
        print(f"| {task} | {path} | {n:,} | {wall:.2f} | {n / wall:,.0f} | {cpu:.2f} | {n / max(cpu, 1e-9):,.0f} |")
    by = {path: (n / wall, n / max(cpu, 1e-9)) for _, path, n, wall, cpu in rows}

    def ratio(a, b):
        return f"{by[a][0] / by[b][0]:.2f}x wall, {by[a][1] / by[b][1]:.2f}x CPU"

    print()
    print("core / module slowdown of the evaluate modules (target <= 2x):")
    print(f"  yearly_f1   vs core F1:          {ratio('core: F1 per year (MappingScorer temporal=False)', 'evaluate: metrics/yearly_f1')}")
    print(f"  ca_tiou     vs core F1+CA-TIoU:  {ratio('core: F1 + LCA/GCA-TIoU (MappingScorer)', 'evaluate: metrics/ca_tiou')}")
    print(f"  interval_f1 vs core change:      {ratio('core: F1 per interval (ChangeScorer)', 'evaluate: metrics/interval_f1')}")


if __name__ == "__main__":
    main()
