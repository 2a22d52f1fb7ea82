"""How cheap can a dihedral augmentation be on this CPU? The floor under issue 20's item 10.

The un-augmented loader is about one pass over the batch: each uint16 sample is cast into its
float32 slot and normalised in place (``MappingCollator``). An augmentation that is a separate pass
(the Trainer's ``augment_batch`` on the float32 batch) costs at least one more copy of the batch, so
it cannot reach 0.8x of that loader; the only hope is to fuse the flip/rotation into the cast. This
times, per batch of 32 mapping samples (10 x 160 x 160), CPU time, best of ``--repeat``, one thread:

* the collator without and with its own fused augmentation (``augment=True``: the cast reads each
  sample through its rotated/mirrored view), and their ratio: the best a fused path does today;
* the kernels a fused path could be built from, per whole batch: a plain uint16 copy, a transposed
  uint16 copy (numpy, torch), a column flip (torch), and a transposing uint16 -> float32 cast (torch);
* the fused path's estimate: the cast, plus the mean over the 8 transforms of the extra cost of the
  cheapest kernel for each (4 of the 8 transpose).

    OMP_NUM_THREADS=1 python bench/augment_floor.py
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from euromine_hf.data.collators import MappingCollator


def best_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    b, c, s = args.batch, 10, 160
    images = rng.integers(0, 10000, size=(b, c, s, s), dtype=np.uint16)
    samples = [{"image": images[i], "mask": rng.integers(0, 2, size=(s, s), dtype=np.uint8)} for i in range(b)]
    plain, fused = MappingCollator(augment=False), MappingCollator(augment=True, seed=0)
    as_int16 = torch.from_numpy(images.view(np.int16))  # bit moves: exact for uint16 data
    out16, out32 = torch.empty_like(as_int16), torch.empty(b, c, s, s)

    rows = {
        "collator, no augmentation (cast + normalise)": best_ms(lambda: plain(samples), args.repeat),
        "collator, augment=True (cast through the rotated view)": best_ms(lambda: fused(samples), args.repeat),
        "uint16 copy": best_ms(lambda: out16.copy_(as_int16), args.repeat),
        "uint16 transposed copy, numpy": best_ms(lambda: np.ascontiguousarray(images.swapaxes(-1, -2)), args.repeat),
        "uint16 transposed copy, torch": best_ms(lambda: out16.copy_(as_int16.transpose(-1, -2)), args.repeat),
        "uint16 column flip, torch": best_ms(lambda: torch.flip(as_int16, (-1,)), args.repeat),
        "uint16 -> float32 transposing cast, torch": best_ms(lambda: out32.copy_(as_int16.transpose(-1, -2)), args.repeat),
    }
    cast = rows["collator, no augmentation (cast + normalise)"]
    transpose = min(rows["uint16 transposed copy, numpy"], rows["uint16 transposed copy, torch"])
    flip = rows["uint16 column flip, torch"]
    # identity and the full reversal ~free in a fused cast, a row flip ~free (row copies), a column
    # flip one vectorised flip, the four transposing transforms one transposed copy each
    extra = (0 + 0 + 0 + flip + 4 * transpose) / 8
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"1 thread, batch {b} x {c} x {s} x {s}, CPU time best of {args.repeat}")
    print("| step | ms per batch |\n|---|---:|")
    for name, ms in rows.items():
        print(f"| {name} | {ms:.2f} |")
    print(f"\nfused augmentation today: {cast / rows['collator, augment=True (cast through the rotated view)']:.2f}x the "
          f"un-augmented collator; estimate with the cheapest kernels: {cast / (cast + extra):.2f}x (target 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
