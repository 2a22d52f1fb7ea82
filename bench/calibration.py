"""How hard is the embedded synthetic default?  The calibration table of issue 11.

On the default synthetic archive (or ``--data_dir``), fit on the train split and score the test
split with the project's metric core (:class:`MappingMetrics`: OF1, LCA-/GCA-TIoU):

1. the spectral-index threshold baseline (``training/baseline.py``);
2. a per-pixel classifier on the 10 normalised bands, no spatial context: logistic regression
   and a small MLP (10-64-64-2), trained on a random sample of training pixels, deciding at the
   probability that maximises F1 on that sample;
3. the same MLP given box means of the bands over 9x9 and 31x31 px as well: the crudest spatial
   model, to show that context (not the spectrum alone) is what separates mines from look-alikes.

A fair stand-in for EuroMineNet must leave the per-pixel classifier well below a spatial model
(aim: OF1 ≈ 0.6–0.7) — if one pixel's spectrum decides "mine", the benchmark is a lookup table.
The tiny demo segmenter (``python train.py``) is the spatial reference; its OF1 is in its own report.

    PYTHONPATH=$PWD python bench/calibration.py            # default archive (cached), seed 0
    PYTHONPATH=$PWD python bench/calibration.py --fresh    # regenerate into a temp folder first
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _archive(args: argparse.Namespace, tmp: Path) -> Path:
    from euromine_hf.data.synthetic import SyntheticConfig, default_archive, generate_archive

    if args.data_dir is not None:
        return Path(args.data_dir)
    if args.fresh:
        t0 = time.perf_counter()
        generate_archive(tmp / "archive", SyntheticConfig(seed=args.seed))
        print(f"generated the default archive (seed {args.seed}) in {time.perf_counter() - t0:.1f} s")
        return tmp / "archive"
    return default_archive(config=SyntheticConfig(seed=args.seed))


def _normalise(images: np.ndarray) -> np.ndarray:
    from euromine_hf.bands import MEAN, STD

    x = images.astype(np.float32)
    x -= np.asarray(MEAN, np.float32)[:, None, None]
    x /= np.asarray(STD, np.float32)[:, None, None]
    return x


CONTEXT_WINDOWS = (9, 31)


def _features(images: np.ndarray, context: bool) -> np.ndarray:
    """(B, F, H, W): the 10 normalised bands, plus with ``context`` their box means over 9x9 and
    31x31 px (90 m and 310 m) — the crudest spatial model, to show what context alone buys."""
    x = _normalise(images)
    if not context:
        return x
    from scipy import ndimage

    parts = [x] + [ndimage.uniform_filter(x, size=(1, 1, k, k), mode="nearest") for k in CONTEXT_WINDOWS]
    return np.concatenate(parts, axis=1)


def _sample_pixels(dataset: Any, n: int, seed: int, context: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random (pixel features (10,), label) pairs from a mapping split, spread over all rows."""
    from euromine_hf.training.baseline import iter_image_batches

    rng = np.random.default_rng(seed)
    per_row = max(1, int(np.ceil(n / max(len(dataset), 1))))
    xs, ys = [], []
    for images, masks in iter_image_batches(dataset, 64):
        x = _features(images, context)  # (B,F,H,W)
        b, c, h, w = x.shape
        flat = x.transpose(0, 2, 3, 1).reshape(b, h * w, c)
        idx = rng.integers(0, h * w, size=(b, per_row))
        xs.append(np.take_along_axis(flat, idx[..., None], axis=1).reshape(-1, c))
        ys.append(np.take_along_axis(masks.reshape(b, -1), idx, axis=1).reshape(-1))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def _train_pixel_model(kind: str, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    if kind == "logistic":
        model = torch.nn.Linear(x.shape[1], 2)
    else:
        model = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
        )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * int(np.ceil(len(xt) / 1024))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), 1024):
            sel = perm[start:start + 1024]
            loss = torch.nn.functional.cross_entropy(model(xt[sel]), yt[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    # decide "mine" at the probability that maximises F1 on the training sample (not argmax):
    # under class imbalance and overlapping spectra, argmax trades recall for accuracy
    with torch.no_grad():
        p = torch.softmax(model(xt), 1)[:, 1].numpy()
    grid = np.linspace(0.05, 0.95, 91)
    f1 = [2 * np.sum((p > g) & (y == 1)) / max(np.sum(p > g) + np.sum(y == 1), 1) for g in grid]
    model.threshold = float(grid[int(np.argmax(f1))])
    return model


def _score_pixel_model(model: Any, dataset: Any, metrics: Any, context: bool = False) -> dict[str, float]:
    import torch

    from euromine_hf.training.baseline import iter_image_batches

    metrics.bind(dataset)
    with torch.no_grad():
        for images, masks in iter_image_batches(dataset, 64):
            x = _features(images, context)
            b, c, h, w = x.shape
            logits = model(torch.from_numpy(x.transpose(0, 2, 3, 1).reshape(-1, c)))
            prob = torch.softmax(logits, 1)[:, 1].numpy()
            pred = (prob > model.threshold).reshape(b, h, w).astype(np.uint8)
            metrics.add(pred, masks.astype(np.int64))
    return metrics.compute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=None, help="archive to calibrate (default: the synthetic default)")
    parser.add_argument("--fresh", action="store_true", help="generate the default archive into a temp folder first")
    parser.add_argument("--seed", type=int, default=0, help="archive seed (default archive) and training seed")
    parser.add_argument("--pixels", type=int, default=300_000, help="training pixels sampled for the per-pixel models")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the per-pixel models over their sample")
    parser.add_argument("--no_context", action="store_true", help="skip the MLP with box-mean context features")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    from euromine_hf.data.builder import load_euromine
    from euromine_hf.training.baseline import evaluate_baseline, fit_threshold_baseline, iter_image_batches
    from euromine_hf.training.compute_metrics import MappingMetrics

    with tempfile.TemporaryDirectory(prefix="euromine-calibration-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = _archive(args, tmp)
        mapping = load_euromine(data_dir, "mapping", cache_dir=tmp / "hf-cache")
        train = mapping["train"].with_format("numpy", dtype=None)
        test = mapping["test"].with_format("numpy", dtype=None)
        print(f"archive {data_dir}: {len(train)} train / {len(test)} test samples")
        rows: list[tuple[str, dict[str, float], float]] = []

        t0 = time.perf_counter()
        baseline = fit_threshold_baseline(iter_image_batches(train), index="auto")
        scores = evaluate_baseline(baseline, test, MappingMetrics())
        op = ">" if baseline.direction == "greater" else "<"
        rows.append((f"threshold ({baseline.index} {op} {baseline.threshold:.3f})", scores, time.perf_counter() - t0))

        t0 = time.perf_counter()
        x, y = _sample_pixels(train, args.pixels, args.seed)
        sample_s = time.perf_counter() - t0
        for kind in ("logistic", "mlp"):
            t0 = time.perf_counter()
            model = _train_pixel_model(kind, x, y, args.epochs, args.seed)
            scores = _score_pixel_model(model, test, MappingMetrics())
            name = "per-pixel logistic regression" if kind == "logistic" else "per-pixel MLP 10-64-64-2"
            name += f" (p > {model.threshold:.2f})"
            rows.append((name, scores, time.perf_counter() - t0 + sample_s))
        if not args.no_context:
            t0 = time.perf_counter()
            x, y = _sample_pixels(train, args.pixels, args.seed, context=True)
            model = _train_pixel_model("mlp", x, y, args.epochs, args.seed)
            scores = _score_pixel_model(model, test, MappingMetrics(), context=True)
            rows.append((f"MLP + box-mean context 9/31 px (p > {model.threshold:.2f})", scores, time.perf_counter() - t0))

    keys = ("OF1", "LCA-TIoU", "GCA-TIoU")
    width = max(len(r[0]) for r in rows)
    print(f"\n{'method':<{width}}  " + "  ".join(f"{k:>8}" for k in keys) + "    time")
    for name, scores, seconds in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{scores.get(k, float('nan')):8.4f}" for k in keys) + f"  {seconds:5.1f} s")
    print(f"(train pixels sampled: {len(y)}, mine share {y.mean():.3f}; test split scored on all pixels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
