"""A small Hugging Face Hub–compatible HTTP server on 127.0.0.1, for testing push and pull offline.

huggingface_hub has no offline upload mode, so the only honest way to test ``push_to_hub`` /
``snapshot_download`` / ``load_dataset(repo_id)`` without a network is to run the real clients
against a server that speaks enough of the Hub's HTTP API.  This one keeps model, dataset and
space repos in memory (git-like commits, regular and LFS blobs) and answers:

* ``GET /api/whoami-v2``; ``POST /api/repos/create`` and ``/api/repos/delete``;
  ``POST /api/validate-yaml`` (README metadata: YAML parse, ``model-index`` and ``configs`` shape);
* ``GET /api/{type}s/{repo}`` and ``.../revision/{rev}`` (repo info with ``sha`` and ``siblings``);
* ``GET .../tree/{rev}[/{path}]`` (paginated), ``POST .../paths-info/{rev}``, ``GET .../refs``,
  ``GET .../commits/{rev}``;
* ``POST .../preupload/{rev}`` (``lfs`` for binary extensions, binary samples and large files),
  ``POST {repo}.git/info/lfs/objects/batch`` + ``PUT`` upload + ``verify``,
  ``POST .../commit/{rev}`` (ndjson);
* ``HEAD``/``GET {repo}/resolve/{rev}/{path}`` with ``ETag``, ``X-Repo-Commit``,
  ``X-Linked-Etag``/``X-Linked-Size`` for LFS files, and HTTP ``Range``.
* ``GET /api/datasets/{repo}/leaderboard``: the benchmark leaderboard, computed from the model
  repos' ``.eval_results/*.yaml`` that point at a task of the dataset's ``eval.yaml``; model info
  with ``expand=evalResults`` lists a model's eval results.

Anything else is answered 404 with a body naming the request, and recorded in
:attr:`LocalHub.unknown_requests` so a test can show exactly which endpoint a client wanted.
Errors carry the Hub's ``X-Error-Code`` headers so the client raises its usual exceptions
(``RepositoryNotFoundError``, ``RevisionNotFoundError``, ``EntryNotFoundError``).

The server binds 127.0.0.1 only, on a free port; idle keep-alive connections time out, request
bodies are size-bounded, and ``LocalHub`` stops the server when its ``with`` block ends.

Like the Hub, it refuses what a real client must not get away with: file paths holding control
characters (CR/LF would split response headers) are answered 400, and LFS needs a writer's token:
the batch and verify endpoints answer 401 without one, and the upload URL the batch hands out
carries a one-repo, one-object ticket (the Hub's is a presigned storage URL), so a ``PUT`` with
neither the ticket nor a token is answered 401.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: Extensions stored through LFS, as the Hub's default ``.gitattributes`` does.
LFS_EXTENSIONS = (
    ".safetensors", ".parquet", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".arrow", ".npy",
    ".npz", ".msgpack", ".pkl", ".pickle", ".tar", ".gz", ".zip", ".zst", ".tif", ".tiff", ".model",
)
#: Files above this size go through LFS whatever their extension (the Hub's 10 MB rule).
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
#: Largest request body the server reads; anything bigger is refused with 413.
MAX_BODY_BYTES = 1024 * 1024 * 1024
#: Tree listing page size (the Hub's own limit).
TREE_PAGE_SIZE = 1000
DEFAULT_TOKEN = "hf_localhub_test_token"
DEFAULT_USER = "user"

_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

_GITATTRIBUTES = "".join(
    f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS
).encode()


def git_blob_oid(content: bytes) -> str:
    """Git's object id of a blob (sha1 over ``blob {size}\\0`` + content), as the Hub reports it."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands in the git tree for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree: regular content inline, LFS content by sha256 in the store."""

    size: int
    blob_id: str
    content: bytes | None = None  # regular files
    lfs_sha256: str | None = None  # LFS files
    pointer_size: int | None = None

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, FileEntry]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        """A branch, tag, full commit oid or unique oid prefix (≥ 7 hex digits)."""
        for refs in (self.branches, self.tags):
            if revision in refs:
                return self.commits[refs[revision]]
        for name in (revision.removeprefix("refs/heads/"), revision.removeprefix("refs/tags/")):
            if name != revision and (name in self.branches or name in self.tags):
                return self.commits[self.branches.get(name) or self.tags[name]]
        if revision in self.commits:
            return self.commits[revision]
        if re.fullmatch(r"[0-9a-f]{7,39}", revision):
            hits = [c for oid, c in self.commits.items() if oid.startswith(revision)]
            if len(hits) == 1:
                return hits[0]
        return None


class HubError(Exception):
    """An HTTP error answer, with the Hub's ``X-Error-Code`` so the client raises the right class."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


@dataclass
class HubState:
    """Everything the server holds; guarded by ``lock`` since requests arrive on several threads."""

    tokens: dict[str, str]
    lfs_store: dict[str, bytes] = field(default_factory=dict)
    #: upload ticket (handed out by an authenticated LFS batch) -> (repo type, repo id, oid)
    lfs_tickets: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    repos: dict[tuple[str, str], Repo] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: deque = field(default_factory=lambda: deque(maxlen=10_000))
    unknown_requests: list[str] = field(default_factory=list)
    connections: set = field(default_factory=set)  # open client sockets, closed by LocalHub.stop()


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the Hub operation it stands for."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    timeout = 30  # idle keep-alive connections close after this many seconds
    server_version = "euromine-localhub/1.0"
    state: HubState  # set on the subclass made per server
    endpoint: str

    # ---- plumbing ---------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # requests are recorded in state.requests instead of printed

    def do_GET(self) -> None:  # noqa: N802 - stdlib names
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._status = 0
        try:
            self._body_cache: bytes | None = None
            self._route(method)
        except HubError as error:
            with contextlib.suppress(HubError):  # a body that cannot be read closes the connection instead
                self._read_body()  # drain what the client sent so the connection stays usable
            headers = {"X-Error-Message": _header_text(error.message.splitlines()[0])[:200]}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send_json({**error.extra, "error": error.message}, status=error.status, headers=headers)
        except Exception as error:  # a server bug must reach the test as a 500, not a hang
            self.close_connection = True
            with contextlib.suppress(Exception):
                self._send_json({"error": f"local hub internal error: {error!r}"}, status=500)
        finally:
            with self.state.lock:
                self.state.requests.append((method, self.path, self._status))

    def _read_body(self) -> bytes:
        """The request body, from Content-Length or chunked transfer encoding (bounded in size).

        A length or chunk size that is not a plain non-negative number is a 400 and an over-limit
        body a 413, both before the body is read: ``rfile.read(-1)`` would read to the end of the
        stream, past any limit. Either way the rest of the body stays unread, so the connection closes.
        """
        if self._body_cache is not None:
            return self._body_cache
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                field = line.split(b";")[0].strip()
                if not _CHUNK_SIZE.fullmatch(field):
                    self._refuse_body(400, f"chunk size: expected a hexadecimal number, found {field[:40]!r}")
                size = int(field, 16)
                if size == 0:
                    for _ in range(64):  # optional trailers, then the blank line
                        if not self.rfile.readline(1024).strip():
                            break
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    self._refuse_body(413, f"request body over {MAX_BODY_BYTES} bytes")
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    self._refuse_body(400, f"chunked body ended inside a chunk ({len(chunk)} of {size} bytes)")
                parts.append(chunk)
                self.rfile.readline(16)  # CRLF after each chunk
            body = b"".join(parts)
        else:
            value = (self.headers.get("Content-Length") or "0").strip()
            if not _LENGTH.fullmatch(value):
                self._refuse_body(400, f"Content-Length: expected a non-negative integer, found {value[:40]!r}")
            length = int(value)
            if length > MAX_BODY_BYTES:
                self._refuse_body(413, f"request body of {length} bytes is over {MAX_BODY_BYTES}")
            body = self.rfile.read(length) if length else b""
        self._body_cache = body
        return body

    def _refuse_body(self, status: int, message: str) -> NoReturn:
        """Answer ``status`` without reading the (rest of the) body, and close the connection after."""
        self.close_connection = True
        self._body_cache = b""
        raise HubError(status, message)

    def _json_body(self) -> Any:
        body = self._read_body()
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"request body is not JSON: {error}") from None

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        for key, value in (headers or {}).items():
            if _CONTROL.search(f"{key}{value}"):  # never let a value split the response headers
                raise ValueError(f"header {key!r} would hold a control character: {value!r}")
            if not f"{key}{value}".isascii():  # checked before the status line goes out, not half-way through
                raise ValueError(f"header {key!r} would hold non-ASCII text: {value!r}")
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    # ---- auth -------------------------------------------------------------------------------
    def _user(self, required: bool) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth:
            if required:
                raise HubError(401, "this operation needs a token (Authorization: Bearer hf_...)")
            return None
        token = auth.removeprefix("Bearer ").strip()
        user = self.state.tokens.get(token)
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        user = self._user(required=write)
        with self.state.lock:
            repo = self.state.repos.get((repo_type, repo_id))
        namespace = repo_id.split("/")[0]
        if repo is None or (repo.private and user != namespace):
            raise HubError(404, f"Repository {repo_id!r} ({repo_type}) not found", "RepoNotFound")
        if write and user != namespace:
            raise HubError(403, f"user {user!r} cannot write to {repo_id!r}")
        return repo

    @staticmethod
    def _commit_of(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision} in {repo.repo_id}", "RevisionNotFound")
        return commit

    # ---- routing ----------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        split = urlsplit(self.path)
        self._query = parse_qs(split.query)
        raw = [part for part in split.path.split("/") if part]
        seg = [unquote(part) for part in raw]
        if any(_CONTROL.search(part) for part in seg):
            raise HubError(400, f"invalid path {split.path!r}: control characters are not allowed in paths")
        if seg[:1] == ["api"]:
            self._route_api(method, seg[1:])
            return
        if seg[:1] == ["__lfs__"] and len(seg) >= 4:
            self._lfs_transfer(method, seg[1:])
            return
        repo_type = "model"
        if seg[:1] in (["datasets"], ["spaces"]):
            repo_type, seg = _REPO_TYPES[seg[0]], seg[1:]
        if len(seg) >= 3 and seg[1].endswith(".git") and seg[2:] == ["info", "lfs", "objects", "batch"]:
            if method == "POST":
                self._lfs_batch(repo_type, f"{seg[0]}/{seg[1][:-4]}")
                return
        if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
            return
        self._unknown(method)

    def _route_api(self, method: str, seg: list[str]) -> None:
        if seg == ["whoami-v2"] and method == "GET":
            self._whoami()
        elif seg == ["repos", "create"] and method == "POST":
            self._create_repo()
        elif seg == ["repos", "delete"] and method in ("DELETE", "POST"):
            self._delete_repo()
        elif seg == ["validate-yaml"] and method == "POST":
            self._validate_yaml()
        elif len(seg) >= 3 and seg[0] in _REPO_TYPES:
            repo_type, repo_id, rest = _REPO_TYPES[seg[0]], f"{seg[1]}/{seg[2]}", seg[3:]
            if not rest and method == "GET":
                self._repo_info(repo_type, repo_id, "main")
            elif len(rest) == 2 and rest[0] == "revision" and method == "GET":
                self._repo_info(repo_type, repo_id, rest[1])
            elif len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                self._tree(repo_type, repo_id, rest[1], "/".join(rest[2:]))
            elif len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                self._paths_info(repo_type, repo_id, rest[1])
            elif len(rest) == 2 and rest[0] == "preupload" and method == "POST":
                self._preupload(repo_type, repo_id, rest[1])
            elif len(rest) == 2 and rest[0] == "commit" and method == "POST":
                self._commit(repo_type, repo_id, rest[1])
            elif rest == ["refs"] and method == "GET":
                self._refs(repo_type, repo_id)
            elif len(rest) == 2 and rest[0] == "commits" and method == "GET":
                self._list_commits(repo_type, repo_id, rest[1])
            elif rest == ["leaderboard"] and repo_type == "dataset" and method == "GET":
                self._dataset_leaderboard(repo_id)
            else:
                self._unknown(method)
        else:
            self._unknown(method)

    def _unknown(self, method: str) -> None:
        with self.state.lock:
            self.state.unknown_requests.append(f"{method} {self.path}")
        self._read_body()
        self._send_json(
            {"error": f"local hub: no handler for {method} {self.path} (recorded in LocalHub.unknown_requests)"},
            status=404,
        )

    # ---- account and repos ------------------------------------------------------------------
    def _whoami(self) -> None:
        user = self._user(required=True)
        self._send_json({
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user,
            "fullname": user, "email": None, "emailVerified": False, "isPro": False, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local-hub", "role": "write"}},
        })

    def _create_repo(self) -> None:
        user = self._user(required=True)
        payload = self._json_body()
        name = payload.get("name")
        namespace = payload.get("organization") or user
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise HubError(400, f"repo type {repo_type!r} is not one of {sorted(_URL_PREFIX)}")
        if not isinstance(name, str) or not _REPO_NAME_RE.match(name) or ".." in name:
            raise HubError(400, f"invalid repo name {name!r}")
        if namespace != user:
            raise HubError(403, f"user {user!r} cannot create repos in namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))
        url = f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}"
        with self.state.lock:
            if (repo_type, repo_id) in self.state.repos:
                # The Hub answers 409 with the existing repo's url; create_repo(exist_ok=True) reads it.
                raise HubError(409, f"You already created this {repo_type} repo: {url}", extra={"url": url})
            repo = Repo(repo_type, repo_id, private, _now())
            gitattributes = FileEntry(len(_GITATTRIBUTES), git_blob_oid(_GITATTRIBUTES), content=_GITATTRIBUTES)
            _add_commit(repo, "main", "initial commit", "", user, {".gitattributes": gitattributes})
            self.state.repos[(repo_type, repo_id)] = repo
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        user = self._user(required=True)
        payload = self._json_body()
        namespace = payload.get("organization") or user
        repo_id, repo_type = f"{namespace}/{payload.get('name')}", payload.get("type") or "model"
        self._repo(repo_type, repo_id, write=True)
        with self.state.lock:
            del self.state.repos[(repo_type, repo_id)]
        self._send_json({})

    def _validate_yaml(self) -> None:
        """README metadata check run by upload_folder before hashing (a subset of the Hub's rules)."""
        payload = self._json_body()
        errors, warnings = _metadata_problems(str(payload.get("content", "")), str(payload.get("repoType") or "model"))
        status = 400 if errors else 200
        self._send_json({"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]},
                        status=status)

    def _repo_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_of(repo, revision)
        card = _card_data(commit)
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": entry.size, "blobId": entry.blob_id}
            if entry.is_lfs:
                sibling["lfs"] = {"size": entry.size, "sha256": entry.lfs_sha256, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id,
            "author": repo_id.split("/")[0], "sha": commit.oid, "lastModified": commit.date,
            "createdAt": repo.created_at, "private": repo.private, "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": list(card.get("tags") or []), "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.files.values()),
        }
        if card:
            info["cardData"] = card
        if repo_type == "model":
            info["library_name"] = card.get("library_name")
            info["pipeline_tag"] = card.get("pipeline_tag")
            if "model-index" in card:
                info["model-index"] = card["model-index"]
            config_entry = commit.files.get("config.json")
            if config_entry is not None and config_entry.content is not None:
                with contextlib.suppress(ValueError):
                    config = json.loads(config_entry.content)
                    info["config"] = {k: config[k] for k in ("architectures", "model_type") if k in config}
        elif repo_type == "space":
            info["sdk"] = card.get("sdk")
        if repo_type == "model" and "evalResults" in ",".join(self._query.get("expand", [])):
            info["evalResults"] = _eval_result_items(commit)
        self._send_json(info)

    def _refs(self, repo_type: str, repo_id: str) -> None:
        repo = self._repo(repo_type, repo_id)
        self._send_json({
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": o} for n, o in repo.branches.items()],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": o} for n, o in repo.tags.items()],
            "converts": [],
        })

    def _list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id)
        commit: Commit | None = self._commit_of(repo, revision)
        history = []
        while commit is not None:
            history.append({
                "id": commit.oid, "title": commit.title, "message": commit.message,
                "authors": [{"user": commit.author}], "date": commit.date,
            })
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._send_json(history)

    # ---- listing ----------------------------------------------------------------------------
    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_of(repo, revision)
        recursive = self._query.get("recursive", ["false"])[0].lower() == "true"
        path = path.strip("/")
        if path and path in commit.files:
            raise HubError(400, f"{path!r} is a file, not a folder", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        entries: dict[str, dict[str, Any]] = {}
        for file_path in sorted(commit.files):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix):].split("/")
            if recursive:
                for depth in range(1, len(rest)):
                    folder = prefix + "/".join(rest[:depth])
                    entries.setdefault(folder, _folder_info(commit, folder))
                entries[file_path] = _file_info(file_path, commit.files[file_path])
            elif len(rest) == 1:
                entries[file_path] = _file_info(file_path, commit.files[file_path])
            else:
                folder = prefix + rest[0]
                entries.setdefault(folder, _folder_info(commit, folder))
        if path and not entries:
            raise HubError(404, f"{path!r} does not exist at {revision}", "EntryNotFound")
        listing = list(entries.values())
        cursor_text = self._query.get("cursor", ["0"])[0] or "0"
        if not cursor_text.isascii() or not cursor_text.isdigit():
            raise HubError(400, f"cursor: expected a non-negative integer, found {cursor_text[:40]!r}")
        cursor = int(cursor_text)
        page = listing[cursor:cursor + TREE_PAGE_SIZE]
        headers = {}
        if cursor + TREE_PAGE_SIZE < len(listing):
            query = f"recursive={str(recursive).lower()}&expand=false&cursor={cursor + TREE_PAGE_SIZE}"
            url = urlsplit(self.path)
            headers["Link"] = f'<{self.endpoint}{quote(url.path, safe="/%")}?{query}>; rel="next"'
        self._send_json(page, headers=headers)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_of(repo, revision)
        body = self._read_body()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = json.loads(body or b"{}")
            paths = payload.get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        result = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                result.append(_file_info(path, commit.files[path]))
            elif any(p.startswith(f"{path}/") for p in commit.files):
                result.append(_folder_info(commit, path))
        self._send_json(result)

    # ---- upload -----------------------------------------------------------------------------
    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        commit = self._commit_of(repo, revision)
        payload = self._json_body()
        files = []
        for item in payload.get("files", []):
            path, size = item["path"], int(item["size"])
            if not _valid_path(str(path).strip("/")):
                raise HubError(400, f"invalid path in preupload: {path!r}")
            sample = base64.b64decode(item.get("sample", ""))
            lfs = path.lower().endswith(LFS_EXTENSIONS) or size > LFS_SIZE_THRESHOLD or b"\0" in sample
            existing = commit.files.get(path)
            oid = None
            if existing is not None:
                oid = existing.lfs_sha256 if existing.is_lfs else existing.blob_id
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send_json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        self._repo(repo_type, repo_id, write=True)  # 401 without a token, 403 for another's repo
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, f"LFS batch operation {payload.get('operation')!r} is not supported (upload only)")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid")), int(obj.get("size", -1))
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                answer["error"] = {"code": 422, "message": f"oid {oid!r} is not a sha256 hex digest"}
            else:
                with self.state.lock:
                    present = oid in self.state.lfs_store
                if not present:
                    href = f"{self.endpoint}/__lfs__/{repo_type}/{quote(repo_id, safe='')}/{oid}"
                    ticket = secrets.token_urlsafe(16)
                    with self.state.lock:
                        self.state.lfs_tickets[ticket] = (repo_type, repo_id, oid)
                    answer["actions"] = {
                        "upload": {"href": f"{href}?ticket={ticket}", "header": {}},
                        "verify": {"href": f"{href}/verify", "header": {}},
                    }
            objects.append(answer)
        body = json.dumps({"transfer": "basic", "objects": objects}).encode()
        self._send(200, body, content_type="application/vnd.git-lfs+json")

    def _lfs_transfer(self, method: str, seg: list[str]) -> None:
        repo_type, repo_id, oid = seg[0], unquote(seg[1]), seg[2]
        if method == "PUT" and len(seg) == 3:
            ticket = self._query.get("ticket", [""])[0]
            with self.state.lock:
                granted = self.state.lfs_tickets.get(ticket) == (repo_type, repo_id, oid)
            if not granted:
                if not self.headers.get("Authorization"):
                    raise HubError(401, "LFS upload needs the ticket from an authenticated batch request or a token")
                self._repo(repo_type, repo_id, write=True)
            data = self._read_body()
            digest = hashlib.sha256(data).hexdigest()
            if digest != oid:
                raise HubError(400, f"uploaded content has sha256 {digest}, expected {oid} (for {repo_id})")
            with self.state.lock:
                self.state.lfs_store[oid] = data
            self._send(200, b"", content_type="text/plain")
        elif method == "POST" and seg[3:] == ["verify"]:
            self._repo(repo_type, repo_id, write=True)
            payload = self._json_body()
            with self.state.lock:
                data = self.state.lfs_store.get(oid)
            if data is None or len(data) != int(payload.get("size", -1)):
                raise HubError(404, f"LFS object {oid} of {repo_type} {repo_id} is missing or has another size")
            self._send_json({"success": True})
        else:
            self._unknown(method)

    def _commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        user = self._user(required=True) or ""
        if self._query.get("create_pr", ["0"])[0] in ("1", "true"):
            raise HubError(400, "the local hub does not implement pull requests (create_pr)")
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
        lines = [line for line in self._read_body().splitlines() if line.strip()]
        try:
            items = [json.loads(line) for line in lines]
        except json.JSONDecodeError as error:
            raise HubError(400, f"commit body is not ndjson: {error}") from None
        if not items or items[0].get("key") != "header":
            raise HubError(400, "commit body must start with a {'key': 'header'} line")
        header = items[0]["value"]
        with self.state.lock:
            parent = repo.commits[repo.branches[revision]]
            if header.get("parentCommit") and header["parentCommit"] != parent.oid:
                raise HubError(412, f"parent commit {header['parentCommit']} is not the head of {revision} ({parent.oid})")
            files = dict(parent.files)
            for item in items[1:]:
                key, value = item.get("key"), item.get("value", {})
                path = str(value.get("path", "")).strip("/")
                if key in ("file", "lfsFile", "deletedFile", "deletedFolder") and not _valid_path(path):
                    raise HubError(400, f"invalid path in commit: {value.get('path')!r}")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"{path}: only base64 file content is supported")
                    content = base64.b64decode(value["content"])
                    files[path] = FileEntry(len(content), git_blob_oid(content), content=content)
                elif key == "lfsFile":
                    oid = value["oid"]
                    data = self.state.lfs_store.get(oid)
                    if data is None:
                        raise HubError(422, f"{path}: LFS object {oid} was never uploaded")
                    pointer = lfs_pointer(oid, len(data))
                    files[path] = FileEntry(len(data), git_blob_oid(pointer), lfs_sha256=oid, pointer_size=len(pointer))
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"cannot delete {path!r}: no such file", "EntryNotFound")
                elif key == "deletedFolder":
                    gone = [p for p in files if p.startswith(f"{path}/")]
                    if not gone:
                        raise HubError(404, f"cannot delete folder {path!r}: no such folder", "EntryNotFound")
                    for p in gone:
                        del files[p]
                else:
                    raise HubError(400, f"commit operation {key!r} is not supported by the local hub")
            commit = _add_commit(repo, revision, header.get("summary") or "update", header.get("description") or "",
                                 user, files)
        url = f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}/commit/{commit.oid}"
        self._send_json({"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None})

    # ---- eval results and dataset leaderboards -----------------------------------------------
    def _dataset_leaderboard(self, repo_id: str) -> None:
        """``GET /api/datasets/{repo}/leaderboard``, computed as the Hub does: every readable model
        repo's ``.eval_results/*.yaml`` entries that point at this dataset and at a task its
        ``eval.yaml`` declares, ranked by value (higher first).

        The Hub's answer for a dataset with several tasks is not documented; here each entry also
        carries ``taskId`` (the client keeps unknown keys) and ranks count within a task.
        ``?task_id=`` keeps one task; ``?base_model=False`` keeps models that declare a
        ``base_model`` (the default, like the Hub's, leaves them out).
        """
        dataset = self._repo("dataset", repo_id)
        tasks = _benchmark_tasks(self._commit_of(dataset, "main"))
        if not tasks:
            raise HubError(404, f"dataset {repo_id!r} has no leaderboard: no eval.yaml declaring tasks")
        user = self._user(required=False)
        only_task = self._query.get("task_id", [None])[0]
        base_model_only = self._query.get("base_model", ["true"])[0].lower() not in ("false", "0")
        with self.state.lock:
            models = [r for (t, _), r in self.state.repos.items() if t == "model" and (not r.private or user == r.repo_id.split("/")[0])]
        by_task: dict[str, list[dict[str, Any]]] = {}
        for model in models:
            commit = model.resolve("main")
            if commit is None or (base_model_only and _card_data(commit).get("base_model")):
                continue
            for item in _eval_result_items(commit):
                data = item.get("data") or {}
                ds = data.get("dataset") or {}
                value = data.get("value")
                if ds.get("id") != repo_id or ds.get("task_id") not in tasks or (only_task and ds.get("task_id") != only_task):
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                namespace = model.repo_id.split("/")[0]
                entry = {
                    "modelId": model.repo_id, "value": value, "filename": item["filename"],
                    "verified": False, "author": {"type": "user", "name": namespace, "fullname": namespace, "avatarUrl": ""},
                    "pullRequest": None, "notes": data.get("notes"), "taskId": ds["task_id"],
                }
                if isinstance(data.get("source"), dict):
                    entry["source"] = {**data["source"], "isExternal": True}
                by_task.setdefault(ds["task_id"], []).append(entry)
        out = []
        for task_id in sorted(by_task):
            ranked = sorted(by_task[task_id], key=lambda e: (-float(e["value"]), e["modelId"]))
            out += [{"rank": i, **e} for i, e in enumerate(ranked, 1)]
        self._send_json(out)

    # ---- download ---------------------------------------------------------------------------
    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_of(repo, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"{path!r} does not exist in {repo_id} at {revision}", "EntryNotFound")
        if entry.is_lfs:
            with self.state.lock:
                data = self.state.lfs_store[entry.lfs_sha256]
            etag = entry.lfs_sha256
        else:
            data = entry.content or b""
            etag = entry.blob_id
        headers = {
            "ETag": f'"{etag}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(path.rsplit("/", 1)[-1]),
        }
        if entry.is_lfs:
            headers["X-Linked-Etag"] = f'"{entry.lfs_sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        content_type = "application/octet-stream" if entry.is_lfs else "text/plain; charset=utf-8"
        range_header = self.headers.get("Range")
        if range_header:
            span = _parse_range(range_header, len(data))
            if span is None:
                headers["Content-Range"] = f"bytes */{len(data)}"
                self._send(416, b"", headers, content_type)
                return
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._send(206, data[start:end + 1], headers, content_type)
            return
        self._send(200, data, headers, content_type)


#: ASCII control characters (CR and LF among them): never part of a Hub file path or header value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A chunk size line (before any extension) and a Content-Length: plain digits, no sign.
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_LENGTH = re.compile(r"[0-9]{1,19}")


def _header_text(text: str) -> str:
    """``text`` as a header value: control characters as spaces, non-ASCII as ``\\u`` escapes."""
    return _CONTROL.sub(" ", text).encode("ascii", "backslashreplace").decode("ascii")


def content_disposition(filename: str) -> str:
    """``inline`` with the file's name per RFC 6266: an ASCII ``filename`` (``"``, ``\\`` and non-ASCII
    as ``_``) for old clients and, when that differs, the exact name as RFC 5987 ``filename*``."""
    fallback = "".join(c if c.isascii() and c not in '"\\' and not _CONTROL.match(c) else "_" for c in filename)
    header = f'inline; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header



def _valid_path(path: str) -> bool:
    """A repo file path the Hub accepts: not empty, no ``..`` part, no control characters."""
    return bool(path) and ".." not in path.split("/") and not _CONTROL.search(path)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range → inclusive (start, end), or None when unsatisfiable (HTTP 416)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


def _file_info(path: str, entry: FileEntry) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": path}
    if entry.is_lfs:
        info["lfs"] = {"oid": entry.lfs_sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    return info


def _folder_info(commit: Commit, folder: str) -> dict[str, Any]:
    inside = sorted(f"{p}:{e.blob_id}" for p, e in commit.files.items() if p.startswith(f"{folder}/"))
    return {"type": "directory", "oid": hashlib.sha1("\n".join(inside).encode()).hexdigest(), "size": 0,
            "path": folder}


def _add_commit(repo: Repo, branch: str, title: str, message: str, author: str,
                files: dict[str, FileEntry]) -> Commit:
    parent = repo.branches.get(branch)
    date = _now()
    tree = json.dumps(sorted((p, e.blob_id) for p, e in files.items()))
    oid = hashlib.sha1(f"{parent}\n{tree}\n{title}\n{message}\n{time.time_ns()}".encode()).hexdigest()
    commit = Commit(oid, parent, title, message, author, date, files)
    repo.commits[oid] = commit
    repo.branches[branch] = oid
    return commit


def _front_matter(text: str) -> str | None:
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    return match.group(1) if match else None


def _metadata_problems(text: str, repo_type: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a README's YAML metadata: parse errors and malformed known fields."""
    import yaml

    block = _front_matter(text)
    if block is None or not block.strip():
        return [], ["empty or missing yaml metadata in repo card"]
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as error:
        return [f"YAML metadata could not be parsed: {error}"], []
    if not isinstance(data, dict):
        return [f"YAML metadata must be a mapping, got {type(data).__name__}"], []
    errors: list[str] = []
    model_index = data.get("model-index")
    if model_index is not None:
        if repo_type != "model":
            errors.append(f'"model-index" is only allowed in model cards, not {repo_type} cards')
        elif not isinstance(model_index, list) or not all(isinstance(m, dict) and "results" in m for m in model_index):
            errors.append('"model-index" must be a list of {name, results} entries')
        else:
            for model in model_index:
                for result in model["results"] or []:
                    if not isinstance(result, dict) or not all(k in result for k in ("task", "dataset", "metrics")):
                        errors.append('"model-index[].results[]" needs "task", "dataset" and "metrics"')
                        continue
                    for metric in result["metrics"] or []:
                        if not isinstance(metric, dict) or "type" not in metric or "value" not in metric:
                            errors.append('"model-index[].results[].metrics[]" needs "type" and "value"')
    configs = data.get("configs")
    if configs is not None:
        if not isinstance(configs, list) or not all(isinstance(c, dict) and "config_name" in c for c in configs):
            errors.append('"configs" must be a list of mappings, each with a "config_name"')
    return errors, []


def _card_data(commit: Commit) -> dict[str, Any]:
    """The YAML front matter of the commit's README.md (what the Hub exposes as ``cardData``)."""
    entry = commit.files.get("README.md")
    if entry is None or entry.content is None:
        return {}
    block = _front_matter(entry.content.decode("utf-8", errors="replace"))
    if block is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _benchmark_tasks(commit: Commit) -> set[str]:
    """Task ids declared by a dataset's ``eval.yaml`` (``tasks: [{id: ...}, ...]``); empty if none."""
    import yaml

    entry = commit.files.get("eval.yaml")
    if entry is None or entry.content is None:
        return set()
    try:
        data = yaml.safe_load(entry.content.decode("utf-8", errors="replace"))
    except yaml.YAMLError:
        return set()
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return {str(t["id"]) for t in tasks if isinstance(t, dict) and t.get("id")} if isinstance(tasks, list) else set()


def _eval_result_items(commit: Commit) -> list[dict[str, Any]]:
    """Entries of a model commit's ``.eval_results/*.yaml`` as the Hub lists them: ``{"filename",
    "data"}`` per entry, or ``{"filename", "error"}`` for a file that is not a list of entries."""
    import yaml

    items: list[dict[str, Any]] = []
    for path, entry in sorted(commit.files.items()):
        if not (path.startswith(".eval_results/") and path.endswith((".yaml", ".yml"))) or entry.content is None:
            continue
        try:
            data = yaml.safe_load(entry.content.decode("utf-8", errors="replace"))
        except yaml.YAMLError as error:
            items.append({"filename": path, "error": f"YAML: {error}"})
            continue
        if not isinstance(data, list) or not all(
            isinstance(d, dict) and isinstance(d.get("dataset"), dict) and {"id", "task_id"} <= set(d["dataset"]) and "value" in d for d in data
        ):
            items.append({"filename": path, "error": "expected a list of {dataset: {id, task_id}, value} entries"})
            continue
        items += [{"filename": path, "data": d} for d in data]
    return items


class LocalHub:
    """A Hub-compatible server on 127.0.0.1 (free port), started and stopped as a context manager.

    ``with LocalHub() as hub:`` gives ``hub.endpoint`` (``http://127.0.0.1:PORT``), ``hub.token``
    (valid for ``hub.user``), and ``hub.unknown_requests`` (requests no handler matched).
    """

    def __init__(self, user: str = DEFAULT_USER, token: str = DEFAULT_TOKEN,
                 extra_tokens: dict[str, str] | None = None) -> None:
        self.user = user
        self.token = token
        self.state = HubState(tokens={token: user, **(extra_tokens or {})})
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalHub is not running; use it as `with LocalHub() as hub:` or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def unknown_requests(self) -> list[str]:
        with self.state.lock:
            return list(self.state.unknown_requests)

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request answered so far (the last 10,000)."""
        with self.state.lock:
            return list(self.state.requests)

    def start(self) -> "LocalHub":
        if self._server is not None:
            return self
        handler = type("LocalHubHandler", (_Handler,), {"state": self.state, "endpoint": ""})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False  # idle keep-alive connections must not delay stop()
        host, port = server.server_address[:2]
        handler.endpoint = f"http://{host}:{port}"
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"LocalHub:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self.state.lock:  # end idle keep-alive connections now rather than at their timeout
            open_connections = list(self.state.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers for tests ------------------------------------------------------------------
    def file_content(self, repo_id: str, path: str, repo_type: str = "model", revision: str = "main") -> bytes:
        """Bytes of a file as stored on this hub (reads the state directly, no HTTP)."""
        with self.state.lock:
            repo = self.state.repos.get((repo_type, repo_id))
            if repo is None:
                raise KeyError(f"no {repo_type} repo {repo_id!r} on this local hub")
            commit = repo.resolve(revision)
            if commit is None or path not in commit.files:
                raise KeyError(f"{repo_id}@{revision}: no file {path!r}")
            entry = commit.files[path]
            return self.state.lfs_store[entry.lfs_sha256] if entry.is_lfs else (entry.content or b"")

    def create_ref(self, repo_id: str, ref: str, revision: str = "main", repo_type: str = "model") -> None:
        """Point ``ref`` (e.g. ``refs/pr/1``, where the Hub keeps a pull request's commits, such as its
        safetensors conversions) at ``revision``'s commit: the hub then serves ``revision=ref`` downloads."""
        with self.state.lock:
            repo = self.state.repos[(repo_type, repo_id)]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(f"{repo_id}: no revision {revision!r}")
            repo.branches[ref] = commit.oid

    def is_lfs(self, repo_id: str, path: str, repo_type: str = "model", revision: str = "main") -> bool:
        with self.state.lock:
            commit = self.state.repos[(repo_type, repo_id)].resolve(revision)
            assert commit is not None
            return commit.files[path].is_lfs

    def client_env(self, hf_home: str | os.PathLike[str]) -> dict[str, str]:
        """Environment variables that point a fresh process's huggingface_hub/datasets at this hub."""
        return hub_client_env(self.endpoint, self.token, hf_home)


def hub_client_env(endpoint: str, token: str, hf_home: str | os.PathLike[str]) -> dict[str, str]:
    """Env for a subprocess client: endpoint, token, no Xet, a private cache, never offline."""
    return {
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    }


@contextlib.contextmanager
def use_local_hub(hub: LocalHub, hf_home: str | os.PathLike[str]) -> Iterator[LocalHub]:
    """Point the *already imported* huggingface_hub, datasets and transformers at ``hub``.

    These libraries read ``HF_ENDPOINT``/``HF_HOME``/``HF_HUB_DISABLE_XET`` into module constants
    at import time (``huggingface_hub.constants.ENDPOINT``, ``datasets.config.HF_ENDPOINT``, ...),
    so setting the environment alone does nothing in a running process.  This sets the environment
    (for subprocesses) *and* the constants, clears HfFileSystem's instance cache (instances
    remember their endpoint), and restores everything afterwards.
    """
    import huggingface_hub
    from huggingface_hub import HfFileSystem, constants

    hf_home = Path(hf_home)
    hf_home.mkdir(parents=True, exist_ok=True)
    env = hub_client_env(hub.endpoint, hub.token, hf_home)
    saved_env = {key: os.environ.get(key) for key in (*env, "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_TOKEN_PATH",
                                                         "HUGGING_FACE_HUB_TOKEN", "HF_XET_CACHE")}
    hub_cache = str(hf_home / "hub")
    patches: list[tuple[Any, str, Any]] = [
        (constants, "ENDPOINT", hub.endpoint),
        (constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"),
        (constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"}),
        (constants, "HF_HOME", str(hf_home)),
        (constants, "HF_HUB_CACHE", hub_cache),
        (constants, "HUGGINGFACE_HUB_CACHE", hub_cache),
        (constants, "HF_ASSETS_CACHE", str(hf_home / "assets")),
        (constants, "HF_XET_CACHE", str(hf_home / "xet")),
        (constants, "HF_TOKEN_PATH", str(hf_home / "token")),
        (constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens")),
        (constants, "HF_HUB_OFFLINE", False),
        (constants, "HF_HUB_DISABLE_XET", True),
        (constants, "HF_HUB_DISABLE_TELEMETRY", True),
    ]
    import sys

    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        patches += [
            (datasets_config, "HF_ENDPOINT", hub.endpoint),
            (datasets_config, "HUB_DATASETS_URL", hub.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"),
            (datasets_config, "HF_HUB_OFFLINE", False),
            (datasets_config, "HF_DATASETS_OFFLINE", False),
            (datasets_config, "HF_CACHE_HOME", str(hf_home)),
            (datasets_config, "HF_DATASETS_CACHE", hf_home / "datasets"),
            (datasets_config, "DOWNLOADED_DATASETS_PATH", str(hf_home / "datasets" / "downloads")),
            (datasets_config, "EXTRACTED_DATASETS_PATH", str(hf_home / "datasets" / "downloads" / "extracted")),
            (datasets_config, "HF_MODULES_CACHE", hf_home / "modules"),
        ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches if hasattr(module, name)]
    os.environ.update(env)
    for key in ("HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_XET_CACHE"):
        os.environ.pop(key, None)
    for module, name, value in patches:
        if hasattr(module, name):
            setattr(module, name, value)
    HfFileSystem.clear_instance_cache()
    _ = huggingface_hub  # imported so the constants module is initialised before patching
    try:
        yield hub
    finally:
        HfFileSystem.clear_instance_cache()
        for module, name, value in saved:
            setattr(module, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
