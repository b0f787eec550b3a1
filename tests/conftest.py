"""Shared by every test directory: the broker SDK's own log goes to a temporary file, and the
session fails if a test left a dead process's ring or a pod's data on the machine.

Importing ``shioaji`` opens ``./shioaji.log`` unless ``SJ_LOG_PATH`` says otherwise
(docs/configuration.md); the runtime points it at its filtered stderr, but tests that build
real shioaji objects import it directly, and would leave the file in the checkout."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault(
    "SJ_LOG_PATH", str(Path(tempfile.gettempdir()) / f"shijim-tests-shioaji-{os.getpid()}.log")
)


# What a runtime may leave on the machine only by dying unclean: its ring in /dev/shm (named
# after the creating process, ``...-<pid>``) and, run with a pod's config, files under the
# pod's data volume. A test that leaves either has a bug (a process killed before its ring was
# unlinked; a local "pod" without its own data directory).
SHM = Path("/dev/shm")
POD_DATA = Path("/var/lib/shijim")


def _dead_rings() -> set[str]:
    dead = set()
    for path in SHM.glob("shijim-ring.*"):
        pid = path.name.rpartition("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            dead.add(path.name)
    return dead


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    rings, pod_data = _dead_rings(), POD_DATA.exists()
    yield
    leaked = sorted(_dead_rings() - rings)
    assert not leaked, f"rings left in {SHM} by processes that died: {leaked}"
    assert pod_data or not POD_DATA.exists(), f"a test wrote under {POD_DATA}"
