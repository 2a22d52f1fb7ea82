"""Test helpers that other packages' tests can import (kept inside the package so they install with it)."""

from __future__ import annotations

from euromine_hf.testing.hub_server import LocalHub, hub_client_env, use_local_hub

__all__ = ["LocalHub", "hub_client_env", "use_local_hub"]
