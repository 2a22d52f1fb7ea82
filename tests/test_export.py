"""Export for the Hub: Parquet layout, dataset card, offline load_dataset equals the builder, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

from _data_fixtures import PAIR_YEARS, hf_cache, pairs_ds, small_archive  # noqa: F401
from euromine_hf.bands import BANDS, MEAN
from euromine_hf.data.export import EXPORT_MARKER, export_parquet

SHARD = re.compile(r"^(train|validation|test)-(\d{5})-of-(\d{5})\.parquet$")
_EXPORTS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def exported(small_archive, tmp_path_factory) -> Path:
    """mapping + cd_pairs over four years, with small shards so a split spans several files."""
    if "main" not in _EXPORTS:
        out = tmp_path_factory.mktemp("export") / "hub"
        _EXPORTS["main"] = export_parquet(
            small_archive, out, ("mapping", "cd_pairs"), years=PAIR_YEARS, max_shard_size="8MB", writer_batch_size=4
        )
    return _EXPORTS["main"]


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_layout_is_the_push_to_hub_one(exported):
    assert sorted(p.name for p in exported.iterdir()) == [
        EXPORT_MARKER, "README.md", "cd_pairs", "eval.yaml", "mapping", "sites.json"
    ]
    for config in ("mapping", "cd_pairs"):
        files = sorted((exported / config).iterdir())
        by_split: dict[str, list[tuple[int, int]]] = {}
        for f in files:
            m = SHARD.match(f.name)
            assert m, f.name
            by_split.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3))))
        assert set(by_split) == {"train", "validation", "test"}
        for shards in by_split.values():
            n = shards[0][1]
            assert shards == [(i, n) for i in range(n)]
    assert len(list((exported / "cd_pairs").glob("train-*.parquet"))) > 1
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_shards_are_byte_stream_split_zstd_and_smaller_than_the_default_encoding(exported, tmp_path):
    """Images: BYTE_STREAM_SPLIT + zstd (parquet_layout); masks keep dictionary pages; the same rows
    written with datasets' default options take more bytes."""
    import pyarrow.parquet as pq
    from datasets import Features
    from datasets.arrow_writer import get_parquet_column_options

    for config, image_cols in (("mapping", ("image",)), ("cd_pairs", ("image_t1", "image_t2"))):
        for shard in sorted((exported / config).glob("*.parquet")):
            reader = pq.ParquetFile(shard)
            meta = reader.metadata
            assert b"huggingface" in reader.schema_arrow.metadata
            for g in range(meta.num_row_groups):
                for c in range(meta.num_columns):
                    column = meta.row_group(g).column(c)
                    assert column.compression == "ZSTD", (shard, column.path_in_schema)
                    is_image = column.path_in_schema.split(".")[0] in image_cols
                    assert ("BYTE_STREAM_SPLIT" in column.encodings) == is_image, (shard, column.path_in_schema, column.encodings)
                    if column.path_in_schema.startswith("mask"):
                        assert "RLE_DICTIONARY" in column.encodings
            schema = reader.schema_arrow
            default = tmp_path / shard.name
            pq.write_table(reader.read(), default, **get_parquet_column_options(Features.from_arrow_schema(schema), schema))
            if config == "mapping":
                assert shard.stat().st_size < 0.8 * default.stat().st_size, shard


def test_card_has_configs_info_bands_licence_and_stats(exported):
    """The synthetic archive's card: generated-data licence, no claim on the real archive (its CC BY
    licence and citation are checked on a real-layout export in test_hub_dataset.py)."""
    card = (exported / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(card)
    assert meta["license"] == "apache-2.0" and "license_name" not in meta  # the generator's licence, a Hub id
    from euromine_hf.hub.card_rules import card_problems

    assert card_problems(meta, "dataset") == []
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"mapping", "cd_pairs"} and configs["mapping"].get("default") is True
    assert {d["split"]: d["path"] for d in configs["cd_pairs"]["data_files"]} == {
        s: f"cd_pairs/{s}-*" for s in ("train", "validation", "test")
    }
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    image = next(f for f in infos["mapping"]["features"] if f["name"] == "image")
    assert image["dtype"]["array3_d"] == {"shape": [10, 160, 160], "dtype": "uint16"}
    assert {s["name"] for s in infos["cd_pairs"]["splits"]} == {"train", "validation", "test"}
    for band, mean in zip(BANDS, MEAN):
        assert re.search(rf"\| {band} \| {mean:.4f} \|", card), band
    assert "CC BY 4.0" not in card and "10.14278/rodare.4656" not in card and "@article" not in card
    assert "EuroMineNet" in card and "Synthetic data" in card
    for split in ("train", "validation", "test"):
        assert re.search(rf"\| cd_pairs \| {split} \| \d+ \| \d+ \| \d+ \|", card)


def test_offline_load_dataset_equals_builder_rows(exported, pairs_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    loaded = datasets.load_dataset(str(exported), "cd_pairs", cache_dir=str(tmp_path))
    assert set(loaded) == set(pairs_ds)
    for split in pairs_ds:
        assert loaded[split].features == pairs_ds[split].features
        a = loaded[split].with_format("numpy", dtype=None)
        b = pairs_ds[split].with_format("numpy", dtype=None)
        assert len(a) == len(b)
        for k in range(len(b)):
            ra, rb = a[k], b[k]
            for key in rb:
                assert np.array_equal(np.asarray(ra[key]), np.asarray(rb[key])), (split, k, key)


def test_existing_output_is_refused_and_failures_leave_nothing(small_archive, tmp_path):
    out = tmp_path / "hub"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_parquet(small_archive, out, ("mapping",), years=(2015,))
    from euromine_hf.data.archive import ArchiveError

    with pytest.raises(ArchiveError):
        export_parquet(small_archive, tmp_path / "bad", ("mapping",), years=(2013,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub"]
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="configs"):
        export_parquet(small_archive, tmp_path / "x", ("pairs",))


def test_cli_export_and_build(small_archive, tmp_path, capsys):
    from euromine_hf.cli import main

    out = tmp_path / "hub"
    rc = main(["export", str(small_archive), str(out), "--configs", "mapping", "--years", "2015", "2016", "--sites", "Poland_101", "Spain_101"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "mapping" in text and (out / "README.md").is_file()
    assert main(["export", str(small_archive), str(out), "--configs", "mapping"]) == 2  # exists, no --overwrite
    rc = main(["build", str(small_archive), str(tmp_path / "cache"), "--configs", "mapping", "--years", "2015", "2016", "--sites", "Poland_101", "Spain_101"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("mapping"))
    counts = [int(v) for v in row.split()[1:]]
    assert counts[-1] == sum(counts[:-1]) == 2 * (4 + 2)  # Spain_101: 4 patches, Poland_101: 2; two years


def _copy_site(small_archive: Path, root: Path) -> Path:
    import shutil

    shutil.copytree(small_archive / "Poland_101", root / "Poland_101")
    return root


def _files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["archive", "parent", "inside", "symlink"])
def test_export_never_touches_the_archive(small_archive, tmp_path, where):
    """`euromine export ARCHIVE PARENT --overwrite` used to delete the archive (exit 0)."""
    from euromine_hf.cli import main
    from euromine_hf.data.export import ExportDestinationError

    archive = _copy_site(small_archive, tmp_path / "data" / "archive")
    before = _files(archive)
    out = {"archive": archive, "parent": archive.parent, "inside": archive / "hub", "symlink": tmp_path / "link"}[where]
    if where == "symlink":
        out.symlink_to(archive, target_is_directory=True)
    with pytest.raises(ExportDestinationError, match="archive"):
        export_parquet(archive, out, ("mapping",), years=(2015,), overwrite=True, split_scheme="random")
    assert main(["export", str(archive), str(out), "--configs", "mapping", "--years", "2015", "--overwrite"]) == 2
    assert _files(archive) == before
    assert not (archive / "hub").exists()


def test_overwrite_replaces_only_a_previous_export(small_archive, tmp_path, capsys):
    from euromine_hf.cli import main

    archive = _copy_site(small_archive, tmp_path / "archive")
    args = dict(configs=("mapping",), years=(2015,), split_scheme="random")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match=r"--overwrite: expected a previous export.*no \.euromine-export\.json marker"):
        export_parquet(archive, mine, overwrite=True, **args)
    assert main(["export", str(archive), str(mine), "--configs", "mapping", "--years", "2015", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not replaced" in err
    assert (mine / "thesis.tex").read_text() == "years of work"

    out = export_parquet(archive, tmp_path / "hub", **args)
    assert export_parquet(archive, out, overwrite=True, **args) == out  # a previous export: replaced
    assert (out / EXPORT_MARKER).is_file()
    (out / "mapping" / "notes.md").write_text("mine")  # a user's file inside: no longer ours to delete
    with pytest.raises(FileExistsError, match=r"found mapping/notes\.md; not replaced"):
        export_parquet(archive, out, overwrite=True, **args)
    assert (out / "mapping" / "notes.md").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_interrupted_export_temp_folders_are_cleaned_next_run(small_archive, tmp_path):
    """A killed export left a hidden ~1 GB temp folder beside the destination that nothing removed."""
    import json
    import os
    import socket
    import subprocess
    import sys

    archive = _copy_site(small_archive, tmp_path / "archive")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / ".hub.tmp-killed1"
    (stale / ".work").mkdir(parents=True)
    (stale / ".work" / "big.arrow").write_bytes(b"x" * 1000)
    marker = {"created_by": "euromine_hf.data.export", "complete": False, "pid": dead.pid, "host": socket.gethostname()}
    (stale / EXPORT_MARKER).write_text(json.dumps(marker))
    running = tmp_path / ".hub.tmp-running"  # another export still at work: left alone
    running.mkdir()
    (running / EXPORT_MARKER).write_text(json.dumps({**marker, "pid": os.getppid()}))
    foreign = tmp_path / ".hub.tmp-notours"  # same name pattern, no marker: not ours to delete
    foreign.mkdir()
    export_parquet(archive, tmp_path / "hub", ("mapping",), years=(2015,), split_scheme="random")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hub.tmp-notours", ".hub.tmp-running", "archive", "hub"]
