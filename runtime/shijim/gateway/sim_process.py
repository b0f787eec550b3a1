"""The simulated market generated ahead, in its own process (``MarketProcess``).

Generating one simulated second (``SimulatedMarket.next_chunk``: numpy over every instrument)
takes 3-4 ms. On the trading thread, at realtime pace, the events falling due meanwhile waited
unpublished and then went out together, once every simulated second: the later ones queued
behind the earlier ones' decisions. A real exchange does not run on the trading thread. Here a
child process (``python -m shijim.gateway.sim_process``) runs the same ``SimulatedMarket`` (so
a seed gives the same events, chunk for chunk) and writes each chunk into one of ``SLOTS``
slots of an anonymous shared-memory file (``memfd``, mapped by both; no name, nothing left
behind) while the trading thread publishes the previous ones; taking a finished chunk costs
the trading thread a short message and numpy views of its slot (no copy, no pickle), in a turn
with nothing due (``prefetch``).

Protocol (one pipe each way): the child announces ``("chunk", slot, clock_ns, n_ticks, n_books,
n_events, sessions)``; the parent sends ``("free", slot)`` when it has published a chunk, and
the child writes no slot the parent has not freed. A chunk too large for a slot goes through the
pipe pickled (correct, slower; counted in ``pickled``). An error in the child is sent back and
raised by ``next_chunk`` with its traceback.

Only a pinned run uses it (``--cpu``, docs/runtime.md): the child is started after
``keep_side_threads_off`` and inherits its mask (every CPU but the trading one); an unpinned
run, which sleeps between turns and does not chase microseconds, generates on its own thread.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from shijim.bus.dtypes import BIDASK_DTYPE, TICK_DTYPE
from shijim.gateway.sim_market import SimChunk, SimulatedMarket

SLOTS = 3  # one being published, two generated ahead
SLOT_BYTES = 8 << 20  # ~16x the 4-code demo's largest second (~490 kB)
START_TIMEOUT_S = 60.0  # a fresh interpreter imports numpy and the simulator first
CHUNK_TIMEOUT_S = 30.0
_ALIGN = 64
# What the child's interpreter needs to start and import this package, and nothing else: the
# runtime's environment holds broker keys and DSNs, which a market generator has no use for.
CHILD_ENV = (
    "PATH", "PYTHONPATH", "PYTHONHOME", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
)  # fmt: skip


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ``CHILD_ENV``'s variables of ``env``, no secret among them."""
    return {k: env[k] for k in CHILD_ENV if k in env}


def _layout(n_ticks: int, n_books: int, n_events: int) -> list[tuple[str, np.dtype, int, int]]:
    """(field, dtype, count, offset) of each array in a slot, 64-byte aligned; both sides
    compute it from the three lengths."""
    fields = [
        ("ticks", np.dtype(TICK_DTYPE), n_ticks),
        ("bidasks", np.dtype(BIDASK_DTYPE), n_books),
        ("kinds", np.dtype(np.uint8), n_events),
        ("index", np.dtype(np.int64), n_events),
        ("times", np.dtype(np.int64), n_events),
    ]
    out, off = [], 0
    for name, dt, n in fields:
        out.append((name, dt, n, off))
        off += -(-(dt.itemsize * n) // _ALIGN) * _ALIGN
    return out


def _slot_bytes(layout: list[tuple[str, np.dtype, int, int]]) -> int:
    _name, dt, n, off = layout[-1]
    return off + dt.itemsize * n


def _serve(conn: Any, mem_fd: int) -> None:
    """The child: take the market, then generate chunks into free slots until told to stop
    or the parent is gone."""
    try:
        market, slot_bytes = conn.recv()
        mem = mmap.mmap(mem_fd, SLOTS * slot_bytes)
        conn.send(("ready",))
        free = deque(range(SLOTS))
        while True:
            while not free or conn.poll():
                msg = conn.recv()  # EOFError when the parent is gone: the process ends
                if msg[0] == "stop":
                    return
                free.append(msg[1])
            chunk = market.next_chunk()
            layout = _layout(chunk.ticks.size, chunk.bidasks.size, chunk.size)
            if _slot_bytes(layout) > slot_bytes:
                conn.send(("pickled", chunk, market.clock_ns))
                continue
            slot = free.popleft()
            base = slot * slot_bytes
            for name, dt, n, off in layout:
                data = np.ascontiguousarray(getattr(chunk, name), dtype=dt)
                mem[base + off : base + off + dt.itemsize * n] = data.tobytes()
            sessions = chunk.sessions
            conn.send(("chunk", slot, market.clock_ns, chunk.ticks.size, chunk.bidasks.size,
                       chunk.size, sessions))  # fmt: skip
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    except Exception:  # sent back: next_chunk raises it in the trading process
        try:
            conn.send(("error", traceback.format_exc()))
        except (OSError, EOFError):
            pass


class MarketProcess:
    """``MarketProcess(market)``: ``market``'s chunks, generated ahead in a child process. The
    same interface as ``SimulatedMarket`` for the feed (``clock_ns``, ``chunk_ns``,
    ``next_chunk``, ``start``, ``prefetch``, ``close``), where ``start`` starts the child,
    ``prefetch`` takes finished chunks (never waits) and ``close`` stops it."""

    def __init__(self, market: SimulatedMarket, slot_bytes: int = SLOT_BYTES) -> None:
        self.slot_bytes = slot_bytes
        self.chunk_ns = market.chunk_ns
        self.clock_ns = market.clock_ns  # after the chunks taken so far, as the market's
        self.pickled = 0  # chunks too large for a slot
        self._market: SimulatedMarket | None = market
        self._ready: deque[tuple[SimChunk, int, int]] = deque()  # (chunk, slot, clock after)
        self._in_use = -1  # the slot of the chunk being published
        self._done: list[int] = []  # published slots not yet handed back to the child
        self._proc: Any = None
        self._conn: Any = None
        self._mem: mmap.mmap | None = None
        self._view: memoryview | None = None

    def start(self) -> None:
        """Start the child on an anonymous shared memory file (``memfd``: no name, nothing
        left behind however the run ends) and wait until it has mapped the slots."""
        if self._market is None:
            return
        fd = os.memfd_create("shijim-sim")
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        try:
            os.ftruncate(fd, SLOTS * self.slot_bytes)
            self._mem = mmap.mmap(fd, SLOTS * self.slot_bytes)
            self._view = memoryview(self._mem).toreadonly()
            # A fresh interpreter (not fork: this process already runs threads; not
            # multiprocessing's spawn, which re-runs the caller's main script).
            cmd = [sys.executable, "-m", "shijim.gateway.sim_process", str(down_r), str(up_w)]
            self._proc = subprocess.Popen(
                [*cmd, str(fd)],
                pass_fds=(down_r, up_w, fd),
                stdin=subprocess.DEVNULL,
                env=child_env(os.environ),
            )
        finally:
            for end in (down_r, up_w, fd):
                os.close(end)
        self._conn = _Duplex(Connection(up_r, writable=False), Connection(down_w, readable=False))
        self._conn.send((self._market, self.slot_bytes))
        self._market = None
        msg = self._receive(START_TIMEOUT_S)
        if msg[0] != "ready":
            self._raise(msg)

    def prefetch(self) -> None:
        """A quiet turn's work, never waiting: hand the published chunk's slot back to the
        child, and take every chunk it has finished."""
        conn = self._conn
        if conn is None:
            return
        self._free_done()
        while conn.poll():
            self._take(conn.recv())

    def next_chunk(self) -> SimChunk:
        """The next chunk (waits for the child only if it has not finished one yet). The feed
        takes a chunk once it has published the previous one, whose arrays it no longer holds:
        that slot is handed back at the next quiet turn (``prefetch``; a message to the child
        wakes it, which costs the sender tens of µs here), or now if this call must wait."""
        if self._market is not None:  # not started: generate here
            chunk = self._market.next_chunk()
            self.clock_ns = self._market.clock_ns
            return chunk
        if self._in_use >= 0:
            self._done.append(self._in_use)
            self._in_use = -1
        while not self._ready:
            self._free_done()
            self._take(self._receive(CHUNK_TIMEOUT_S))
        chunk, slot, clock = self._ready.popleft()
        self._in_use = slot
        self.clock_ns = clock
        return chunk

    def close(self) -> None:
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            try:
                conn.send(("stop",))
            except OSError:
                pass
            conn.close()
        if proc is not None:
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2.0)
        self._ready.clear()

    # -- internals ----------------------------------------------------------------------------
    def _free_done(self) -> None:
        while self._done:
            self._conn.send(("free", self._done.pop()))

    def _receive(self, timeout: float) -> tuple[Any, ...]:
        if not self._conn.poll(timeout):
            raise RuntimeError(f"simulated market process: no answer within {timeout:.0f} s")
        try:
            return self._conn.recv()
        except EOFError:
            code = self._proc.poll() if self._proc is not None else None
            raise RuntimeError(f"simulated market process ended (exit code {code})") from None

    def _take(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "chunk":
            _, slot, clock, n_ticks, n_books, n_events, sessions = msg
            assert self._view is not None
            base = slot * self.slot_bytes
            arrays = {
                name: np.frombuffer(self._view, dtype=dt, count=n, offset=base + off)
                for name, dt, n, off in _layout(n_ticks, n_books, n_events)
            }
            chunk = SimChunk(sessions=sessions, **arrays)
            self._ready.append((chunk, slot, clock))
        elif kind == "pickled":
            self.pickled += 1
            self._ready.append((msg[1], -1, msg[2]))
        else:
            self._raise(msg)

    @staticmethod
    def _raise(msg: tuple[Any, ...]) -> None:
        detail = msg[1] if msg[0] == "error" and len(msg) > 1 else repr(msg)
        raise RuntimeError(f"simulated market process failed:\n{detail}")


class _Duplex:
    """One Connection to read from, one to write to (a pipe each way)."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self._r, self._w = reader, writer

    def poll(self, timeout: float = 0.0) -> bool:
        return self._r.poll(timeout)

    def recv(self) -> Any:
        return self._r.recv()

    def send(self, obj: Any) -> None:
        self._w.send(obj)

    def close(self) -> None:
        self._r.close()
        self._w.close()


def main(argv: list[str]) -> int:
    """``python -m shijim.gateway.sim_process READ_FD WRITE_FD MEM_FD`` (started by
    ``MarketProcess.start``, not by hand)."""
    read_fd, write_fd, mem_fd = (int(a) for a in argv[:3])
    conn = _Duplex(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
    _serve(conn, mem_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
