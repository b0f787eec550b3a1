"""The pinned loop's garbage collector: frozen start, no automatic collection inside, CPython's
cadence in idle turns, a bound in bursts, everything restored at the end."""

from __future__ import annotations

import gc

import pytest
from shijim.app.idle_collector import OVERDUE_FACTOR, IdleCollector


class _Node:
    """A container object the cyclic collector tracks."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycles(n: int) -> None:
    """``n`` two-object reference cycles: garbage only the cyclic collector frees."""
    for _ in range(n):
        a, b = _Node(), _Node()
        a.other, b.other = b, a


@pytest.fixture
def collections() -> list[int]:
    """The generation of every collection while the test runs."""
    seen: list[int] = []

    def cb(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(cb)
    yield seen
    gc.callbacks.remove(cb)


def test_inside_no_automatic_collection_and_everything_restored_after(collections) -> None:
    assert gc.isenabled()
    with IdleCollector() as c:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        assert c.counts.frozen > 1000  # the modules, at least
        start = len(collections)
        _cycles(5 * gc.get_threshold()[0])  # would have triggered several collections
        assert len(collections) == start
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_idle_turns_collect_at_cpythons_cadence(collections) -> None:
    t0, t1, _ = gc.get_threshold()
    with IdleCollector() as c:
        assert not c.idle()  # nothing pending yet
        gens = []
        for _ in range(t1 + 1):
            _cycles(t0)  # 2 x t0 objects pending
            start = len(collections)
            assert c.idle()
            gens += collections[start:]
        # Ten of the youngest, then the next generation (CPython's own cadence).
        assert gens[:t1] == [0] * t1 and gens[t1] == 1
        assert c.counts.idle == t1 + 1 and c.counts.ns > 0
        assert gc.get_count()[0] < t0


def test_a_burst_defers_collection_up_to_its_bound(collections) -> None:
    t0 = gc.get_threshold()[0]
    with IdleCollector() as c:
        start = len(collections)
        _cycles(t0 * OVERDUE_FACTOR // 2 - t0)  # pending below the bound
        c.between_events()
        assert len(collections) == start and c.counts.overdue == 0
        _cycles(t0)  # past it
        c.between_events()
        assert len(collections) == start + 1 and c.counts.overdue == 1
        assert gc.get_count()[0] < t0
