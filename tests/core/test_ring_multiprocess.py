"""Multi-process ring test (marked slow): one writer process and two reader processes, one of
them deliberately slow. Each reader must account for every message (received + lost ==
published), every message it receives must be intact (all fields derive from its seq), and a
writer restart must be seen by a reader that stays attached."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import shijim_core as sc

pytestmark = pytest.mark.slow

N_MESSAGES = 60_000
SLOTS = 1024
CTX = mp.get_context("spawn")  # fresh interpreters: nothing shared but the ring file


def expected_price(seq: np.ndarray) -> np.ndarray:
    return (seq % 100_000) * 0.25 + 1.0


def code_for(seq: int) -> str:
    return f"C{seq % 997}"


def write(name: str, count: int, ready: Any, go: Any, slots: int = SLOTS) -> None:
    """Publish ticks and quotes whose every field derives from the ring seq."""
    w = sc.RingWriter(name, slots=slots, create=True)
    ready.set()
    go.wait(30)
    for _ in range(count):
        seq = w.next_seq
        if seq % 3 == 2:
            px = [float(expected_price(np.array(seq))) + i for i in range(5)]
            qty = [seq % 1000 + i for i in range(5)]
            w.publish_bidask(code_for(seq), seq * 3, seq * 5, px, qty, px, qty, seq % 2 == 0)
        else:
            w.publish_tick(
                code_for(seq), seq * 3, seq * 5, float(expected_price(np.array(seq))),
                seq % 1000, seq, seq % 3, seq % 2 == 0,
            )  # fmt: skip
    w.close()


@dataclass
class ReadReport:
    received: int
    lost: int
    lost_total: int
    bad_rows: int
    out_of_order: int
    restarts: int
    epochs: list[int]


def check_common(rows: np.ndarray) -> int:
    """Count rows whose fields do not all derive from their seq (a torn or mixed message)."""
    seq = rows["seq"].astype(np.int64)
    codes = np.array([code_for(int(s)).encode() for s in seq], dtype="S16")
    ok = (rows["exch_ts"] == seq * 3) & (rows["local_ts"] == seq * 5) & (rows["code"] == codes)
    return int((~ok).sum())


def read(
    name: str, total: int, slow: bool, ready: Any, done: Any, out: Any, progress: Any = None
) -> None:
    r = sc.RingReader(name)
    ready.set()
    received = lost = bad = disorder = 0
    last = -1
    epochs: set[int] = set()
    deadline = time.monotonic() + 60
    while received + lost < total and time.monotonic() < deadline:
        b = r.read(16 if slow else 4096)
        lost += b.lost
        t, q = b.ticks, b.bidasks
        if len(t):
            seq = t["seq"].astype(np.int64)
            bad += check_common(t)
            bad += int((t["price"] != expected_price(seq)).sum())
            bad += int((t["volume"] != seq % 1000).sum() + (t["total_volume"] != seq).sum())
            bad += int((t["tick_type"] != seq % 3).sum() + (t["simtrade"] != (seq % 2 == 0)).sum())
        if len(q):
            seq = q["seq"].astype(np.int64)
            bad += check_common(q)
            px = expected_price(seq)[:, None] + np.arange(5)
            qty = (seq % 1000)[:, None] + np.arange(5)
            bad += int(
                (q["bid_px"] != px).any(axis=1).sum() + (q["ask_qty"] != qty).any(axis=1).sum()
            )
            bad += int((seq % 3 != 2).sum())
        seqs = np.sort(np.concatenate([t["seq"], q["seq"]]).astype(np.int64))
        if len(seqs):
            disorder += int(seqs[0] <= last) + int((np.diff(seqs) <= 0).sum())
            last = int(seqs[-1])
            epochs.add(b.epoch)
        received += len(seqs)
        if progress is not None:
            progress.value = received
        if slow:
            time.sleep(0.005)  # a dashboard-like consumer: ~3k msg/s, far slower than the writer
        elif not len(seqs) and done.is_set() and r.lag == 0:
            break
    out.put(ReadReport(received, lost, r.lost_total, bad, disorder, r.restarts, sorted(epochs)))


def run_round(name: str, count: int) -> list[ReadReport]:
    """Writer process + fast reader + slow reader; returns the two readers' reports."""
    w_ready, go, done = CTX.Event(), CTX.Event(), CTX.Event()
    writer = CTX.Process(target=write, args=(name, count, w_ready, go), daemon=True)
    writer.start()
    assert w_ready.wait(60), "writer did not start"
    out = CTX.Queue()
    readers = []
    for slow in (False, True):
        ready = CTX.Event()
        p = CTX.Process(target=read, args=(name, count, slow, ready, done, out), daemon=True)
        p.start()
        assert ready.wait(60), "reader did not attach"
        readers.append(p)
    go.set()
    writer.join(60)
    assert writer.exitcode == 0
    done.set()
    reports = [out.get(timeout=90) for _ in readers]
    for p in readers:
        p.join(30)
        assert p.exitcode == 0
    return reports


@pytest.fixture
def ring_name() -> Any:
    name = f"test-ring-mp-{os.getpid()}"
    sc.ring_unlink(name)
    yield name
    sc.ring_unlink(name)


def test_one_writer_two_readers_one_slow_exact_loss_and_no_torn_message(ring_name: str) -> None:
    reports = run_round(ring_name, N_MESSAGES)
    slow = [r for r in reports if r.lost > 0]
    assert slow, f"the slow reader was never lapped: {reports}"
    for rep in reports:
        assert rep.received + rep.lost == N_MESSAGES, rep
        assert rep.lost == rep.lost_total, rep
        assert rep.bad_rows == 0, rep
        assert rep.out_of_order == 0, rep
        assert rep.epochs == [1], rep


def test_reader_in_another_process_sees_a_writer_restart(ring_name: str) -> None:
    per_writer = 2000
    w = sc.RingWriter(ring_name, slots=SLOTS * 8)
    w.close()  # the ring exists; the reader attaches before any writer process runs
    ready, done, out = CTX.Event(), CTX.Event(), CTX.Queue()
    progress = CTX.Value("q", 0)
    reader = CTX.Process(
        target=read,
        args=(ring_name, 2 * per_writer, False, ready, done, out, progress),
        daemon=True,
    )
    reader.start()
    assert ready.wait(60)
    go = CTX.Event()
    go.set()
    for round_ in (1, 2):
        started = CTX.Event()  # kept referenced until the child has unpickled it
        p = CTX.Process(
            target=write, args=(ring_name, per_writer, started, go, SLOTS * 8), daemon=True
        )
        p.start()
        p.join(60)
        assert p.exitcode == 0
        # Let the reader catch up before the next takeover, so that it sees both epochs even
        # if the ring were small enough for the next writer to overwrite this one's messages.
        deadline = time.monotonic() + 30
        while progress.value < round_ * per_writer and time.monotonic() < deadline:
            time.sleep(0.01)
    done.set()
    rep = out.get(timeout=90)
    reader.join(30)
    assert rep.received + rep.lost == 2 * per_writer, rep
    assert rep.lost == 0 and rep.bad_rows == 0 and rep.out_of_order == 0, rep
    # Created by this test (epoch 1), then two writer processes: epochs 2 and 3.
    assert rep.restarts == 2 and rep.epochs == [2, 3], rep


def write_then_idle(name: str, ready: Any, close: Any) -> None:
    """A writer of a quiet market: one message, then nothing until told to close."""
    w = sc.RingWriter(name, slots=64, create=True)
    w.publish_tick("TXFL4", 1, 1, 1.0, 1, 1)
    ready.set()
    close.wait(60)
    w.close()


# docs/ring.md, "Writer liveness": a killed writer shows "gone" as soon as the kernel has closed
# its files; the bound this test holds it to.
WRITER_GONE_WITHIN_S = 1.0


def test_reader_tells_a_killed_writer_from_a_quiet_one_within_the_bound(ring_name: str) -> None:
    ready, close = CTX.Event(), CTX.Event()
    quiet = CTX.Process(target=write_then_idle, args=(ring_name, ready, close), daemon=True)
    quiet.start()
    assert ready.wait(60), "writer did not start"
    r = sc.RingReader(ring_name, start="oldest")
    assert len(r.read()) == 1
    # A quiet market: nothing more arrives for a while, and the writer is reported alive.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert len(r.read()) == 0 and r.writer_state() == "alive"
        time.sleep(0.01)
    close.set()
    quiet.join(30)
    assert r.writer_state() == "closed"

    ready, never = CTX.Event(), CTX.Event()  # kept referenced until the child has unpickled them
    doomed = CTX.Process(target=write_then_idle, args=(ring_name, ready, never), daemon=True)
    doomed.start()
    assert ready.wait(60), "writer did not start"
    assert r.writer_state() == "alive"
    assert doomed.pid is not None
    os.kill(doomed.pid, signal.SIGKILL)
    killed = time.monotonic()
    while r.writer_state() != "gone":
        assert time.monotonic() - killed < WRITER_GONE_WITHIN_S, "killed writer still alive"
        time.sleep(0.001)
    doomed.join(10)
    # The reader itself is unharmed: it reads the dead writer's message and then nothing.
    b = r.read()
    assert (len(b), b.restarted, b.bad) == (1, True, 0)
    assert len(r.read()) == 0 and r.writer_state() == "gone"
