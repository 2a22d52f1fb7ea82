"""Rules for text a submitter controls (names, authors, links, repo ids), shared by every reader and writer.

A submission.json is checked with them, and so is every entry read back (it may have been edited since).
"""

from __future__ import annotations

import re
from typing import Any

#: The content hash ``submit`` stores with an entry it scored.
SHA256 = re.compile(r"^[0-9a-f]{64}$")

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
#: Characters no submitted text may hold: C0/C1 controls (terminal escapes, newlines) and the invisible
#: Unicode format characters that reorder or hide text (bidi overrides such as U+202E, zero-width marks).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def is_text(value: Any, limit: int, lines: bool = False) -> bool:
    """A name or description: a string of 1-``limit`` characters, not blank, none of them
    :data:`CONTROL` (``lines``: newlines allowed, for a description)."""
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit \
        and not CONTROL.search(value.replace("\n", " ") if lines else value)


def is_repo_id(value: Any) -> bool:
    """A Hub repo id ``NAMESPACE/NAME`` (nothing a link could turn into a script or a path)."""
    return isinstance(value, str) and REPO_ID.match(value) is not None and ".." not in value


def is_author(text: str) -> bool:
    """An author name: 1-100 characters, none of them a control character (no terminal escapes)."""
    return 0 < len(text) <= 100 and not CONTROL.search(text)


def is_link(text: str) -> bool:
    """A link safe to render: http(s), at most 500 characters, no space, quote or angle bracket."""
    return len(text) <= 500 and re.match(r"^https?://[^\s<>\"']+$", text) is not None


def kept_strings(value: Any, keep: Any) -> list[str]:
    """A list of strings read from an entry file, keeping only those ``keep`` accepts (the file may
    have been edited since ``submit`` checked it)."""
    return [v for v in value if isinstance(v, str) and keep(v)][:20] if isinstance(value, list) else []


def short_description(value: Any) -> str | None:
    """A description as one line of at most 300 characters (control characters become spaces)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(CONTROL.sub(" ", value).split())
    return text if len(text) <= 300 else text[:297] + "..."
