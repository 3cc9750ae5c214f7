"""Shared test setup. Fixtures live in tests/fixtures/*.py, one module per kind of server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every module in tests/fixtures is a fixture plugin (moto server, private servers, ...).
pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if not p.name.startswith("_")
)

REQUIRE_SERVERS = os.environ.get("COCKPIT_REQUIRE_SERVERS") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose server is missing, or fail when CI demands every server."""
    if REQUIRE_SERVERS:
        pytest.fail(f"COCKPIT_REQUIRE_SERVERS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _private_state(tmp_path_factory, monkeypatch):
    """Audit logs and other state go to a temp dir, never the developer's own."""
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state
