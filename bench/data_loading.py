"""Data-loading benchmark: samples/s through a torch DataLoader, as the trainer reads the data.

Compares, on one synthetic archive (single process, ``num_workers=0``, batch 32, shuffled,
normalised float32 out):

* ``mapping``: :class:`~euromine_hf.data.pairs.MappingDataset` (zero-copy reads of the Arrow
  ``Array3D`` column) + :class:`~euromine_hf.data.collators.MappingCollator`; the plain datasets path (``with_format("numpy", dtype=None)`` + ``__getitems__``);
  and the same rows stored as a binary column (read zero-copy, and through the datasets
  formatter + ``np.frombuffer``) — the storage comparison behind the builder's choice of
  ``Array3D``;
* ``pairs``: :class:`~euromine_hf.data.pairs.PairDataset` over the mapping rows +
  :class:`~euromine_hf.data.collators.PairCollator`;
* ``Trainer.get_train_dataloader()`` as ``train.py`` builds it (the segmentation task's
  ``load_splits`` + ``build_trainer``, real collator, accelerate's prepared loader): the path training reads
  (only with ``--split train``, the split training reads);
* the baseline of both: one ``.npy`` file per patch (the published cropped layout), loaded and
  normalised per sample with torch as the publishers' loaders do, stacked by the default collate.

Augmentation cost (``--augment``, on by default in ``train.py``): the Trainer flips/rotates each
batch in ``augment_batch``, called as ``training_step`` calls it (the collators' own
``augment=True`` is not used under the Trainer, so it is not timed). For mapping rows (the
segmenter's Trainer), pairs and series (the detector's Trainer, ``--sampling pairs`` /
``timeseries``) the un-augmented and the augmented loader alternate epoch by epoch (ABBA order),
and each repetition's ratio augmented / un-augmented is reported (median, min-max), by the wall
clock and by the process's CPU time: on a shared machine the load changes between epochs, and a
ratio of two neighbouring epochs cancels most of it (CPU time also leaves out descheduling).

MB/s counts the raw bytes a sample carries (uint16 image + uint8 mask; twice for a pair).
Every reader is run once untimed first so all read from a warm page cache.

    python bench/data_loading.py                      # synthetic default (12 sites)
    python bench/data_loading.py --num-sites 24 --rounds 7 --repetitions 15
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from euromine_hf.bands import MEAN, STD, NUM_BANDS, PATCH_SIZE
from euromine_hf.data.builder import load_euromine
from euromine_hf.data.collators import MappingCollator, PairCollator
from euromine_hf.data.pairs import MappingDataset, MappingRows, PairDataset
from euromine_hf.data.synthetic import SyntheticConfig, archive_matches, generate_archive

SAMPLE_BYTES = NUM_BANDS * PATCH_SIZE * PATCH_SIZE * 2 + PATCH_SIZE * PATCH_SIZE


# ------------------------------------------------------------------------------------------------
# Baseline: one .npy per patch, normalised per sample (the publishers' loaders)


def write_npy_patches(mapping, out: Path) -> list[tuple[str, str, int, int]]:
    """Cropped layout ``{Site}/{YYYY}/image/Year{YYYY}_Patch{n}.npy`` (+ label, 0/255) of a split."""
    rows = MappingRows(mapping)
    index = []
    images = rows.images(np.arange(len(rows)))
    masks = rows.masks(np.arange(len(rows)))
    for i, (site, year, patch) in enumerate(zip(rows.keys["site"], rows.keys["year"], rows.keys["patch"])):
        img = out / str(site) / str(year) / "image" / f"Year{year}_Patch{patch}.npy"
        lab = out / str(site) / str(year) / "label" / f"Year{year}_Patch{patch}.npy"
        if not img.exists():
            img.parent.mkdir(parents=True, exist_ok=True)
            lab.parent.mkdir(parents=True, exist_ok=True)
            np.save(img, np.ascontiguousarray(images[i]))
            np.save(lab, (masks[i] * 255).astype(np.uint8))
        index.append((str(img), str(lab), int(year), int(patch)))
    return index


class NpyMapping(torch.utils.data.Dataset):
    """Per-sample loader as the publishers write it: np.load, float32, (x - mean) / std per sample."""

    def __init__(self, files: list[tuple[str, str, int, int]]) -> None:
        self.files = files
        self.mean = torch.from_numpy(MEAN).view(-1, 1, 1)
        self.std = torch.from_numpy(STD).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_path, lab_path, _, _ = self.files[i]
        image = torch.from_numpy(np.load(img_path).astype(np.float32))
        image = (image - self.mean) / self.std
        label = torch.from_numpy((np.load(lab_path) > 0).astype(np.int64))
        return image, label

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, label = self.load(i)
        return {"pixel_values": image, "labels": label}


class NpyPairs(NpyMapping):
    """Pairs from the same .npy files: two images and two labels per sample, change = |l2 - l1|."""

    def __init__(self, files: list[tuple[str, str, int, int]], pairs: PairDataset) -> None:
        super().__init__(files)
        self.r1 = pairs.index.row_t1
        self.r2 = pairs.index.row_t2

    def __len__(self) -> int:
        return len(self.r1)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x1, l1 = self.load(int(self.r1[i]))
        x2, l2 = self.load(int(self.r2[i]))
        return {"pixel_values_t1": x1, "pixel_values_t2": x2, "labels": (l2 - l1).abs()}


# ------------------------------------------------------------------------------------------------
# The binary-column variant of mapping (storage comparison)


def binary_copy(mapping, cache_dir: Path):
    import datasets

    rows = MappingRows(mapping)
    features = datasets.Features(
        {"site": datasets.Value("string"), "patch": datasets.Value("int32"), "year": datasets.Value("int32"),
         "image": datasets.Value("binary"), "mask": datasets.Value("binary")}
    )

    def gen():
        for i in range(len(rows)):
            yield {
                "site": str(rows.keys["site"][i]), "patch": int(rows.keys["patch"][i]), "year": int(rows.keys["year"][i]),
                "image": rows.images([i])[0].tobytes(), "mask": rows.masks([i])[0].tobytes(),
            }

    return datasets.Dataset.from_generator(gen, features=features, cache_dir=str(cache_dir), writer_batch_size=64)


def frombuffer_collator(collate: MappingCollator) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    shape = (NUM_BANDS, PATCH_SIZE, PATCH_SIZE)

    def fn(samples):
        return collate([
            {"image": np.frombuffer(s["image"], np.uint16).reshape(shape), "mask": np.frombuffer(s["mask"], np.uint8).reshape(shape[1:])}
            for s in samples
        ])

    return fn


# ------------------------------------------------------------------------------------------------


class AugmentedLoader:
    """A Trainer's train dataloader whose batches pass through ``trainer.augment_batch`` exactly where
    ``EuroMineTrainer.training_step`` calls it (under ``--augment`` or ``--radiometric_jitter``)."""

    def __init__(self, trainer: Any) -> None:
        self.trainer, self.loader = trainer, trainer.get_train_dataloader()

    def __iter__(self):
        trainer = self.trainer
        for batch in self.loader:
            yield trainer.augment_batch(batch) if trainer.augment or trainer.radiometric_jitter > 0 else batch


def trainer_loader(archive: Path, workdir: Path, batch_size: int, seed: int, augment: bool = False) -> Any:
    """What ``train.py``'s segmenter training iterates: ``trainer.get_train_dataloader()`` of ``run_training``
    (same splits, collator, Trainer), each batch then through the Trainer's augmentation (``augment``)."""
    from euromine_hf.training.arguments import DataArguments, EuroMineTrainingArguments, ModelArguments, RunArguments
    from euromine_hf.training.tasks import get_task

    data_args = DataArguments(data_dir=str(archive), cache_dir=str(workdir / "hf"), augment=augment)
    training_args = EuroMineTrainingArguments(
        output_dir=str(workdir / "trainer"), per_device_train_batch_size=batch_size, use_cpu=True, seed=seed,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    task = get_task("segmentation")
    splits = task.load_splits(archive, data_args)
    model = task.build_model(ModelArguments(model="unet", size="tiny"), seed=seed)
    trainer = task.build_trainer(model, splits, data_args, training_args, RunArguments())
    return AugmentedLoader(trainer)


def make_loader(dataset, collate, batch_size: int, seed: int = 0) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0, collate_fn=collate, generator=gen)


def epoch_rate(loader: Any, per_sample: int = 1) -> float:
    """Samples per second over one (shuffled) pass; ``per_sample`` counts each batch row that many times."""
    n = 0
    start = time.perf_counter()
    for batch in loader:
        n += len(batch["labels"]) * per_sample
    return n / (time.perf_counter() - start)


def detector_loader(mapping, workdir: Path, batch_size: int, sampling: str, augment: bool) -> AugmentedLoader:
    """What ``train.py --task change_detection`` iterates (accelerate-prepared loader, seeded sampler,
    the collator ``run_change_detection`` gives the ``ChangeDetectionTrainer``), single process:
    ``pairs`` sampling (PairDataset + PairCollator with both dates' masks) or ``timeseries`` (one patch
    series per sample, Eq. 7 forms the pairs later), then the Trainer's augmentation (``augment``)."""
    from euromine_hf.data.collators import TimeseriesCollator
    from euromine_hf.data.pairs import TimeseriesDataset
    from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
    from euromine_hf.models.modeling import EuroMineChangeDetectionModel
    from euromine_hf.training.arguments import EuroMineTrainingArguments
    from euromine_hf.training.change_trainer import ChangeDetectionTrainer

    class _Config(EuroMineChangeDetectionConfig):
        model_type = "euromine-bench-loader"

    class _Detector(EuroMineChangeDetectionModel):  # the loader needs a model; it is never run
        config_class = _Config

        def __init__(self, config):
            super().__init__(config)
            self.head = torch.nn.Conv2d(config.num_channels, 2, 1)
            self.post_init()

    args = EuroMineTrainingArguments(output_dir=str(workdir / "trainer"), per_device_train_batch_size=batch_size,
                                     use_cpu=True, dataloader_num_workers=0, eval_strategy="no", save_strategy="no",
                                     load_best_model_at_end=False, report_to="none", disable_tqdm=True)
    series = sampling == "timeseries"
    trainer = ChangeDetectionTrainer(
        model=_Detector(_Config()), args=args,
        train_dataset=TimeseriesDataset(mapping) if series else PairDataset(mapping),
        data_collator=TimeseriesCollator() if series else PairCollator(with_masks=True), augment=augment)
    return AugmentedLoader(trainer)


def trainer_pair_rates(mapping, batch_size: int, rounds: int, workdir: Path) -> list[tuple[str, float, float]]:
    """Pairs/s through the change-detection Trainer's own train dataloader (:func:`detector_loader`,
    no augmentation): ``pairs`` sampling, and ``timeseries`` counted as series·45 pairs/s (Eq. 7 forms
    all 45 pairs of each series in the trainer). Returns (reader, median, best) in pairs/s."""
    from euromine_hf.training.change_trainer import series_pairs

    n_pairs = len(series_pairs(sorted(set(int(y) for y in mapping["year"]))))
    setups = [
        ("Trainer loader: PairDataset + PairCollator(with_masks) (--sampling pairs)", "pairs", 1),
        (f"Trainer loader: TimeseriesDataset + TimeseriesCollator (--sampling timeseries, x{n_pairs} pairs)",
         "timeseries", n_pairs),
    ]
    out = []
    for name, sampling, per_sample in setups:
        loader = detector_loader(mapping, workdir, batch_size, sampling, augment=False)
        epoch_rate(loader)  # warm-up
        rates = [epoch_rate(loader, per_sample) for _ in range(rounds)]
        out.append((name, float(np.median(rates)), max(rates)))
    return out


def epoch_rates(loader: Any) -> tuple[float, float]:
    """Rows per second over one pass, by the wall clock and by this process's CPU time (which leaves
    out the time other jobs on a shared machine hold the core; memory-bandwidth contention stays in)."""
    n, wall, cpu = 0, time.perf_counter(), time.process_time()
    for batch in loader:
        n += len(batch["labels"])
    return n / (time.perf_counter() - wall), n / max(time.process_time() - cpu, 1e-9)


def interleaved_ratios(plain: Callable[[], Any], augmented: Callable[[], Any], repetitions: int) -> np.ndarray:
    """(repetitions, 3, m): un-augmented rates, augmented rates and augmented / un-augmented, the two
    taken back to back in ABBA order (even repetitions un-augmented first, odd ones augmented first) so
    a load change on a shared machine biases neither side; each callable returns m rates (clocks)."""
    out = []
    for r in range(repetitions):
        if r % 2 == 0:
            a = np.atleast_1d(plain())
            b = np.atleast_1d(augmented())
        else:
            b = np.atleast_1d(augmented())
            a = np.atleast_1d(plain())
        out.append((a, b, b / a))
    return np.array(out, dtype=float)


def augmentation_loaders(archive: Path, mapping, workdir: Path, batch_size: int, seed: int) -> list[tuple[str, Any, Any]]:
    """(batch kind, un-augmented loader, augmented loader): mapping rows (the segmenter's Trainer), pairs
    and series (the detector's Trainer, ``--sampling pairs`` / ``timeseries``)."""
    return [
        ("mapping rows: EuroMineTrainer (train.py, --sampling per_year)",
         trainer_loader(archive, workdir, batch_size, seed), trainer_loader(archive, workdir, batch_size, seed, augment=True)),
        ("pairs: ChangeDetectionTrainer (--sampling pairs; 2 dates, 3 masks)",
         detector_loader(mapping, workdir, batch_size, "pairs", False), detector_loader(mapping, workdir, batch_size, "pairs", True)),
        ("timeseries: ChangeDetectionTrainer (--sampling timeseries; T years, T masks)",
         detector_loader(mapping, workdir, batch_size, "timeseries", False),
         detector_loader(mapping, workdir, batch_size, "timeseries", True)),
    ]


def augmentation_cost(kinds: list[tuple[str, Any, Any]], repetitions: int) -> list[tuple[str, np.ndarray]]:
    """Per batch kind: :func:`interleaved_ratios` of its loader without and with ``--augment`` by both
    clocks of :func:`epoch_rates`, each loader warmed up by one untimed epoch first."""
    out = []
    for name, plain, augmented in kinds:
        epoch_rates(plain), epoch_rates(augmented)  # warm-up: page cache, allocator
        out.append((name, interleaved_ratios(lambda: epoch_rates(plain), lambda: epoch_rates(augmented), repetitions)))
        print(f"  augmentation cost: {name.split(':')[0]} done", file=sys.stderr)
    return out


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("outputs/bench_data_loading"), help="archive, caches and .npy files")
    parser.add_argument("--num-sites", type=int, default=12, help="synthetic sites (default 12, the synthetic default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per reader (round-robin over readers)")
    parser.add_argument("--repetitions", type=int, default=9,
                        help="interleaved un-augmented / augmented epoch pairs per batch kind (augmentation cost)")
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--torch-threads", type=int, default=1,
        help="torch intra-op threads (default 1, what DataLoader workers use; the baseline normalises with torch, "
        "and on a busy 2-core machine 2 threads make its small per-sample ops several times slower)",
    )
    args = parser.parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)

    config = SyntheticConfig(seed=args.seed, num_sites=args.num_sites)
    archive = args.workdir / f"archive-s{args.seed}-n{args.num_sites}"
    if not archive_matches(archive, config):
        generate_archive(archive, config, overwrite=True, progress=True)
    mapping = load_euromine(archive, "mapping", cache_dir=args.workdir / "hf")[args.split]
    npy = write_npy_patches(mapping, args.workdir / f"npy-s{args.seed}-n{args.num_sites}-{args.split}")
    binary = binary_copy(mapping, args.workdir / "hf-binary")
    pairs = PairDataset(mapping)

    b, rounds = args.batch_size, args.rounds
    readers: list[tuple[str, str, Any, Any, int]] = [
        ("mapping", "baseline: .npy per patch, per-sample torch normalise", NpyMapping(npy), None, SAMPLE_BYTES),
        ("mapping", "MappingDataset (zero-copy Array3D) + MappingCollator", MappingDataset(mapping), MappingCollator(), SAMPLE_BYTES),
        ("mapping", "datasets with_format('numpy', dtype=None) + MappingCollator", mapping.with_format("numpy", dtype=None), MappingCollator(), SAMPLE_BYTES),
        ("mapping", "binary column, zero-copy MappingDataset + MappingCollator", MappingDataset(binary), MappingCollator(), SAMPLE_BYTES),
        ("mapping", "binary column, datasets format + np.frombuffer + collator", binary, frombuffer_collator(MappingCollator()), SAMPLE_BYTES),
        ("pairs", "baseline: 2 .npy per pair, per-sample torch normalise", NpyPairs(npy, pairs), None, 2 * SAMPLE_BYTES),
        ("pairs", "PairDataset (index over mapping) + PairCollator", pairs, PairCollator(), 2 * SAMPLE_BYTES),
    ]
    loaders = [make_loader(ds, collate, b) for _, _, ds, collate, _ in readers]
    if args.split == "train":
        readers[2:2] = [
            ("mapping", "Trainer.get_train_dataloader() (train.py's path: the task's load_splits + build_trainer)", None, None, SAMPLE_BYTES),
        ]
        loaders[2:2] = [trainer_loader(archive, args.workdir, b, args.seed)]
    print(f"mapping rows: {len(mapping)}, pairs: {len(pairs)} (split {args.split}); warming up", file=sys.stderr)
    for loader in loaders:  # page cache, allocator
        epoch_rate(loader)
    # Round-robin: every reader gets one epoch per round, so load from other processes on a
    # shared machine spreads over all readers instead of hitting one.
    rates: list[list[float]] = [[] for _ in readers]
    for r in range(rounds):
        for i, loader in enumerate(loaders):
            rates[i].append(epoch_rate(loader))
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr)
    results = []
    for (task, name, _, _, nbytes), rs in zip(readers, rates):
        med = float(np.median(rs))
        results.append((task, name, med, max(rs), med * nbytes / 1e6))
    base = {task: med for task, name, med, _, _ in results if name.startswith("baseline")}
    zero_copy = next(med for _, name, med, _, _ in results if name.startswith("MappingDataset"))

    print(f"\nMachine: {machine()}")
    print(f"Data: synthetic archive, {args.num_sites} sites (seed {args.seed}), split {args.split}: {len(mapping)} mapping rows, {len(pairs)} pairs")
    print(f"DataLoader: batch {b}, shuffle, num_workers=0, torch threads {torch.get_num_threads()}; "
          f"median (best) of {rounds} timed epochs per reader, round-robin, after one warm-up epoch")
    print(f"Load average during the run: {os.getloadavg()[0]:.1f} (1 min)\n")
    print("| task | reader | samples/s (median) | best | MB/s | vs baseline | vs zero-copy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for task, name, med, best, mbps in results:
        vs_zero_copy = f"{med / zero_copy:.2f}x" if task == "mapping" else ""
        print(f"| {task} | {name} | {med:,.0f} | {best:,.0f} | {mbps:,.0f} | {med / base[task]:.2f}x | {vs_zero_copy} |")
    print("\n| change-detection Trainer | pairs/s (median) | best |\n|---|---:|---:|")
    for name, med, best in trainer_pair_rates(mapping, b, rounds, args.workdir):
        print(f"| {name} | {med:,.0f} | {best:,.0f} |")
    if args.split == "train":
        kinds = augmentation_loaders(archive, mapping, args.workdir, b, args.seed)
        print_augmentation_cost(augmentation_cost(kinds, args.repetitions))
    return 0


def print_augmentation_cost(rows: list[tuple[str, np.ndarray]]) -> None:
    """The augmentation table: rows/s (batch rows: images, pairs or series) and the per-repetition ratio,
    by the wall clock (samples/s as training sees them) and by CPU time (robust to descheduling)."""
    reps = len(rows[0][1]) if rows else 0
    print(f"\nAugmentation cost (train.py --augment): {reps} interleaved repetitions (ABBA), one epoch each, "
          f"after one warm-up epoch per loader; load average now {os.getloadavg()[0]:.1f}\n")
    print("| Trainer's train loader | un-augmented rows/s (median) | augmented rows/s (median) "
          "| ratio (median) | ratio min-max | per repetition | ratio by CPU time (median, min-max) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for name, runs in rows:
        plain, augmented, ratios = runs[:, 0, 0], runs[:, 1, 0], runs[:, 2, 0]
        cpu = runs[:, 2, -1]
        print(f"| {name} | {np.median(plain):,.0f} | {np.median(augmented):,.0f} | {np.median(ratios):.2f} "
              f"| {ratios.min():.2f}-{ratios.max():.2f} | {' '.join(f'{r:.2f}' for r in ratios)} "
              f"| {np.median(cpu):.2f} ({cpu.min():.2f}-{cpu.max():.2f}) |")


if __name__ == "__main__":
    sys.exit(main())
