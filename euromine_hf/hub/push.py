"""Push trained models and Parquet dataset exports to the Hub, and pull models back.

Thin on purpose: huggingface_hub's ``create_repo(exist_ok=True)`` + ``upload_folder`` do the work
(preupload, LFS for weights and shards, one commit).  What this module adds is checking the folder
*before* anything goes over the network, so that a push fails with a message naming the missing
file instead of producing a Hub repo that ``from_pretrained`` or ``load_dataset`` cannot read.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Sequence

from huggingface_hub import HfApi, get_token, snapshot_download

logger = logging.getLogger(__name__)

#: Trainer leftovers, temporary files, and every hidden file or folder (``.env`` with a token, tool
#: markers such as ``.euromine-predict.json``, ``.DS_Store``): ``save_pretrained`` writes none of them.
DEFAULT_MODEL_IGNORE = ("checkpoint-*", "checkpoint-*/**", "runs/**", "**/*.tmp", "*.tmp", ".*", ".*/**", "**/.*", "**/.*/**")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


class HubPushError(ValueError):
    """A folder is not fit to push, or no credentials are available; the message says which and why."""


@contextlib.contextmanager
def refused_credentials(repo_id: str, repo_type: str = "model") -> Iterator[None]:
    """Turn the Hub's 401 (token unknown or expired) and 403 (no write access to the namespace
    or repo) into :class:`HubPushError` naming the repo and what to do: they are the user's
    credentials, not a bug, and huggingface_hub reports them as a traceback."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status not in (401, 403):
            raise
        kind = "" if repo_type == "model" else f"{repo_type} "
        where = f"{constants.ENDPOINT}: {kind}repo {repo_id}"
        if status == 401:
            raise HubPushError(f"{where}: the Hub refused the token (401 Unauthorized: unknown or expired); "
                               "expected a valid write token in HF_TOKEN or from `hf auth login`") from None
        raise HubPushError(f"{where}: the token has no write access (403 Forbidden); expected a token of the "
                           "namespace's owner (or an organisation member) with the write role") from None


def _resolve_token(token: str | None) -> str:
    resolved = token or get_token()
    if not resolved:
        raise HubPushError(
            "no Hugging Face token: pass token=..., set the HF_TOKEN environment variable, "
            "or log in once with `hf auth login`"
        )
    return resolved


def check_model_folder(folder: str | Path) -> Path:
    """Raise :class:`HubPushError` unless ``folder`` holds a ``save_pretrained`` model in safetensors.

    Pushing asks for safetensors only (no pickles on the Hub); the folder's contents — config.json,
    its ``model_type``, every safetensors header and shard — are checked by the same
    :func:`euromine_hf.models.loading.check_model_folder` that loading uses.
    """
    path = Path(folder)
    if not path.is_dir():
        raise HubPushError(f"{path}: not a folder (expected the output of model.save_pretrained)")
    if not (path / "config.json").is_file():
        raise HubPushError(f"{path}: not a model folder, config.json is missing (save it with model.save_pretrained)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        pickles = sorted(p.name for p in path.glob("*.bin"))
        hint = f"; found only {pickles}: save with safetensors (the default of save_pretrained)" if pickles else ""
        raise HubPushError(f"{path}: not a model folder, model.safetensors is missing{hint}")
    from euromine_hf.models.loading import check_model_folder as check_loadable

    try:
        check_loadable(path)
    except ValueError as error:
        raise HubPushError(str(error)) from None
    return path


def _dataset_configs(export_dir: Path) -> list[dict[str, Any]]:
    """The README ``configs:`` YAML of a Parquet export, checked against the files present."""
    from huggingface_hub import DatasetCard

    readme = export_dir / "README.md"
    if not readme.is_file():
        raise HubPushError(f"{export_dir}: README.md is missing; the dataset card carries the `configs:` YAML")
    try:
        card = DatasetCard.load(readme)
    except ValueError as error:
        raise HubPushError(f"{readme}: YAML metadata does not parse: {error}") from None
    configs = card.data.to_dict().get("configs")
    if not isinstance(configs, list) or not configs:
        raise HubPushError(
            f"{readme}: no `configs:` list in the YAML metadata; each config needs a config_name and data_files"
        )
    for index, config in enumerate(configs):
        if not isinstance(config, dict) or not config.get("config_name"):
            raise HubPushError(f"{readme}: configs[{index}] needs a `config_name`")
        data_files = config.get("data_files")
        if isinstance(data_files, str):
            data_files = [{"split": "train", "path": data_files}]
        if not isinstance(data_files, list) or not data_files:
            raise HubPushError(f"{readme}: configs[{index}] ({config['config_name']}) needs `data_files`")
        for entry in data_files:
            patterns = entry.get("path") if isinstance(entry, dict) else entry
            for pattern in [patterns] if isinstance(patterns, str) else list(patterns or []):
                if not any(p.is_file() for p in export_dir.glob(pattern)):
                    raise HubPushError(
                        f"{readme}: config {config['config_name']!r} data_files pattern {pattern!r} "
                        f"matches no file under {export_dir}"
                    )
    return configs


def push_model_folder(
    folder: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload EuroMineNet model (euromine-hf)",
    revision: str | None = None,
    ignore_patterns: Sequence[str] = DEFAULT_MODEL_IGNORE,
    api: HfApi | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload a ``save_pretrained`` folder (card included); returns the commit URL."""
    path = check_model_folder(folder)
    if not (path / "README.md").is_file():
        logger.warning("%s has no README.md: the model repo will have no card (see euromine_hf.hub.cards)", path)
    token = _resolve_token(token)
    api = api or HfApi()
    with refused_credentials(repo_id):
        # create_repo answers with the full id: a bare name lands in the token owner's namespace.
        repo_id = api.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True).repo_id
        info = api.upload_folder(
            folder_path=str(path), repo_id=repo_id, repo_type="model", token=token, revision=revision,
            commit_message=commit_message, ignore_patterns=list(ignore_patterns),
        )
    logger.info("pushed %s to %s: %s", path, repo_id, info.commit_url)
    return str(info.commit_url)


#: Local-only files of an export folder, never uploaded.
_EXPORT_LOCAL_ONLY = (".euromine-export.json",)
_SKIP_PATTERNS = ("*.tmp", ".cache/*")


def _card_for_repo(readme: Path, local_id: str | None, local_name: str, repo_id: str) -> bytes:
    """The export's README with its snippets and location note naming ``repo_id`` instead of the
    local name (the card's forms come from :mod:`euromine_hf.data.export`)."""
    from euromine_hf.data.export import card_location_note, card_sites_code

    text = readme.read_text(encoding="utf-8")
    if local_id and local_id != repo_id:
        text = re.sub(rf'load_dataset\("{re.escape(local_id)}"', f'load_dataset("{repo_id}"', text)
        text = text.replace(card_sites_code(local_id), card_sites_code(repo_id))
        text = text.replace(card_location_note(local_id, local_name), card_location_note(repo_id, local_name))
    return text.encode("utf-8")


def dataset_config_names(export_dir: str | Path) -> list[str]:
    """The configs a Parquet export holds, from its README ``configs:`` YAML (checked against the
    files), the default config first: what ``load_dataset(repo_id, name)`` accepts."""
    configs = _dataset_configs(Path(export_dir))
    names = [str(c["config_name"]) for c in configs]
    default = [str(c["config_name"]) for c in configs if c.get("default")]
    return default[:1] + [n for n in names if n not in default[:1]]


def push_dataset_folder(
    export_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload EuroMineNet Parquet export (euromine-hf)",
    revision: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload a Parquet export (shards + README with ``configs:``) as a dataset repo; returns the commit URL.

    ``datasets.load_dataset(repo_id, config_name)`` reads it back with no loading script. The
    card's usage snippet, written for the local folder (``load_dataset("euromine", ...)``), is
    rewritten to name ``repo_id`` (the full id the Hub answers, namespace included). Everything
    goes in one commit; the export marker stays local.
    """
    from fnmatch import fnmatch

    from huggingface_hub import CommitOperationAdd

    path = Path(export_dir)
    if not path.is_dir():
        raise HubPushError(f"{path}: not a folder (expected a Parquet export with README.md)")
    configs = _dataset_configs(path)
    token = _resolve_token(token)
    api = api or HfApi()
    with refused_credentials(repo_id, "dataset"):
        repo_id = api.create_repo(repo_id, token=token, private=private, repo_type="dataset", exist_ok=True).repo_id
    from euromine_hf.data.export import read_export_marker

    marker = read_export_marker(path) or {}
    local_name = path.resolve().name
    local_id = marker.get("repo_id") or local_name
    operations = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if file.is_symlink():
            raise HubPushError(f"{file}: a symlink in the export folder; expected plain files only (not uploaded)")
        if rel in _EXPORT_LOCAL_ONLY or any(fnmatch(rel, pattern) for pattern in _SKIP_PATTERNS):
            continue
        content: Any = _card_for_repo(file, local_id, local_name, repo_id) if rel == "README.md" else str(file)
        operations.append(CommitOperationAdd(path_in_repo=rel, path_or_fileobj=content))
    with refused_credentials(repo_id, "dataset"):
        info = api.create_commit(
            repo_id=repo_id, repo_type="dataset", operations=operations, token=token, revision=revision,
            commit_message=commit_message,
        )
    logger.info("pushed %d config(s) from %s to dataset %s: %s", len(configs), path, repo_id, info.commit_url)
    return str(info.commit_url)


def push_metric_spaces(
    namespace: str,
    names: Sequence[str] | None = None,
    token: str | None = None,
    private: bool = False,
    requirement: str = "euromine-hf",
    commit_message: str = "Upload EuroMineNet evaluate module (euromine-hf)",
    api: HfApi | None = None,
) -> dict[str, str]:
    """Publish the packaged evaluate modules as Hub Spaces ``{namespace}/{name}`` (evaluate's
    metric-Space layout: ``app.py``, ``{name}.py``, ``README.md`` with the metric card YAML,
    ``requirements.txt`` naming ``requirement``), so ``evaluate.load(f"{namespace}/{name}")`` loads
    them. Returns ``{name: commit URL}``."""
    from huggingface_hub import CommitOperationAdd

    from euromine_hf.metrics.modules import MODULE_NAMES, space_files

    if not namespace or "/" in namespace:
        raise HubPushError(f"namespace {namespace!r}: expected a user or organisation name without '/'")
    names = list(names) if names is not None else list(MODULE_NAMES)
    unknown = [n for n in names if n not in MODULE_NAMES]
    if unknown or not names:
        raise HubPushError(f"metric modules {unknown or names}: expected some of {list(MODULE_NAMES)}")
    token = _resolve_token(token)
    api = api or HfApi()
    urls = {}
    for name in names:
        files = space_files(name, namespace, requirement=requirement)
        with refused_credentials(f"{namespace}/{name}", "space"):
            repo_id = api.create_repo(f"{namespace}/{name}", token=token, private=private, repo_type="space",
                                      space_sdk="gradio", exist_ok=True).repo_id
            operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=data) for rel, data in files.items()]
            info = api.create_commit(repo_id=repo_id, repo_type="space", operations=operations, token=token,
                                     commit_message=commit_message)
        urls[name] = str(info.commit_url)
        logger.info("pushed metric %s to space %s: %s", name, repo_id, info.commit_url)
    return urls


def pull_model(
    repo_id: str, revision: str | None = None, token: str | None = None, cache_dir: str | Path | None = None,
) -> Path:
    """Download a model repo into the Hub cache and return the local folder (``from_pretrained`` accepts it)."""
    local = Path(snapshot_download(repo_id, repo_type="model", revision=revision, token=token,
                                   cache_dir=str(cache_dir) if cache_dir is not None else None))
    if not (local / "config.json").is_file():
        raise HubPushError(f"{repo_id} (revision {revision or 'main'}) has no config.json: not a transformers model repo")
    return local


__all__ = [
    "HubPushError",
    "check_model_folder",
    "dataset_config_names",
    "pull_model",
    "push_dataset_folder",
    "push_metric_spaces",
    "push_model_folder",
]
