"""``submission.json``: what a submission claims (its metadata), the validated :class:`Submission` and
:class:`SubmissionError`, which lists every problem at once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from euromine_hf.hub.card_rules import HUB_LICENSES
from euromine_hf.hub.leaderboard.tasks import HUB_TASK_IDS, TASKS, TaskSpec, task_spec
from euromine_hf.hub.leaderboard.text import CONTROL, is_author, is_link, is_repo_id, is_text

SUBMISSION_FILE = "submission.json"
#: Checked before submission.json is parsed.
MAX_SUBMISSION_JSON_BYTES = 64 * 1024
#: A SubmissionError lists this many problems, then how many more there are.
MAX_LISTED_PROBLEMS = 200

META_KEYS = {"model", "task", "model_repo", "authors", "links", "description", "license"}


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class SubmissionError(ValueError):
    """A submission that cannot be scored; ``problems`` lists every reason (one line each).

    The CLI guard prints the headline and each problem on its own line (any error with a
    non-empty ``problems`` list is printed that way) and exits 2.
    """

    def __init__(self, root: str | Path, problems: Sequence[str]) -> None:
        self.root = Path(root)
        # file names come from the submitter: control characters (terminal escapes) are shown as \xNN;
        # a problem found once per file of one folder is listed once
        problems = list(dict.fromkeys(CONTROL.sub(_escaped, re.sub(r"[\n\r\t]+", " ", str(p)))
                                      for p in problems))
        shown = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > MAX_LISTED_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more problems")
        self.problems = shown
        self.headline = f"{self.root}: submission rejected, {len(problems)} problem{'s' if len(problems) != 1 else ''} (format: euromine leaderboard format)"
        super().__init__(self.headline + "".join(f"\n  - {p}" for p in shown))


@dataclass
class Submission:
    """A validated submission: where it is, what it claims and which test sites it covers."""

    root: Path
    task: TaskSpec
    meta: dict[str, Any]
    sites: list[Any]  # SiteRecord of every test site
    files: list[Path]  # every prediction file, sorted
    sha256: str = ""
    archive: Path = field(default_factory=Path)



def check_meta(path: Path, size: int, task: str | None, problems: list[str]) -> dict[str, Any]:
    """Parse and check ``submission.json`` (size first); problems are appended, not raised."""
    where = f"{path}"
    if size > MAX_SUBMISSION_JSON_BYTES:
        problems.append(f"{where}: size: expected at most {MAX_SUBMISSION_JSON_BYTES} bytes, found {size}")
        return {}
    repeated: list[str] = []

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        meta = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        problems.append(f"{where}: content: expected a JSON object in UTF-8, found {type(exc).__name__}: {exc}")
        return {}
    for key in dict.fromkeys(repeated):  # json keeps the last value silently: which one was meant?
        problems.append(f"{where}: field {key!r}: expected once, found {repeated.count(key) + 1} times")
    if not isinstance(meta, dict):
        problems.append(f"{where}: content: expected a JSON object, found {type(meta).__name__}")
        return {}
    return check_meta_fields(meta, where, task, problems)


def check_meta_fields(meta: dict[str, Any], where: str, task: str | None, problems: list[str]) -> dict[str, Any]:
    """The fields of a submission's metadata (from ``submission.json`` or the command line)."""
    for key in sorted(set(meta) - META_KEYS):
        problems.append(f"{where}: field {key!r}: expected only {sorted(META_KEYS)}")

    def text(key: str, limit: int, required: bool = False) -> None:
        value = meta.get(key)
        if value is None:
            if required:
                problems.append(f"{where}: field {key!r}: expected a non-empty string, found nothing")
            return
        if not is_text(value, limit, lines=key == "description"):
            problems.append(f"{where}: field {key!r}: expected a string of 1-{limit} printable characters, found {value!r:.80}")

    text("model", 100, required=True)
    text("description", 2000)
    declared = meta.get("task")
    if declared not in TASKS and declared not in HUB_TASK_IDS:
        problems.append(f"{where}: field 'task': expected one of {sorted(TASKS)}, found {declared!r}")
    elif task is not None and task_spec(declared).name != task:
        problems.append(f"{where}: field 'task': expected {task!r} (as --task says), found {declared!r}")
    licence = meta.get("license")
    if licence is not None and (licence not in HUB_LICENSES or licence == "other"):
        problems.append(f"{where}: field 'license': expected a Hub license id such as apache-2.0 or cc-by-4.0 "
                        f"(not 'other', which needs a name and a link), found {licence!r:.80}")
    repo = meta.get("model_repo")
    if repo is not None and not is_repo_id(repo):
        problems.append(f"{where}: field 'model_repo': expected a Hub model id NAMESPACE/NAME, found {repo!r:.80}")
    for key, check, what in (
        ("authors", is_author, "names of 1-100 printable characters"),
        ("links", is_link, "http(s) URLs without spaces or quotes"),
    ):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) > 20 or not all(isinstance(v, str) and check(v) for v in value):
            problems.append(f"{where}: field {key!r}: expected a list of at most 20 {what}, found {value!r:.80}")
    return meta
