"""Benchmark every zoo model: parameters, forward GFLOPs, training-step time and peak memory.

    python bench/models.py                       # all models, paper-size configs, batch 8, 10×160×160
    python bench/models.py --models segformer,unet --size tiny --iterations 5
    python bench/models.py --task change_detection   # the detectors only

A segmenter's batch is 8 images; a change detector's is 8 pairs (two 10×160×160 dates each), so
its figures are per 8 pairs. Multitemporal models read whole series: ``bench/series_cost.py``.

Each model runs in its own subprocess so that peak memory (``ru_maxrss``) is that model's alone.
Columns:
- params: trainable + frozen parameters (millions).
- GFLOPs: forward pass of the whole batch, counted by ``torch.utils.flop_counter.FlopCounterMode``
  (matmuls/convolutions/attention; 1 multiply-add = 2 FLOPs; element-wise ops not counted).
- CPU ms: one training step (forward with labels + loss + backward), float32, median of
  ``--iterations`` after ``--warmup`` steps.
- CPU peak MB: growth of the process's peak resident memory over those steps, above the built model
  and its batch (activations, gradients, autograd buffers).
- GPU columns (only when CUDA is available): the same step under bf16 autocast, median ms and
  ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any


def _maxrss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(name: str, size: str, batch_size: int, image_size: int, warmup: int, iterations: int) -> dict[str, Any]:
    """Measure one model in this process (called in a fresh subprocess by :func:`main`)."""
    import warnings

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    from euromine_hf.models import build_model, get_spec

    torch.manual_seed(0)
    model = build_model(name, size)
    channels = model.config.num_channels
    pixels = torch.randn(batch_size, channels, image_size, image_size)
    if get_spec(name).task == "change_detection":
        inputs = {"pixel_values_t1": pixels, "pixel_values_t2": torch.randn_like(pixels)}
    else:
        inputs = {"pixel_values": pixels}
    labels = torch.randint(0, 2, (batch_size, image_size, image_size))
    params = sum(p.numel() for p in model.parameters())

    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(**inputs)
    gflops = counter.get_total_flops() / 1e9

    def step(m: torch.nn.Module, x: dict[str, torch.Tensor], y: torch.Tensor) -> None:
        m.zero_grad(set_to_none=True)
        m(**x, labels=y).loss.backward()

    model.train()
    baseline = _maxrss_mb()
    times = []
    for index in range(warmup + iterations):
        start = time.perf_counter()
        step(model, inputs, labels)
        if index >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    result: dict[str, Any] = {
        "model": name,
        "params_m": params / 1e6,
        "gflops": gflops,
        "cpu_ms": statistics.median(times),
        "cpu_peak_mb": _maxrss_mb() - baseline,
        "cpu_iterations": iterations,
    }

    if torch.cuda.is_available():
        device = torch.device("cuda")
        model = model.to(device)
        x, y = {key: value.to(device) for key, value in inputs.items()}, labels.to(device)
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        gpu_times = []
        for index in range(warmup + max(iterations, 10)):
            torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                step(model, x, y)
            torch.cuda.synchronize()
            if index >= warmup:
                gpu_times.append((time.perf_counter() - start) * 1000.0)
        result["gpu_ms"] = statistics.median(gpu_times)
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu_name"] = torch.cuda.get_device_name()
    return result


def _markdown(rows: list[dict[str, Any]]) -> str:
    gpu = any("gpu_ms" in row for row in rows)
    header = ["model", "paper name", "params (M)", "GFLOPs (fwd)", "CPU fwd+bwd ms", "CPU peak MB"]
    if gpu:
        header += ["GPU bf16 fwd+bwd ms", "GPU peak MB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row.get('paper_name', '')} | error: {row['error']} |")
            continue
        cells = [
            row["model"],
            row.get("paper_name", ""),
            f"{row['params_m']:.2f}",
            f"{row['gflops']:.1f}",
            f"{row['cpu_ms']:.0f}" + ("" if row["cpu_iterations"] >= 3 else f" ({row['cpu_iterations']} it)"),
            f"{row['cpu_peak_mb']:.0f}",
        ]
        if gpu:
            cells += [f"{row['gpu_ms']:.1f}", f"{row['gpu_peak_mb']:.0f}"] if "gpu_ms" in row else ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="all", help="comma-separated zoo names, or 'all' (default)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument(
        "--task", choices=("all", "segmentation", "change_detection"), default="all", help="with --models all"
    )
    parser.add_argument("--size", choices=("paper", "tiny"), default="paper", help="config preset")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=3, help="timed training steps per model")
    parser.add_argument(
        "--slow-iterations",
        default="",
        help="per-model overrides NAME=N,... for models too slow for --iterations on this machine",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--json", help="also write the raw rows to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if args.worker:
        row = measure(args.worker, args.size, args.batch_size, args.image_size, args.warmup, args.iterations)
        print(json.dumps(row))
        return 0

    from euromine_hf.models import MODEL_ZOO

    names = sorted((n for n, s in MODEL_ZOO.items() if args.task in ("all", s.task) and s.task != "multitemporal"),
                   key=lambda n: (MODEL_ZOO[n].task != "segmentation", n)) if args.models == "all" else [
        n.strip() for n in args.models.split(",") if n.strip()
    ]
    unknown = [n for n in names if n not in MODEL_ZOO]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; available: {', '.join(sorted(MODEL_ZOO))}")
    series = [n for n in names if MODEL_ZOO[n].task == "multitemporal"]
    if series:
        parser.error(f"--models: {', '.join(series)} read whole series; measure them with bench/series_cost.py")
    overrides = {}
    for item in filter(None, args.slow_iterations.split(",")):
        key, _, value = item.partition("=")
        overrides[key.strip()] = int(value)

    rows = []
    for name in names:
        iterations = overrides.get(name, args.iterations)
        command = [
            sys.executable, os.path.abspath(__file__), "--worker", name, "--size", args.size,
            "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
            "--warmup", str(args.warmup), "--iterations", str(iterations), "--threads", str(args.threads),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            row = {"model": name, "error": tail[:200]}
        else:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        row["paper_name"] = MODEL_ZOO[name].paper_name
        rows.append(row)
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    import torch

    print(
        f"batch {args.batch_size} × {MODEL_ZOO[names[0]].make_config(args.size).num_channels}×{args.image_size}×"
        f"{args.image_size}, {args.size} configs; torch {torch.__version__}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), threads {args.threads or torch.get_num_threads()}\n"
    )
    print(_markdown(rows))
    if args.json:
        with open(args.json + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
