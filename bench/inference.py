"""Whole-scene inference throughput (km²/s) against naive 160-px tiling.

    python bench/inference.py                              # unet tiny + paper, 1600×1600 px scene, CPU
    python bench/inference.py --models unet,segformer --pixels 3200 --device cuda

Sentinel-2 pixels are 10 m, so 1 km² = 10,000 px. For each model (tiny and paper size) on one
synthetic 10-band uint16 GeoTIFF:

- naive: the scene read whole, cut into non-overlapping 160×160 tiles (the last row/column padded
  with zeros), one forward per tile, the class-1 probability pasted back; no blending, no nodata,
  nothing written. The floor a hand-written loop gives.
- predict stride 160 / stride 80: ``euromine_hf.inference.predict_geotiff`` end to end: strip-wise
  reads, batched forwards (``--batch-size``), overlap blending (stride 80 runs ~4× the windows),
  nodata mask, Cloud-Optimised GeoTIFF with overviews written atomically.

Times are wall-clock medians of ``--repeats`` runs after one warm-up; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _scene(path: Path, pixels: int) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", height=pixels, width=pixels, count=10, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(500000, 5600000, 10, 10), tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        for row in range(0, pixels, 256):
            rows = min(256, pixels - row)
            dst.write(rng.integers(200, 4000, size=(10, rows, pixels), dtype=np.uint16),
                      window=rasterio.windows.Window(0, row, pixels, rows))
    return path


def _naive(model, path: Path) -> None:
    import rasterio
    import torch

    from euromine_hf.bands import MEAN, STD

    with rasterio.open(path) as src:
        image = src.read().astype(np.float32)
    image = (image - MEAN[:, None, None]) / STD[:, None, None]
    height, width = image.shape[1:]
    out = np.zeros((height, width), dtype=np.float32)
    with torch.no_grad():
        for r in range(0, height, 160):
            for c in range(0, width, 160):
                tile = np.zeros((10, 160, 160), dtype=np.float32)
                part = image[:, r : r + 160, c : c + 160]
                tile[:, : part.shape[1], : part.shape[2]] = part
                logits = model(pixel_values=torch.from_numpy(tile)[None].to(next(model.parameters()).device)).logits
                out[r : r + 160, c : c + 160] = torch.softmax(logits, 1)[0, 1].cpu().numpy()[: part.shape[1], : part.shape[2]]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="unet", help="comma-separated zoo segmenters (default unet)")
    parser.add_argument("--sizes", default="tiny,paper")
    parser.add_argument("--pixels", type=int, default=1600, help="scene side in pixels (default 1600 = 256 km²)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)

    import torch

    from euromine_hf.inference import predict_geotiff
    from euromine_hf.models import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    km2 = args.pixels * args.pixels / 10_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scene = _scene(Path(tmp) / "scene.tif", args.pixels)
        for name in args.models.split(","):
            for size in args.sizes.split(","):
                model = build_model(name, size=size).to(args.device).eval()
                params = sum(p.numel() for p in model.parameters()) / 1e6
                runs = [("naive 160 tiles, batch 1", lambda: _naive(model, scene))]
                for stride in (160, 80):
                    runs.append((f"predict stride {stride}, batch {args.batch_size}",
                                 lambda stride=stride: predict_geotiff(model, [scene], Path(tmp) / "map.tif",
                                                                       batch_size=args.batch_size, stride=stride)))
                for label, fn in runs:
                    seconds = _time(fn, args.repeats)
                    rows.append((f"{name} {size} ({params:.2f} M params)", label, seconds, km2 / seconds))
    print(f"scene {args.pixels}×{args.pixels} px = {km2:g} km² at 10 m, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"| model | method | seconds | km²/s |\n|---|---|---:|---:|")
    for model, label, seconds, rate in rows:
        print(f"| {model} | {label} | {seconds:.2f} | {rate:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
