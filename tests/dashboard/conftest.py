"""Fixtures of the dashboard tests (the shared parts: dashboard_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dashboard_fixtures import TOKEN, Runtime


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    """Runtimes a test starts with ``start_runtime`` and appends here are stopped after it."""
    started: list[Runtime] = []
    yield started
    for rt in started:
        rt.server.stop()


@pytest.fixture
def admin_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHIJIM_ADMIN_TOKEN", TOKEN)
    return TOKEN
