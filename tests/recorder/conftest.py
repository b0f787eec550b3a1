"""Fixtures of the recorder tests (recorder_fixtures.py)."""

from __future__ import annotations

from recorder_fixtures import chdb_client, chdb_dir, chdb_env, database, front, make_ring

__all__ = ["chdb_client", "chdb_dir", "chdb_env", "database", "front", "make_ring"]
