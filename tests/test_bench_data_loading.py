"""``bench/data_loading.py``'s augmentation cost: the loaders it times are the Trainers' own, augmented
where ``training_step`` augments, and each repetition's ratio is taken from back-to-back epochs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from euromine_hf.data.collators import dihedral

from _data_fixtures import hf_cache, small_archive  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_data_loading", ROOT / "bench" / "data_loading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ratios_come_from_back_to_back_epochs_in_abba_order():
    bench = _bench()
    calls = []

    def rate(name, value):
        def run():
            calls.append(name)
            return value
        return run

    runs = bench.interleaved_ratios(rate("plain", (400.0, 200.0)), rate("augmented", (100.0, 150.0)), repetitions=4)
    assert calls == ["plain", "augmented", "augmented", "plain", "plain", "augmented", "augmented", "plain"]
    assert runs.tolist() == [[[400.0, 200.0], [100.0, 150.0], [0.25, 0.75]]] * 4  # per clock: wall, CPU


def test_augmentation_cost_times_the_trainers_loaders_augmented_as_in_training(small_archive, hf_cache, tmp_path, capsys):
    bench = _bench()
    from euromine_hf.data.builder import load_euromine

    mapping = load_euromine(small_archive, "mapping", cache_dir=hf_cache)["train"]
    kinds = bench.augmentation_loaders(small_archive, mapping, tmp_path, 6, 0)
    assert [name.split(":")[0] for name, _, _ in kinds] == ["mapping rows", "pairs", "timeseries"]
    for name, plain_loader, augmented_loader in kinds:
        plain, moved = next(iter(plain_loader)), next(iter(augmented_loader))  # same seeded sampler order
        assert sorted(plain) == sorted(moved)
        keys = [key for key in plain if key.startswith(("pixel_values", "labels"))]
        transformed = 0
        for i in range(len(plain["labels"])):  # each sample under one transform, its images and masks alike
            ks = [k for k in range(8) if all(np.array_equal(dihedral(plain[key][i].numpy(), k), moved[key][i].numpy())
                                             for key in keys)]
            assert ks, f"{name}: sample {i} is not one dihedral transform of the un-augmented batch"
            transformed += 0 not in ks
        assert transformed, f"{name}: the augmented loader moved nothing"
    rows = bench.augmentation_cost(kinds, repetitions=2)
    for _, runs in rows:
        assert runs.shape == (2, 3, 2) and (runs > 0).all() and np.array_equal(runs[:, 2], runs[:, 1] / runs[:, 0])
    bench.print_augmentation_cost(rows)
    table = capsys.readouterr().out
    assert "| ratio (median) | ratio min-max | per repetition |" in table and table.count("| mapping rows") == 1


def test_augment_floor_times_the_collator_and_the_kernels_it_would_need(capsys):
    """``bench/augment_floor.py`` (item 10's floor) runs the collator it names and prints every row."""
    spec = importlib.util.spec_from_file_location("bench_augment_floor", ROOT / "bench" / "augment_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--batch", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("collator, no augmentation", "collator, augment=True", "uint16 transposed copy, numpy",
                "uint16 -> float32 transposing cast, torch"):
        assert f"| {row}" in out
    assert "x the un-augmented collator; estimate with the cheapest kernels:" in out and "(target 0.8x)" in out


def test_augment_floor_compiled_rows_check_each_kernel_against_numpy(capsys):
    """``--compiled`` times Pillow's transpose (and numba's where installed), each checked against numpy."""
    spec = importlib.util.spec_from_file_location("bench_augment_floor", ROOT / "bench" / "augment_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--batch", "2", "--repeat", "1", "--compiled"]) == 0
    out = capsys.readouterr().out
    assert "| uint16 transposed copy, Pillow per plane |" in out
    assert "| uint16 transposed copy, numba" in out  # timed, or "numba not installed"
    rows = module.compiled_rows(np.arange(2 * 3 * 8 * 8, dtype=np.uint16).reshape(2, 3, 8, 8), 1)
    assert isinstance(rows["uint16 transposed copy, Pillow per plane"], float)
