"""Model cards, push/pull and dataset round trips through the real huggingface_hub/datasets clients.

There is no offline upload mode in huggingface_hub, so every push/pull here goes over HTTP to
``euromine_hf.testing.LocalHub``, a Hub-compatible server on 127.0.0.1 that each test starts and stops.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

import euromine_hf.models  # noqa: F401  (registers the Auto classes)
from euromine_hf.bands import load_resource
from euromine_hf.hub import (
    HubPushError,
    ModelCardError,
    pull_model,
    push_dataset_folder,
    push_model_folder,
    read_model_index,
    render_model_card,
    save_model_card,
)
from euromine_hf.hub.cards import canonical_metric, load_template, normalize_results
from euromine_hf.testing import LocalHub, use_local_hub

YEARS = range(2015, 2025)
TEST_RESULTS = {
    **{f"eval_f1_{year}": 0.6 + 0.01 * i for i, year in enumerate(YEARS)},
    "eval_OF1": 0.655, "eval_GCA-TIoU": 0.51, "eval_LCA-TIoU": 0.5375, "eval_loss": 0.2, "eval_runtime": 1.5,
}
VALIDATION_RESULTS = {"f1_2015": 0.7, "OF1": 0.71, "gca_tiou": 0.6}
TRAINING_ARGS = {"learning_rate": 1e-4, "per_device_train_batch_size": 32, "lr_scheduler_type": "cosine_with_min_lr"}


@pytest.fixture
def local_hub(tmp_path):
    """A running LocalHub with huggingface_hub/datasets pointed at it and a private HF_HOME."""
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "hf_home"):
        yield hub
        assert hub.unknown_requests == [], f"clients asked for endpoints the local hub lacks: {hub.unknown_requests}"


def tiny_model(num_channels: int = 10):
    """The zoo's tiny UNet (the smallest real architecture), seeded so the test is deterministic."""
    from euromine_hf.models import build_model

    torch.manual_seed(0)
    return build_model("unet", size="tiny", num_channels=num_channels).eval()


def saved_model_folder(tmp_path: Path, name: str = "model", num_channels: int = 10):
    model = tiny_model(num_channels)
    folder = tmp_path / name
    model.save_pretrained(folder)
    return model, folder


# ---- cards -----------------------------------------------------------------------------------
def test_card_metadata_round_trips_through_written_readme(tmp_path):
    model = tiny_model()
    card = render_model_card(
        "euromine-unet-tiny", model.config, {"validation": VALIDATION_RESULTS, "test": TEST_RESULTS},
        "user/eurominenet", TRAINING_ARGS, paper_name="UNet", repo_id="user/euromine-unet-tiny",
        num_parameters=model.num_parameters(),
    )
    path = save_model_card(card, tmp_path)
    assert path == tmp_path / "README.md"
    loaded = ModelCard.load(path)
    data = loaded.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "image-segmentation"
    assert data["datasets"] == ["user/eurominenet"]
    for tag in ("sentinel-2", "remote-sensing", "mining", "semantic-segmentation", "euromine"):
        assert tag in data["tags"]
    # one model-index result per tested split, numbers identical after the YAML round trip
    results = data["model-index"][0]["results"]
    assert [r["dataset"]["split"] for r in results] == ["validation", "test"]
    assert {r["task"]["type"] for r in results} == {"image-segmentation"}
    assert all(r["dataset"]["name"].startswith("EuroMineNet") for r in results)
    back = read_model_index(path)
    assert back["test"] == {**{str(y): pytest.approx(0.6 + 0.01 * i, abs=0) for i, y in enumerate(YEARS)},
                            "OF1": 0.655, "GCA-TIoU": 0.51, "LCA-TIoU": 0.5375}
    assert back["validation"] == {"2015": 0.7, "OF1": 0.71, "GCA-TIoU": 0.6}
    assert back == normalize_results({"validation": VALIDATION_RESULTS, "test": TEST_RESULTS})
    text = loaded.text
    assert "B8A" in text and "1089.74" in text  # bands table from euromine_hf.bands
    assert 'MODEL = "user/euromine-unet-tiny"' in text
    assert "AutoModelForSemanticSegmentation.from_pretrained(MODEL, trust_remote_code=True)" in text
    assert "import euromine_hf.models" in text
    assert "cosine_with_min_lr" in text
    paper_of1 = load_resource("paper_results.json")["mapping"]["UNet"]["OF1"]
    assert f"{paper_of1:.4f}" in text
    assert "trained and tested on synthetic data" in text and "not on the" in text  # plain statement for the demo
    assert "CC BY 4.0" in text and "2510.14661" in text
    assert not list(tmp_path.glob(".README.*"))  # no temp file left behind


def test_card_for_archive_model_and_paper_lookup_from_zoo():
    model = tiny_model(num_channels=3)
    card = render_model_card("rgb-unet", model.config, {"test": {"OF1": 0.8}}, "user/eurominenet",
                             data_source="archive")
    text = str(card)
    assert "trained and tested on synthetic data" not in text and "synthetic-data" not in card.data.tags
    assert "paper (UNet, test)" in text  # paper row found through the zoo's paper_name
    assert "| 2 | B02 |" in text and "picks this model's 3 band(s) by name" in text  # 3-channel model: its own bands


@pytest.mark.parametrize(
    ("results", "match"),
    [
        ({}, "non-empty"),
        ({"test": {"loss": 0.1, "accuracy": 0.9}}, "no known metric"),
        ({"test": {"OF1": "high"}}, "not a number"),
        ({"test": [0.5]}, "mapping of metric"),
    ],
)
def test_card_rejects_bad_results(results, match):
    with pytest.raises(ModelCardError, match=match):
        render_model_card("m", {"model_type": "euromine-unet"}, results, "user/ds")


def test_card_rejects_unknown_paper_name_and_data_source():
    with pytest.raises(ModelCardError, match="paper_name 'UNet\\+\\+'.*choose from"):
        render_model_card("m", {"model_type": "x"}, {"test": {"OF1": 0.5}}, "user/ds", paper_name="UNet++")
    with pytest.raises(ModelCardError, match="data_source"):
        render_model_card("m", {"model_type": "x"}, {"test": {"OF1": 0.5}}, "user/ds", data_source="real")


def test_non_finite_scores_are_left_out_of_model_index():
    card = render_model_card("m", {"model_type": "x"}, {"test": {"OF1": float("nan"), "GCA-TIoU": 0.4}}, "user/ds")
    assert read_model_index(card) == {"test": {"GCA-TIoU": 0.4}}


@pytest.mark.parametrize(
    ("key", "name"),
    [("eval_f1_2015", "2015"), ("F1_2024", "2024"), ("2019", "2019"), ("test_OF1", "OF1"), ("overall_f1", "OF1"),
     ("eval_GCA-TIoU", "GCA-TIoU"), ("lca_tiou", "LCA-TIoU"), ("eval_loss", None), ("iou", None)],
)
def test_canonical_metric_names(key, name):
    assert canonical_metric(key) == name


def test_model_cards_folder_points_at_packaged_template():
    root = Path(__file__).resolve().parents[1]
    assert (root / "model_cards" / "segmentation.md.jinja").read_text(encoding="utf-8") == load_template()
    assert "euromine_hf/resources/model_card_segmentation.md.jinja" in (root / "model_cards" / "README.md").read_text()


# ---- push and pull through the local hub -----------------------------------------------------
def test_push_model_then_from_pretrained_gives_equal_outputs(local_hub, tmp_path):
    from transformers import AutoModelForSemanticSegmentation

    model, folder = saved_model_folder(tmp_path)
    card = render_model_card("euromine-unet-tiny", model.config, {"test": TEST_RESULTS}, "user/eurominenet",
                             TRAINING_ARGS, repo_id="user/euromine-unet-tiny")
    save_model_card(card, folder)
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "optimizer.pt").write_bytes(b"\0" * 16)  # Trainer leftovers stay local
    (folder / ".env").write_text("HF_TOKEN=hf_secret\n")  # hidden files (secrets, tool markers) stay local
    (folder / ".euromine-predict.json").write_text("{}")
    (folder / "sub" / ".git").mkdir(parents=True)
    (folder / "sub" / ".git" / "config").write_text("x")
    (folder / "sub" / "notes.md").write_text("kept: not hidden")

    url = push_model_folder(folder, "user/euromine-unet-tiny", commit_message="tiny unet")
    assert url.startswith(f"{local_hub.endpoint}/user/euromine-unet-tiny/commit/")
    assert local_hub.is_lfs("user/euromine-unet-tiny", "model.safetensors")
    assert not local_hub.is_lfs("user/euromine-unet-tiny", "config.json")
    files = set(HfApi().list_repo_files("user/euromine-unet-tiny"))
    assert {"config.json", "model.safetensors", "README.md"} <= files
    assert not any(f.startswith("checkpoint-") for f in files)
    assert not any(part.startswith(".") for f in files - {".gitattributes"} for part in f.split("/")) and "sub/notes.md" in files

    loaded = AutoModelForSemanticSegmentation.from_pretrained("user/euromine-unet-tiny").eval()
    assert type(loaded) is type(model)
    x = torch.randn(2, 10, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=x).logits, model(pixel_values=x).logits, rtol=0, atol=0)

    # the card on the hub parses back to the same numbers, and the hub exposes it as cardData
    remote = ModelCard.load("user/euromine-unet-tiny")
    assert read_model_index(remote) == normalize_results({"test": TEST_RESULTS})
    info = HfApi().model_info("user/euromine-unet-tiny")
    assert info.pipeline_tag == "image-segmentation" and "euromine" in info.tags

    # pushing again is idempotent (repo exists, unchanged files skipped) and pull_model finds the folder
    push_model_folder(folder, "user/euromine-unet-tiny")
    local = pull_model("user/euromine-unet-tiny")
    assert (local / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_load_rgb_checkpoint_from_hub_id(local_hub, tmp_path):
    from euromine_hf.models.band_adaptation import load_rgb_checkpoint

    rgb, folder = saved_model_folder(tmp_path, "rgb", num_channels=3)
    push_model_folder(folder, "user/rgb-repo")
    target = tiny_model(num_channels=10)
    report = load_rgb_checkpoint(target, "user/rgb-repo")
    assert report.adapted, "the 3-channel first layer was not adapted"
    name = report.adapted[0]
    rgb_weight = rgb.state_dict()[name]
    adapted = target.state_dict()[name]
    bands = list(target.config.band_names)
    # B04/B03/B02 take the R/G/B filters, scaled by 3/C
    for channel, band in enumerate(("B04", "B03", "B02")):
        torch.testing.assert_close(adapted[:, bands.index(band)], rgb_weight[:, channel] * 3 / len(bands))


def write_parquet_export(folder: Path) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {
        "train": {"site": ["Germany_1", "Germany_1", "Poland_2"], "year": [2015, 2016, 2015],
                  "mask": [np.full(4, i, np.uint8).tobytes() for i in range(3)]},
        "test": {"site": ["Spain_3"], "year": [2020], "mask": [np.ones(4, np.uint8).tobytes()]},
    }
    (folder / "mapping").mkdir(parents=True)
    for split, columns in rows.items():
        pq.write_table(pa.table(columns), folder / "mapping" / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text(
        "---\nlicense: cc-by-4.0\nconfigs:\n- config_name: mapping\n  data_files:\n"
        "  - split: train\n    path: mapping/train-*\n  - split: test\n    path: mapping/test-*\n---\n"
        "# EuroMineNet (tiny test export)\n",
        encoding="utf-8",
    )
    return rows


def test_push_dataset_folder_then_load_dataset(local_hub, tmp_path):
    import datasets

    rows = write_parquet_export(tmp_path / "export")
    url = push_dataset_folder(tmp_path / "export", "user/eurominenet-tiny")
    assert url.startswith(f"{local_hub.endpoint}/datasets/user/eurominenet-tiny/commit/")
    assert local_hub.is_lfs("user/eurominenet-tiny", "mapping/train-00000-of-00001.parquet", repo_type="dataset")

    loaded = datasets.load_dataset("user/eurominenet-tiny", "mapping", cache_dir=str(tmp_path / "ds_cache"))
    assert set(loaded) == {"train", "test"}
    for split, columns in rows.items():
        assert loaded[split].to_dict() == columns

    # streaming reads the Parquet shards with HTTP range requests
    streamed = datasets.load_dataset("user/eurominenet-tiny", "mapping", split="train", streaming=True)
    assert [row["site"] for row in streamed] == rows["train"]["site"]


# ---- errors ----------------------------------------------------------------------------------
def test_bare_repo_name_goes_to_the_token_owners_namespace(local_hub, tmp_path):
    _, folder = saved_model_folder(tmp_path)
    url = push_model_folder(folder, "bare-name")
    assert url.startswith(f"{local_hub.endpoint}/user/bare-name/commit/")
    assert "model.safetensors" in HfApi().list_repo_files("user/bare-name")
    write_parquet_export(tmp_path / "export")
    url = push_dataset_folder(tmp_path / "export", "bare-data")
    assert url.startswith(f"{local_hub.endpoint}/datasets/user/bare-data/commit/")


def test_push_refuses_folders_that_are_not_models(tmp_path):
    with pytest.raises(HubPushError, match="not a folder"):
        push_model_folder(tmp_path / "missing", "user/x", token="t")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HubPushError, match=r"empty: not a model folder, config.json is missing"):
        push_model_folder(tmp_path / "empty", "user/x", token="t")
    (tmp_path / "empty" / "config.json").write_text("{}")
    (tmp_path / "empty" / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(HubPushError, match=r"model.safetensors is missing.*pytorch_model.bin"):
        push_model_folder(tmp_path / "empty", "user/x", token="t")
    # a damaged weights file is refused before any upload, by the same checks loading uses
    _, folder = saved_model_folder(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16])
    with pytest.raises(HubPushError, match=r"model.safetensors: tensor data: header declares \d+ bytes.*truncated"):
        push_model_folder(folder, "user/x", token="t")


def test_push_dataset_refuses_bad_exports(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    with pytest.raises(HubPushError, match="README.md is missing"):
        push_dataset_folder(folder, "user/ds", token="t")
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# no configs\n")
    with pytest.raises(HubPushError, match="no `configs:` list"):
        push_dataset_folder(folder, "user/ds", token="t")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: mapping\n  data_files:\n  - split: train\n    path: mapping/train-*\n---\n")
    with pytest.raises(HubPushError, match="'mapping/train-\\*' matches no file"):
        push_dataset_folder(folder, "user/ds", token="t")


def test_push_without_token_says_how_to_give_one(local_hub, tmp_path, monkeypatch):
    _, folder = saved_model_folder(tmp_path)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubPushError, match="no Hugging Face token.*HF_TOKEN"):
        push_model_folder(folder, "user/m")
    assert local_hub.requests == []  # refused before any request


def test_push_with_a_refused_token_exits_2_naming_the_repo(tmp_path):
    """401 (unknown token) and 403 (another user's token) are one line, exit 2; not a traceback."""
    import subprocess
    import sys

    write_parquet_export(tmp_path / "export")
    _, folder = saved_model_folder(tmp_path)
    with LocalHub(extra_tokens={"hf_other_user": "other"}) as hub:
        env = {**os.environ, **hub.client_env(tmp_path / "hf_home"), "HF_TOKEN": "hf_not_a_token",
               "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        env.pop("EUROMINE_DEBUG", None)
        proc = subprocess.run([sys.executable, "-m", "euromine_hf.cli", "push", "user", "--export", str(tmp_path / "export")],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"euromine push: error: {hub.endpoint}: dataset repo user/euromine: the Hub refused the token "
            "(401 Unauthorized: unknown or expired); expected a valid write token in HF_TOKEN or from `hf auth login`"
        ]
        with use_local_hub(hub, tmp_path / "hf_home2"):
            with pytest.raises(HubPushError, match=r"repo user/m: the token has no write access \(403 Forbidden\)"):
                push_model_folder(folder, "user/m", token="hf_other_user")
            with pytest.raises(HubPushError, match=r"space repo user/ca_tiou: the Hub refused the token \(401"):
                from euromine_hf.hub.push import push_metric_spaces

                push_metric_spaces("user", ["ca_tiou"], token="hf_not_a_token")


def test_hub_errors_map_to_client_exceptions(local_hub, tmp_path):
    _, folder = saved_model_folder(tmp_path)
    push_model_folder(folder, "user/m", private=True)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("user/absent", "config.json")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("user/m", "absent.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("user/m", "config.json", revision="no-such-branch")
    # a private repo is invisible without the owner's token
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("user/m", token=False)
    # writing to another user's namespace is refused with the server's reason
    with pytest.raises(HfHubHTTPError, match="cannot create repos in namespace 'someone-else'"):
        HfApi().create_repo("someone-else/m")


def _http(request: urllib.request.Request):
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_resolve_honours_range_and_reports_lfs_headers(local_hub, tmp_path):
    _, folder = saved_model_folder(tmp_path)
    push_model_folder(folder, "user/m")
    data = (folder / "model.safetensors").read_bytes()
    url = f"{local_hub.endpoint}/user/m/resolve/main/model.safetensors"

    status, headers, body = _http(urllib.request.Request(url, method="HEAD"))
    assert status == 200 and body == b""
    assert headers["X-Linked-Size"] == str(len(data)) == headers["Content-Length"]
    import hashlib

    assert headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert len(headers["X-Repo-Commit"]) == 40

    for range_header, expected in [("bytes=10-19", data[10:20]), ("bytes=-7", data[-7:]),
                                   (f"bytes={len(data) - 3}-", data[-3:]), ("bytes=5-99999999", data[5:])]:
        status, headers, body = _http(urllib.request.Request(url, headers={"Range": range_header}))
        assert status == 206 and body == expected, range_header
        assert headers["Content-Range"].endswith(f"/{len(data)}")
    status, headers, _ = _http(urllib.request.Request(url, headers={"Range": f"bytes={len(data)}-"}))
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"

    status, _, body = _http(urllib.request.Request(f"{local_hub.endpoint}/api/models/user/m/discussions"))
    assert status == 404 and b"no handler" in body
    assert local_hub.unknown_requests == ["GET /api/models/user/m/discussions"]
    local_hub.state.unknown_requests.clear()  # seen on purpose; the fixture checks the rest

    status, _, _ = _http(urllib.request.Request(f"{local_hub.endpoint}/api/whoami-v2",
                                                headers={"Authorization": "Bearer wrong"}))
    assert status == 401


def test_local_hub_listens_on_loopback_and_stops():
    with LocalHub() as hub:
        endpoint = hub.endpoint
        assert endpoint.startswith("http://127.0.0.1:")
        status, _, body = _http(urllib.request.Request(f"{endpoint}/api/whoami-v2",
                                                       headers={"Authorization": f"Bearer {hub.token}"}))
        assert status == 200 and json.loads(body)["name"] == hub.user
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{endpoint}/api/whoami-v2", timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        _ = hub.endpoint


def test_use_local_hub_restores_client_settings(tmp_path):
    from huggingface_hub import constants

    before = (constants.ENDPOINT, constants.HF_HUB_CACHE, os.environ.get("HF_ENDPOINT"))
    with LocalHub() as hub, use_local_hub(hub, tmp_path / "home"):
        assert constants.ENDPOINT == hub.endpoint
        assert os.environ["HF_HUB_DISABLE_XET"] == "1"
        assert constants.HF_HUB_CACHE == str(tmp_path / "home" / "hub")
    assert (constants.ENDPOINT, constants.HF_HUB_CACHE, os.environ.get("HF_ENDPOINT")) == before


def test_client_env_points_a_subprocess_at_the_local_hub(tmp_path):
    """What a launcher (train.py --push_to_hub in a child process) needs: the env alone suffices."""
    import subprocess
    import sys

    with LocalHub() as hub:
        env = {**os.environ, **hub.client_env(tmp_path / "home")}
        env.pop("HF_HUB_CACHE", None)
        code = ("from huggingface_hub import HfApi; api = HfApi(); api.create_repo('user/from-child'); "
                "print(api.whoami()['name'], api.model_info('user/from-child').id)")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["user", "user/from-child"]
        assert hub.unknown_requests == []


@pytest.mark.slow
def test_synthetic_export_pushes_and_loads_with_typed_features(local_hub, tmp_path):
    """Issue 2's Parquet export of a small synthetic archive goes up and comes back row for row."""
    import datasets

    import euromine_hf.data.export as export
    import euromine_hf.data.synthetic as synthetic
    years = (2015, 2016, 2017)
    synthetic.generate_archive(tmp_path / "archive",
                               synthetic.SyntheticConfig(num_sites=3, min_size=160, max_size=176, years=years))
    out = export.export_parquet(tmp_path / "archive", tmp_path / "export", configs=["mapping"],
                                split_scheme="random", years=list(years))
    push_dataset_folder(out, "user/eurominenet-synthetic")
    remote = datasets.load_dataset("user/eurominenet-synthetic", "mapping", cache_dir=str(tmp_path / "remote"))
    local = datasets.load_dataset(str(out), "mapping", cache_dir=str(tmp_path / "local"))
    assert set(remote) == set(local)
    for split in local:
        assert remote[split].features == local[split].features
        assert remote[split].features["image"].dtype == "uint16"
        a, b = remote[split].with_format("numpy", dtype=None)[:], local[split].with_format("numpy", dtype=None)[:]
        assert list(a["site"]) == list(b["site"]) and list(a["year"]) == list(b["year"])
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["mask"], b["mask"])


def test_paths_with_cr_lf_are_refused_like_the_hub(local_hub):
    api = HfApi()
    api.create_repo("user/paths")
    evil = "notes\r\nX-Injected: yes.txt"
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"hello", path_in_repo=evil, repo_id="user/paths")
    assert refused.value.response.status_code == 400
    assert [f for f in api.list_repo_files("user/paths") if "\n" in f or "\r" in f] == []
    # a download URL carrying CR/LF never reaches a response header
    url = f"{local_hub.endpoint}/user/paths/resolve/main/notes%0D%0AX-Injected:%20yes.txt"
    status, headers, _ = _http(urllib.request.Request(url))
    assert status == 400 and "X-Injected" not in headers
    assert all("\r" not in v and "\n" not in v for v in headers.values())
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="notes.txt", repo_id="user/paths")  # plain paths still work
    assert Path(hf_hub_download("user/paths", "notes.txt")).read_bytes() == b"hello"


def test_lfs_batch_upload_and_verify_need_a_token(local_hub, tmp_path):
    import hashlib

    HfApi().create_repo("user/lfs")
    data = b"\0binary" * 100
    oid, size = hashlib.sha256(data).hexdigest(), len(data)
    batch_url = f"{local_hub.endpoint}/user/lfs.git/info/lfs/objects/batch"
    body = json.dumps({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]}).encode()
    lfs_json = {"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"}

    for auth in ({}, {"Authorization": "Bearer wrong"}):
        status, _, _ = _http(urllib.request.Request(batch_url, data=body, method="POST", headers={**lfs_json, **auth}))
        assert status == 401, auth
    token = {"Authorization": f"Bearer {local_hub.token}"}
    status, _, answer = _http(urllib.request.Request(batch_url, data=body, method="POST", headers={**lfs_json, **token}))
    assert status == 200
    actions = json.loads(answer)["objects"][0]["actions"]
    upload, verify = actions["upload"]["href"], actions["verify"]["href"]
    bare = upload.split("?")[0]

    status, _, _ = _http(urllib.request.Request(bare, data=data, method="PUT"))  # no ticket, no token
    assert status == 401
    other = hashlib.sha256(b"other").hexdigest()  # a ticket is for one object only
    status, _, _ = _http(urllib.request.Request(bare.replace(oid, other) + "?" + upload.split("?")[1], data=b"other", method="PUT"))
    assert status == 401
    assert oid not in local_hub.state.lfs_store
    status, _, _ = _http(urllib.request.Request(upload, data=data, method="PUT"))  # the presigned-style URL
    assert status == 200
    check = json.dumps({"oid": oid, "size": size}).encode()
    status, _, _ = _http(urllib.request.Request(verify, data=check, method="POST", headers=lfs_json))
    assert status == 401
    status, _, _ = _http(urllib.request.Request(verify, data=check, method="POST", headers={**lfs_json, **token}))
    assert status == 200

    # the real client goes through the same endpoints (batch, ticketed PUT, verify) unchanged
    HfApi().upload_file(path_or_fileobj=b"\0weights" * 50, path_in_repo="w.bin", repo_id="user/lfs")
    assert Path(hf_hub_download("user/lfs", "w.bin")).read_bytes() == b"\0weights" * 50
    siblings = {f.rfilename: f for f in HfApi().model_info("user/lfs", files_metadata=True).siblings}
    assert siblings["w.bin"].lfs is not None
    assert any(method == "PUT" and "ticket=" in path and status == 200 for method, path, status in local_hub.requests)


def _raw_request(hub: LocalHub, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as written (no client fixes them up) and read the answer's status and body."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(hub.endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_request_bodies_with_bad_sizes_are_refused_not_read(local_hub, monkeypatch):
    from euromine_hf.testing import hub_server

    HfApi().create_repo("user/body")
    post = "POST /api/models/user/body/commit/main HTTP/1.1\nHost: x\nAuthorization: Bearer " + local_hub.token + "\n"
    # a negative length would make rfile.read(-1) read to the end of the stream, past the limit
    for length in ("-1", "+5", "1e3", "abc"):
        status, answer = _raw_request(local_hub, post + f"Content-Length: {length}\n", b"x" * 100)
        assert status == 400 and b"Content-Length" in answer, length
    chunked = post + "Transfer-Encoding: chunked\n"
    for size in (b"-5", b"zz", b"0x10", b""):
        status, answer = _raw_request(local_hub, chunked, size + b"\r\nhello\r\n0\r\n\r\n")
        assert status == 400 and b"chunk" in answer, size
    monkeypatch.setattr(hub_server, "MAX_BODY_BYTES", 64)
    status, answer = _raw_request(local_hub, post + "Content-Length: 65\n", b"x" * 65)
    assert status == 413 and b"over 64" in answer
    status, answer = _raw_request(local_hub, chunked, b"40\r\n" + b"x" * 64 + b"\r\n1\r\nx\r\n0\r\n\r\n")
    assert status == 413 and b"over 64" in answer
    for cursor in ("abc", "-5", "1e3"):  # a malformed tree cursor is the client's error, not the server's
        status, answer = _raw_request(local_hub, f"GET /api/models/user/body/tree/main?cursor={cursor} HTTP/1.1\nHost: x\n")
        assert status == 400 and b"cursor" in answer, cursor
    assert [s for _, _, s in local_hub.requests if s == 500] == []
    assert HfApi().model_info("user/body").sha  # the server still answers


@pytest.mark.parametrize("name", ["carte du sol – 2016 ü.txt", 'say "hi" \\ bye.txt', "日本.txt"])
def test_any_file_name_downloads_with_a_well_formed_content_disposition(local_hub, name):
    import re
    from urllib.parse import quote, unquote

    api = HfApi()
    api.create_repo("user/names")
    api.upload_file(path_or_fileobj=b"hello", path_in_repo=f"dir/{name}", repo_id="user/names")
    url = f"{local_hub.endpoint}/user/names/resolve/main/dir/{quote(name)}"
    status, headers, body = _http(urllib.request.Request(url))
    assert status == 200 and body == b"hello"
    disposition = headers["Content-Disposition"]
    assert disposition.isascii() and disposition.count('"') == 2, disposition
    fallback = re.fullmatch(r'inline; filename="([^"\\]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', disposition)
    assert fallback, disposition  # an ASCII fallback, then the exact name per RFC 5987
    assert unquote(fallback.group(2), errors="strict") == name
    assert Path(hf_hub_download("user/names", f"dir/{name}")).read_bytes() == b"hello"
