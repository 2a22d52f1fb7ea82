"""Dataset by name: `euromine export ARCHIVE` writes ./euromine, `load_dataset("euromine", ...)`
reads it from there, `euromine push NAMESPACE` puts it on the (local test) Hub as
NAMESPACE/euromine, and the card is honest about what the data are and where each patch lies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard

from _data_fixtures import small_archive  # noqa: F401  (session fixture)
from euromine_hf.data.export import EXPORT_MARKER, export_parquet

REPO = Path(__file__).resolve().parents[1]
YEARS = ("2015", "2016", "2018")
_CACHE: dict[str, Path] = {}


@pytest.fixture
def exported(small_archive, tmp_path_factory):  # noqa: F811
    """`euromine export ARCHIVE --configs mapping cd_pairs --years ...` run with no destination
    (once per session), from a fresh working directory: returns that directory."""
    if "cwd" not in _CACHE:
        from euromine_hf.cli import main

        cwd = tmp_path_factory.mktemp("workdir")
        before = Path.cwd()
        os.chdir(cwd)
        try:
            assert main(["export", str(small_archive), "--configs", "mapping", "cd_pairs", "--years", *YEARS]) == 0
        finally:
            os.chdir(before)
        _CACHE["cwd"] = cwd
    return _CACHE["cwd"]


def _rows(files: list[Path]) -> list[tuple]:
    """Key columns and a digest of every array column, sorted: what a loaded split must equal."""
    import hashlib

    out = []
    for f in files:
        table = pq.read_table(f)
        cols = table.to_pydict()
        for i in range(table.num_rows):
            arrays = tuple(hashlib.sha1(json.dumps(cols[c][i]).encode()).hexdigest() for c in ("image_t1", "change"))
            out.append((cols["site"][i], cols["patch"][i], cols["year_t1"][i], cols["year_t2"][i], *arrays))
    return sorted(out)


_LOAD_SCRIPT = r"""
import hashlib, json, sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1], "cd_pairs")
out = {}
for split, d in ds.items():
    rows = []
    for r in d:
        digest = tuple(hashlib.sha1(json.dumps(r[c]).encode()).hexdigest() for c in ("image_t1", "change"))
        rows.append([r["site"], r["patch"], r["year_t1"], r["year_t2"], *digest])
    out[split] = sorted(rows)
print("RESULT" + json.dumps(out))
"""


def _expected(export: Path) -> dict[str, list[list]]:
    return {split: [list(r) for r in _rows(sorted((export / "cd_pairs").glob(f"{split}-*.parquet")))]
            for split in ("train", "validation", "test")}


def test_export_default_destination_loads_by_name_offline(exported, tmp_path):
    export = exported / "euromine"
    assert (export / "README.md").is_file() and (export / EXPORT_MARKER).is_file()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, "euromine"], cwd=exported, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert loaded == _expected(export)
    assert sum(len(v) for v in loaded.values()) == (4 + 1 + 2) * 3  # patches x C(3, 2) pairs


def test_card_is_a_datasetcard_honest_about_synthetic_data(exported, small_archive):  # noqa: F811
    export = exported / "euromine"
    card = DatasetCard.load(export / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "apache-2.0" and "license_name" not in meta  # the generator's licence, a Hub id
    from euromine_hf.hub.card_rules import card_problems

    assert card_problems(meta, "dataset") == []
    assert "synthetic" in meta["tags"] and "(synthetic)" in meta["pretty_name"]
    assert [c["config_name"] for c in meta["configs"]] == ["mapping", "cd_pairs"]
    assert [i["config_name"] for i in meta["dataset_info"]] == ["mapping", "cd_pairs"]
    text = card.text
    for claim in ("CC BY", "cc-by", "10.14278", "@article", "@misc", "expert mine mask"):
        assert claim not in str(card), f"synthetic card must not carry {claim!r}"
    facts = json.loads((small_archive / "synthetic.json").read_text())
    assert f"generator version {facts['version']}" in text and f"seed {facts['config']['seed']}" in text
    assert 'load_dataset("euromine", "cd_pairs")' in text
    assert 'load_dataset("hub"' not in text


def test_sites_json_places_each_patch_on_the_map(exported, small_archive):  # noqa: F811
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from euromine_hf.data.archive import scan_archive

    export = exported / "euromine"
    sites = {s["site"]: s for s in json.loads((export / "sites.json").read_text())}
    records = {r.name: r for r in scan_archive(small_archive)}
    assert set(sites) == set(records)
    card = (export / "README.md").read_text()
    for name, site in sites.items():
        record = records[name]
        assert site["crs"] == record.crs and site["crs_name"].startswith("EPSG:")
        assert tuple(site["transform"]) == record.transform
        assert (site["height"], site["width"], site["num_patches"]) == (record.height, record.width, record.num_patches)
        assert f"| {name} | {site['split']} | {site['crs_name']} |" in card
    table = [r for f in sorted((export / "mapping").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    row = next(r for r in table if r["row"] > 0 and r["col"] > 0)  # an edge-aligned patch, not the origin
    site = sites[row["site"]]
    patch_transform = Affine(*site["transform"]) @ Affine.translation(row["col"], row["row"])
    with rasterio.open(records[row["site"]].image_path(row["year"])) as src:
        window = Window(row["col"], row["row"], 160, 160)
        assert src.window_transform(window) == patch_transform
        assert np.array_equal(src.read(window=window), np.asarray(row["image"], dtype=np.uint16))


def test_eval_yaml_declares_the_benchmark_tasks(exported):
    export = exported / "euromine"
    spec = yaml.safe_load((export / "eval.yaml").read_text())
    assert {"name", "description", "evaluation_framework", "tasks"} <= set(spec)
    tasks = {t["id"]: t for t in spec["tasks"]}
    assert list(tasks) == ["multitemporal-mapping", "change-detection"]
    assert [m["name"] for m in tasks["multitemporal-mapping"]["metrics"]] == ["OF1", "GCA-TIoU", "LCA-TIoU"]
    assert [m["name"] for m in tasks["change-detection"]["metrics"]] == ["OF1"] + [f"F1_interval_{k}" for k in range(1, 10)]
    assert (tasks["multitemporal-mapping"]["config"], tasks["change-detection"]["config"]) == ("mapping", "cd_pairs")
    assert all(t["split"] == "test" for t in tasks.values())
    from euromine_hf.metrics.modules import MODULE_NAMES

    assert {m["module"] for t in tasks.values() for m in t["metrics"]} <= set(MODULE_NAMES)
    card = (export / "README.md").read_text()
    assert "`multitemporal-mapping`" in card and "`change-detection`" in card


def test_real_archive_card_keeps_licence_and_citation(small_archive, tmp_path):  # noqa: F811
    archive = tmp_path / "archive"
    shutil.copytree(small_archive / "Poland_101", archive / "Poland_101")  # no synthetic.json: as published
    out = export_parquet(archive, tmp_path / "euromine", ("mapping",), years=(2015,), split_scheme="random",
                         repo_id="org/euromine")
    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "cc-by-4.0" and "synthetic" not in card.data.tags
    from euromine_hf.hub.card_rules import card_problems

    assert card_problems(card.data.to_dict(), "dataset") == []
    assert "10.14278/rodare.4656" in card.text and "@article{yu2025eurominenet" in card.text
    assert 'load_dataset("org/euromine", "mapping")' in card.text
    assert 'hf_hub_download("org/euromine", "sites.json", repo_type="dataset")' in card.text  # a Hub id: no local path
    assert "Synthetic data" not in card.text


# ---- push through the local hub --------------------------------------------------------------
def test_push_then_load_from_the_hub_gives_the_same_rows(exported, tmp_path):
    from huggingface_hub import HfApi

    from euromine_hf.cli import main
    from euromine_hf.testing import LocalHub, use_local_hub

    export = exported / "euromine"
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        assert main(["push", "user", "--export", str(export)]) == 0
        files = set(HfApi().list_repo_files("user/euromine", repo_type="dataset"))
        assert {"README.md", "sites.json", "eval.yaml"} <= files and EXPORT_MARKER not in files
        assert hub.is_lfs("user/euromine", "cd_pairs/test-00000-of-00001.parquet", repo_type="dataset")
        remote_card = hub.file_content("user/euromine", "README.md", repo_type="dataset").decode()
        assert 'load_dataset("user/euromine", "cd_pairs")' in remote_card
        assert 'load_dataset("euromine"' not in remote_card
        assert 'load_dataset("euromine", "cd_pairs")' in (export / "README.md").read_text()  # local copy unchanged

        env = {**os.environ, **hub.client_env(tmp_path / "client_home"), "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, "user/euromine"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert hub.unknown_requests == [], hub.unknown_requests
    assert json.loads(proc.stdout.split("RESULT", 1)[1]) == _expected(export)


def test_push_user_errors_exit_2(tmp_path, monkeypatch, capsys):
    from euromine_hf.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["push", "a/b/c"]) == 2
    assert "NAMESPACE or NAMESPACE/NAME" in capsys.readouterr().err
    assert main(["push", "user"]) == 2  # no ./euromine here
    assert "euromine export" in capsys.readouterr().err


# ---- the card follows the configs exported, and its snippets run as written -------------------
_SNIPPETS = re.compile(r"```python\n(.*?)```", re.S)
_RUN_SNIPPETS = r"""
import json, sys
from datasets import DatasetDict
ns = {}
for code in json.loads(sys.argv[1]):
    exec(compile(code, "<dataset card>", "exec"), ns)
loaded = {k: sorted(v) for k, v in ns.items() if isinstance(v, DatasetDict)}
first = next(iter(ns["arrays"][0].values()))
print("RESULT" + json.dumps({"loaded": loaded, "patch_transform": list(ns["patch_transform"])[:6],
                             "row": [ns["row"]["site"], ns["row"]["row"], ns["row"]["col"]],
                             "site": ns["site"]["site"]}))
"""
_VARS = {"mapping": "mapping", "timeseries": "series", "cd_pairs": "pairs"}


def _run_card_snippets(card: str, cwd: Path, env: dict) -> dict:
    """Every ```python block of ``card``, in order, in one namespace (as a reader pastes them)."""
    snippets = _SNIPPETS.findall(card)
    assert len(snippets) == 2, snippets
    proc = subprocess.run([sys.executable, "-c", _RUN_SNIPPETS, json.dumps(snippets)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("RESULT", 1)[1])


def _check_card_names_only(card: str, configs: tuple[str, ...]) -> None:
    for name in ("mapping", "timeseries", "cd_pairs"):
        assert (f"| `{name}` |" in card) == (name in configs), name
        assert (f', "{name}")' in card) == (name in configs), name
    assert ("PairDataset(mapping" in card) == ("mapping" in configs)


@pytest.mark.parametrize("configs, folder", [(("mapping",), "exp"), (("mapping", "timeseries", "cd_pairs"), "euromine")])
def test_card_snippets_run_against_the_export_and_name_only_its_configs(small_archive, tmp_path, configs, folder):  # noqa: F811
    """`euromine export ARCHIVE OUT --configs ...`: the card's Loading and Sites snippets load the
    exported configs from the folder beside them, and the card names no config it does not hold."""
    from euromine_hf.cli import main

    option = ["--configs", *configs] if configs != ("mapping", "timeseries", "cd_pairs") else []  # all: the default
    out = tmp_path / folder
    assert main(["export", str(small_archive), str(out), *option, "--years", *YEARS]) == 0
    card = (out / "README.md").read_text()
    _check_card_names_only(card, configs)
    push = "euromine push NAMESPACE" + ("" if folder == "euromine" else f" --export {folder}")
    assert f"`{push}` uploads it as the dataset repo `NAMESPACE/euromine`" in card
    if folder != "euromine":
        assert f"NAMESPACE/{folder}`" not in card  # push names the repo NAMESPACE/euromine, not after the folder

    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    result = _run_card_snippets(card, tmp_path, env)
    assert result["loaded"] == {_VARS[c]: ["test", "train", "validation"] for c in configs}
    sites = {s["site"]: s for s in json.loads((out / "sites.json").read_text())}
    site, row, col = result["row"]
    assert result["site"] == site
    from rasterio.transform import Affine

    expected = Affine(*sites[site]["transform"]) @ Affine.translation(col, row)
    assert result["patch_transform"] == list(expected)[:6]


def test_push_prints_and_carries_the_exported_configs_to_the_repo_the_card_names(small_archive, tmp_path, capsys):  # noqa: F811
    """`euromine export ARCHIVE exp --configs mapping` then `euromine push user --export exp`: the
    repo is user/euromine as the card said, push's printed command loads a config that exists, and
    the pushed card's snippets run against the Hub."""
    from huggingface_hub import HfApi

    from euromine_hf.cli import main
    from euromine_hf.testing import LocalHub, use_local_hub

    out = tmp_path / "exp"
    assert main(["export", str(small_archive), str(out), "--configs", "mapping", "--years", *YEARS]) == 0
    assert "`euromine push NAMESPACE --export exp` uploads it as the dataset repo `NAMESPACE/euromine`" in (
        out / "README.md").read_text()
    capsys.readouterr()
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        assert main(["push", "user", "--export", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "load it with: datasets.load_dataset('user/euromine', 'mapping')\n" in printed
        assert "cd_pairs" not in printed and "timeseries" not in printed
        assert {"README.md", "sites.json"} <= set(HfApi().list_repo_files("user/euromine", repo_type="dataset"))
        remote = hub.file_content("user/euromine", "README.md", repo_type="dataset").decode()
        _check_card_names_only(remote, ("mapping",))
        assert 'load_dataset("user/euromine", "mapping")' in remote and 'load_dataset("exp"' not in remote
        assert 'hf_hub_download("user/euromine", "sites.json", repo_type="dataset")' in remote
        assert "The snippets load the Hub repo `user/euromine`" in remote

        env = {**os.environ, **hub.client_env(tmp_path / "client_home"), "PYTHONPATH": str(REPO)}
        command = printed.split("load it with: ", 1)[1].splitlines()[0]
        proc = subprocess.run([sys.executable, "-c", f"import datasets\nprint(sorted({command}))"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip() == "['test', 'train', 'validation']"
        result = _run_card_snippets(remote, tmp_path, env)
        assert result["loaded"] == {"mapping": ["test", "train", "validation"]}
        assert hub.unknown_requests == [], hub.unknown_requests
