"""The Hub's refusals as input errors, for every leaderboard call to the Hub."""

from __future__ import annotations

from typing import Any


class HubRefusal:
    """``with HubRefusal("what"):`` turns the Hub's refusals (missing repo or file, no access,
    bad token) into a ValueError naming what was asked, so the CLI reports them as input errors."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> bool:
        from huggingface_hub.errors import HfHubHTTPError

        if isinstance(error, HfHubHTTPError):
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.what}: the Hub refused: {type(error).__name__}: {first}") from error
        return False
