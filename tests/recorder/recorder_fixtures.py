"""Fixtures and helpers of the recorder tests (conftest.py exposes the fixtures): real rings,
the real embedded ClickHouse (chdb), and a real ClickHouse engine behind HTTP (chdb_front.py in
a process of its own).

chdb opens one data directory per process for the life of the process, so every in-process
test shares one directory (``chdb_dir``) and gets a database of its own (``database``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from shijim.metrics import ShardMetrics
from shijim.recorder.settings import ClickHouseConfig, RecorderConfig

import shijim_core

REPO = Path(__file__).resolve().parents[2]
FRONT = Path(__file__).resolve().parent / "chdb_front.py"
_ids = count()
START_NS = 1_767_574_800_000_000_000  # 2026-01-05 09:00 Taipei (a Monday)


@dataclass
class Ring:
    name: str
    writer: Any

    def publish_mixed(
        self, n: int, t0: int = START_NS, codes: tuple[str, ...] = ("TXFL6", "MXFL6")
    ) -> None:
        """``n`` messages: ticks and 5-level books of ``codes``, 1 ms apart."""
        w = self.writer
        for i in range(n):
            code = codes[i % len(codes)]
            ts = t0 + i * 1_000_000
            if i % 3 == 0:
                w.publish_tick(
                    code, ts, ts + 1000, 22000 + (i % 7) * 0.5, 1 + i % 4, 1000 + i, i % 3
                )
            else:
                bids = [22000.0 - k for k in range(5)]
                asks = [22001.25 + k for k in range(5)]
                w.publish_bidask(code, ts, ts + 1000, bids, [1, 2, 3, 4, 5], asks, [5, 4, 3, 2, 1])


@pytest.fixture
def make_ring() -> Iterator[Callable[..., Ring]]:
    made: list[Ring] = []

    def make(slots: int = 1 << 16) -> Ring:
        name = f"rectest-{os.getpid()}-{next(_ids)}"
        shijim_core.ring_unlink(name)
        ring = Ring(name, shijim_core.RingWriter(name, slots=slots, create=True))
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.writer.close()
        shijim_core.ring_unlink(ring.name)


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "engine"


@pytest.fixture
def database() -> str:
    return f"rec_{os.getpid()}_{next(_ids)}"


@pytest.fixture
def chdb_env(chdb_dir: Path) -> dict[str, str]:
    return {"CLICKHOUSE_DSN": f"chdb://{chdb_dir}"}


@pytest.fixture
def chdb_client(chdb_dir: Path) -> Iterator[Any]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    yield client
    client.close()


def recorder_config(tmp: Path, database: str, **clickhouse: Any) -> RecorderConfig:
    ch = {"database": database, "batch_rows": 2000, "batch_ms": 50, **clickhouse}
    return RecorderConfig(
        enabled=True,
        raw_dir=str(tmp / "raw"),
        fallback_dir=str(tmp / "fallback"),
        fsync="interval",
        fsync_interval_ms=50,
        clickhouse=ClickHouseConfig(**ch),
    )


def sample(metrics: ShardMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"shard": metrics.shard, **labels})
    return 0.0 if value is None else float(value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Front:
    """chdb_front.py on ``port`` (started and stopped by the test)."""

    port: int
    path: Path
    user: str = "ch-user-7"
    password: str = "pa55-w0rd"
    proc: subprocess.Popen[bytes] | None = None
    started: list[float] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}/default?compress=false"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FRONT), str(self.port), str(self.path), self.user, self.password],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", self.proc.stderr.read() if self.proc.stderr else line
        self.started.append(time.monotonic())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def client(self) -> Any:
        import clickhouse_connect

        return clickhouse_connect.get_client(dsn=self.dsn)


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    f = Front(free_port(), tmp_path / "front-chdb")
    yield f
    f.stop()
