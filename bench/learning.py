"""Can every zoo model fit one trivially separable batch? (issue 15, item 3)

    OMP_NUM_THREADS=1 python bench/learning.py                      # every model, tiny preset
    OMP_NUM_THREADS=1 python bench/learning.py --models unet,fc-ef --size paper --steps 100 --full
    OMP_NUM_THREADS=1 python bench/learning.py --seeds 0,1,2        # each model from three seeds
    OMP_NUM_THREADS=1 python bench/learning.py --models bit --balanced-dates   # the batch variants
    OMP_NUM_THREADS=1 python bench/learning.py --models a2net --image-size 128 # the zoo test runs for some

The batch and the check are :mod:`euromine_hf.testing.learning`'s (the zoo test runs the same):
64×64 N(0, 0.5²) noise with a bright square (+3 in every band) as the target, batch 2, Adam lr
1e-3; detectors see the square in date 2 only. Columns: the last checked step, its loss, IoU with
the square in train mode (the optimised forward pass) and eval mode (BatchNorm running statistics),
the mean positive probability on the square in each mode, the first checked step at which both IoUs
were ≥ 0.8 ("-" if none), and seconds. Timings on a shared machine are not benchmark figures.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated zoo names (default: the whole zoo)")
    parser.add_argument("--size", default="tiny", help="size preset (tiny, paper, ...)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=10, help="check both modes every this many steps")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (model init and batch)")
    parser.add_argument("--full", action="store_true", help="run every step instead of stopping once both modes fit")
    parser.add_argument("--image-size", type=int, default=64, help="side of the batch's images (the square is half of it)")
    parser.add_argument(
        "--balanced-dates", action="store_true", help="every second sample has its square in date 1 (detectors)"
    )
    parser.add_argument("--verbose", action="store_true", help="print every check, not only the last")
    args = parser.parse_args(argv)
    import warnings

    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    from euromine_hf.models import zoo_names
    from euromine_hf.testing.learning import THRESHOLD, FitResult, fit_bright_square

    names = [n for n in args.models.split(",") if n] or zoo_names()
    seeds = [int(s) for s in args.seeds.split(",")]
    batch = f"{args.image_size} px" + (", balanced dates" if args.balanced_dates else "")
    print(f"{args.size} preset, {args.steps} steps, seeds {seeds}, {batch}")
    print(f"{'model':26s} {'seed':>4s} {'step':>5s} {'loss':>7s} {'IoU tr':>7s} {'IoU ev':>7s} {'p tr':>6s} {'p ev':>6s} {'fit at':>6s} {'s':>6s}")

    def line(r: FitResult, seed: int, seconds: float | None = None) -> None:
        tail = f" {seconds:6.1f}" if seconds is not None else ""
        print(
            f"{r.model:26s} {seed:4d} {r.step:5d} {r.loss:7.4f} {r.train_iou:7.3f} {r.eval_iou:7.3f} "
            f"{r.train_probability:6.3f} {r.eval_probability:6.3f} {r.reached or '-':>6}{tail}",
            flush=True,
        )

    fitted = 0
    for name in names:
        for seed in seeds:
            start = time.perf_counter()
            log = (lambda r, seed=seed: line(r, seed)) if args.verbose else None
            result = fit_bright_square(
                name, args.size, args.steps, args.every, seed=seed, stop_early=not args.full, log=log,
                image_size=args.image_size, balanced_dates=args.balanced_dates,
            )
            line(result, seed, time.perf_counter() - start)
            fitted += result.reached is not None
    print(f"{fitted}/{len(names) * len(seeds)} runs fit the batch (IoU >= {THRESHOLD} in train and eval mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
