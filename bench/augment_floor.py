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
  cheapest kernel for each (4 of the 8 transpose);
* with ``--compiled``, whether a compiled transpose beats numpy's: Pillow's C transpose per plane, and
  (where numba is installed; it is not a dependency) two numba kernels, a tiled scalar transpose and
  a 4 x 4 in-register transpose of uint16 packed in uint64 words. Each is checked against numpy.

    OMP_NUM_THREADS=1 python bench/augment_floor.py [--compiled]
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


def compiled_rows(images: np.ndarray, repeat: int) -> dict[str, float | str]:
    """ms per batch of a transposed uint16 copy by compiled kernels (numba's only where it imports)."""
    from PIL import Image

    planes = images.reshape(-1, *images.shape[-2:])
    want = np.ascontiguousarray(planes.swapaxes(-1, -2))
    out = np.empty_like(want)
    size = planes.shape[2], planes.shape[1]

    def pillow() -> None:
        for i, plane in enumerate(planes):
            image = Image.frombuffer("I;16", size, plane, "raw", "I;16", 0, 1)
            out[i] = np.asarray(image.transpose(Image.Transpose.TRANSPOSE))

    rows: dict[str, float | str] = {"uint16 transposed copy, Pillow per plane": best_ms(pillow, repeat)}
    if not np.array_equal(out, want):
        raise AssertionError("Pillow's transpose disagrees with numpy's")
    try:
        import numba
    except ImportError:
        rows["uint16 transposed copy, numba"] = "numba not installed"
        return rows
    tiled, packed, cast = _numba_kernels(numba)
    mean, std = MappingCollator().mean, MappingCollator().std
    cast_out = np.empty(images.shape, dtype=np.float32)
    rows["uint16 -> float32 cast + normalise, numba (the un-augmented pass compiled)"] = best_ms(
        lambda: cast(images, mean, std, cast_out), repeat)
    if not np.array_equal(cast_out, ((images.astype(np.float32) - mean[:, None, None]) / std[:, None, None])):
        raise AssertionError("numba's cast disagrees with numpy's")
    for name, kernel in (("numba, 32 x 32 tiles", tiled), ("numba, 4 x 4 in uint64 words", packed)):
        if planes.shape[-1] % 4 or planes.shape[-2] % 4:
            continue
        rows[f"uint16 transposed copy, {name}"] = best_ms(lambda kernel=kernel: kernel(planes, out), repeat)
        if not np.array_equal(out, want):
            raise AssertionError(f"{name} disagrees with numpy's transpose")
    return rows


def _numba_kernels(numba):
    """Two numba transposes ``(planes (N, H, W) uint16, out (N, W, H))``: scalar tiles, and 4 x 4 blocks
    transposed in registers (rows of 4 uint16 read as one uint64; two mask-and-shift rounds); and the
    collator's cast + normalise ``(images (B, C, H, W) uint16, mean, std, out float32)``."""
    m16, m16h = np.uint64(0x0000FFFF0000FFFF), np.uint64(0xFFFF0000FFFF0000)
    m32, m32h = np.uint64(0x00000000FFFFFFFF), np.uint64(0xFFFFFFFF00000000)
    s16, s32 = np.uint64(16), np.uint64(32)

    @numba.njit(boundscheck=False)
    def tiled(planes, out):
        n, h, w = planes.shape
        for p in range(n):
            for i0 in range(0, h, 32):
                for j0 in range(0, w, 32):
                    for j in range(j0, min(j0 + 32, w)):
                        for i in range(i0, min(i0 + 32, h)):
                            out[p, j, i] = planes[p, i, j]

    @numba.njit(boundscheck=False)
    def packed(planes, out):
        for p in range(planes.shape[0]):
            src, dst = planes[p].view(np.uint64), out[p].view(np.uint64)
            for g in range(src.shape[0] // 4):
                for q in range(src.shape[1]):
                    r0, r1, r2, r3 = src[4 * g, q], src[4 * g + 1, q], src[4 * g + 2, q], src[4 * g + 3, q]
                    t0 = (r0 & m16) | ((r1 & m16) << s16)
                    t1 = ((r0 >> s16) & m16) | (r1 & m16h)
                    t2 = (r2 & m16) | ((r3 & m16) << s16)
                    t3 = ((r2 >> s16) & m16) | (r3 & m16h)
                    dst[4 * q, g] = (t0 & m32) | (t2 << s32)
                    dst[4 * q + 1, g] = (t1 & m32) | (t3 << s32)
                    dst[4 * q + 2, g] = (t0 >> s32) | (t2 & m32h)
                    dst[4 * q + 3, g] = (t1 >> s32) | (t3 & m32h)

    @numba.njit(boundscheck=False)
    def cast(images, mean, std, out):
        for b in range(images.shape[0]):
            for c in range(images.shape[1]):
                m, s = mean[c], std[c]
                for i in range(images.shape[2]):
                    for j in range(images.shape[3]):
                        out[b, c, i, j] = (np.float32(images[b, c, i, j]) - m) / s

    return tiled, packed, cast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--compiled", action="store_true", help="also time Pillow's and numba's transposes")
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
    if args.compiled:
        rows.update(compiled_rows(images, args.repeat))
    cast = rows["collator, no augmentation (cast + normalise)"]
    transpose = min(ms for name, ms in rows.items() if name.startswith("uint16 transposed copy") and not isinstance(ms, str))
    flip = rows["uint16 column flip, torch"]
    # identity and the full reversal ~free in a fused cast, a row flip ~free (row copies), a column
    # flip one vectorised flip, the four transposing transforms one transposed copy each
    extra = (0 + 0 + 0 + flip + 4 * transpose) / 8
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"1 thread, batch {b} x {c} x {s} x {s}, CPU time best of {args.repeat}")
    print("| step | ms per batch |\n|---|---:|")
    for name, ms in rows.items():
        print(f"| {name} | {ms if isinstance(ms, str) else f'{ms:.2f}'} |")
    print(f"\nfused augmentation today: {cast / rows['collator, augment=True (cast through the rotated view)']:.2f}x the "
          f"un-augmented collator; estimate with the cheapest kernels: {cast / (cast + extra):.2f}x (target 0.8x)")
    compiled_cast = rows.get("uint16 -> float32 cast + normalise, numba (the un-augmented pass compiled)")
    if isinstance(compiled_cast, float):
        print(f"with numba's cast as the un-augmented pass (the baseline gets faster too): "
              f"{compiled_cast / (compiled_cast + extra):.2f}x (target 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
