"""The recorder's configuration: the ``recorder`` section of the runtime config
(``shijim.app.config.RuntimeConfig.recorder``, docs/configuration.md), read as it is, like
``risk`` is ``RiskLimits``. Secrets are never here: the ClickHouse DSN comes only from the
environment (``CLICKHOUSE_DSN``; shijim.recorder.dsn).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

ENV_RAW_DIR = "SHIJIM_RAW_DIR"
ENV_FALLBACK_DIR = "SHIJIM_FALLBACK_DIR"
DATABASE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class FsyncPolicy(StrEnum):
    """When the JSONL files are forced to disk (the loss bound on a power cut: docs/recorder.md).
    A killed process loses nothing it has written, whatever the policy: the page cache keeps it."""

    EVERY_BATCH = "every_batch"  # before a batch is acknowledged (sent on to ClickHouse)
    INTERVAL = "interval"  # every fsync_interval_ms, by a thread of its own
    OFF = "off"  # when the kernel writes dirty pages back


@dataclass(frozen=True)
class ClickHouseConfig:
    # The sink. With no CLICKHOUSE_DSN it is the embedded engine (chdb) at <raw_dir>/../chdb.
    enabled: bool = True
    database: str = "shijim"
    # A block goes to ClickHouse at batch_rows rows, or when its oldest row is batch_ms old.
    batch_rows: int = field(default=10_000, metadata={"ge": 1})
    batch_ms: int = field(default=1000, metadata={"ge": 1})


@dataclass(frozen=True)
class RecorderConfig:
    enabled: bool = False  # `run --record` sets it
    raw_dir: str = "raw"  # SHIJIM_RAW_DIR wins
    fallback_dir: str = "fallback"  # SHIJIM_FALLBACK_DIR wins
    fsync: Literal["every_batch", "interval", "off"] = "interval"
    fsync_interval_ms: int = field(default=200, metadata={"ge": 1})
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)

    @property
    def fsync_policy(self) -> FsyncPolicy:
        return FsyncPolicy(self.fsync)


def recorder_problems(cfg: RecorderConfig) -> list[tuple[str, str]]:
    """Rules the types cannot state, as (field path under ``recorder``, message)."""
    out = []
    for name in ("raw_dir", "fallback_dir"):
        if not getattr(cfg, name).strip():
            out.append((name, "must name a directory"))
    if Path(cfg.raw_dir).resolve() == Path(cfg.fallback_dir).resolve():
        out.append(("fallback_dir", f'must differ from raw_dir ("{cfg.raw_dir}")'))
    if not DATABASE_PATTERN.fullmatch(cfg.clickhouse.database):
        out.append(
            (
                "clickhouse.database",
                f'expected a ClickHouse identifier ([A-Za-z_][A-Za-z0-9_]*), got "'
                f'{cfg.clickhouse.database[:70]}"',
            )
        )
    return out


def env_dirs(env: Mapping[str, str]) -> dict[str, str | None]:
    """The directories the environment sets (None: not set), as recorder-section overrides."""
    return {
        "raw_dir": env.get(ENV_RAW_DIR) or None,
        "fallback_dir": env.get(ENV_FALLBACK_DIR) or None,
    }


def chdb_dir(raw_dir: str | Path) -> Path:
    """Where the embedded ClickHouse keeps its tables when no DSN is given: ``chdb`` beside the
    raw directory (``<raw_dir>/../chdb``), so one volume holds the log and its tables."""
    return Path(raw_dir).resolve().parent / "chdb"
