"""Dashboard benchmarks (JSON lines, docs/contracts.md; issue 11), each beside a same-run baseline.

dashboard.refresh        panel refreshes per second of `shijim.dashboard.app` (headless, 160x60)
                         attached to a shard with 50 codes and 200 working orders whose trading
                         thread publishes real `StrategyRunner.snapshot()`s at 10 Hz (books move
                         ~2000 times a second, 10 orders amended per 100 ms) through the real
                         admin listener. Target >= 10 Hz. Baseline: the same app attached to a
                         shard publishing empty snapshots (no codes, no orders) at 10 Hz.
dashboard.cpu            that dashboard process's CPU, in % of one core (user + system over the
                         measured wall time). Target < 20 %. Baseline: the same app, no data.
dashboard.tick_to_order  `python -m shijim run --feed sim --seed 7 --cpu K --admin-port P`
                         (bench/runtime.py's demo run) with a dashboard process attached, p50
                         from the summary, over interleaved pairs of runs. Target: the median of
                         the pairs' ratios within 5 %. Baseline: the same command with no
                         dashboard (the admin listener open, nobody reading: no snapshot built).
dashboard.tick_to_order.floor  bench/runtime.py's tick-to-order floor (a book in, one order out,
                         in this process, pinned, busy-polling) paced at 2000 events/s, one run
                         beside one dashboard process: in half of 64 one-second windows it reads
                         this runner's snapshots through a real admin listener (via a relay in a
                         quiet decoy runtime's process), in the others it is stopped (SIGSTOP:
                         no dashboard running, nobody reading), alternated ABBA; per window the
                         p50 after its first 0.4 s, per pair of windows their ratio. Thousands
                         of samples per window, and a pair's two windows share the VM's phase,
                         which runs minutes apart do not (until stop 25 this figure compared
                         whole 4 s runs). Target: the median of the pairs' ratios within 5 %.
dashboard.tick_to_order.floor.attach  the same, in a run of its own whose other windows have
                         the dashboard running and reading the decoy: what attaching costs the
                         trading process (the channel, the snapshots, the listener's stream),
                         without what a Textual process on the other CPU costs it whatever it
                         watches. Same target.
dashboard.snapshot_build StrategyRunner.snapshot() with 50 codes and 200 working orders, on the
                         trading thread (paid 10 times a second while someone watches).
                         Informative. Baseline: one decided event of the same runner (a book in,
                         one order out: runner.step()).
dashboard.snapshot_encode the admin listener's encoding of that snapshot (once per snapshot,
                         whatever the number of viewers; on the listener's thread, holding the
                         GIL). Informative. Baseline: the same snapshot built (above).

The dashboard runs in a child process (`bench/dashboard.py --child URL SECONDS`) pinned to the
first CPU, the shard (this process, or the runtime with `--cpu`) to the last one.

    .venv/bin/python bench/dashboard.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
# The runtimes bench/runtime.py starts inherit its environment: they need the admin token.
os.environ.setdefault("SHIJIM_ADMIN_TOKEN", f"bench-{os.getpid()}")

from figure import emit, median_seconds
from shijim.dashboard.channel import SNAPSHOT_INTERVAL_S, SnapshotChannel
from shijim.dashboard.wire import encode_snapshot
from shijim.domain import OrderIntent, Side, TradingState
from shijim.governance.admin import AdminServer
from shijim.risk.state import TradingStateMachine
from shijim.strategy.runner import StrategyRunner
from shijim.strategy.snapshot import SystemSnapshot

import runtime as runtime_bench  # bench/runtime.py: its pipeline, ring and demo run
from runtime import Attached, Idle, free_port

REPO = Path(__file__).resolve().parents[1]
TOKEN = os.environ["SHIJIM_ADMIN_TOKEN"]
CODES = [str(1101 + i) for i in range(50)]  # 50 stock codes (board lots)
ORDERS_PER_CODE = 4  # 200 working orders
# Orders rest 1-4 ticks off a touch that wanders between two prices (never filled, never
# refused by the price-deviation limits); an amend moves one to the other of its side's prices.
ORDER_PRICES = ((Side.BUY, 109.5), (Side.BUY, 109.0), (Side.SELL, 111.5), (Side.SELL, 112.0))
AMEND_TO = {109.5: 109.0, 109.0: 109.5, 111.5: 112.0, 112.0: 111.5}
BIDS = (110.0, 110.5)
SIZE = (160, 60)


# -- the shard: a real runner over 50 codes with 200 resting orders ----------------------------
class Shard:
    def __init__(self, tag: str) -> None:
        self.name, self.writer, reader = runtime_bench._ring(tag)
        self.p = runtime_bench.pipeline(
            reader, CODES, runtime_bench.PlaceEveryEvent(), "on_touch_change", "zero", False, 4096
        )
        self.gateway = self.p.gateway
        # The runtime's runner settings (compose): snapshots at most every 100 ms. The orders
        # below rest; decisions place nothing more.
        self.runner = StrategyRunner(self.p.engine, reader, Idle(), self.gateway,
                                     self.p.runner.metrics, max_messages=4096,
                                     snapshot_interval_s=SNAPSHOT_INTERVAL_S)  # fmt: skip
        self.i = 0
        for n, code in enumerate(CODES):
            self.book(n, code, BIDS[0])
        self.runner.step()
        for code in CODES:
            for side, price in ORDER_PRICES:
                got = self.gateway.place(OrderIntent(code, side, 1, price))
                assert got, got
        self.runner.step()
        assert len(self.gateway.working_orders()) == len(CODES) * ORDERS_PER_CODE

    def book(self, n: int, code: str, bid: float) -> None:
        self.i += 1
        bids = [bid - 0.5 * k for k in range(5)]
        asks = [bid + 0.5 + 0.5 * k for k in range(5)]
        qty = [1 + (self.i + n) % 7, 3, 4, 5, 6]
        self.writer.publish_bidask(code, self.i, time.time_ns(), bids, qty, asks, qty, False)

    def close(self) -> None:
        runtime_bench._close(self.name, self.writer)


def serve(shard: Shard | None, port: int, child: subprocess.Popen) -> None:
    """This thread is the shard's trading thread until the child exits: ~2000 book updates a
    second (the bid wanders between BIDS), 10 amends per 100 ms, runner.step() each
    millisecond. With no shard, an empty snapshot every 100 ms (the baseline's data)."""
    if shard is None:
        holder = _EmptyRunner()
        channel = SnapshotChannel(holder, {"id": 0, "total": 1, "feed": "none"})
    else:
        channel = SnapshotChannel(shard.runner, {"id": 0, "total": 1, "feed": "bench"})
    state = shard.gateway.state_machine if shard else TradingStateMachine()
    server = AdminServer(state, TOKEN, port=port, snapshot=channel)
    server.start()
    try:
        k = 0
        orders = list(shard.gateway.working_orders()) if shard else []
        while child.poll() is None:
            k += 1
            if shard is None:
                if holder.on_snapshot is not None and k % 100 == 0:
                    empty = SystemSnapshot(time.time_ns(), TradingState.ACTIVE, {}, {}, 0.0, (), {})
                    holder.on_snapshot(empty)
                time.sleep(0.001)
                continue
            for _ in range(2):
                n = (k * 7 + _) % len(CODES)
                shard.book(n, CODES[n], BIDS[(k // 50 + n) % 2])
            if k % 100 == 0:
                for j in range(10):
                    oid = orders[(k // 100 * 10 + j) % len(orders)]
                    o = shard.gateway.working_orders().get(oid)
                    if o is not None:  # to the other of its side's two prices
                        shard.gateway.amend(oid, price=AMEND_TO[o.price])
            shard.runner.step()
            time.sleep(0.001)
    finally:
        server.stop()


class _EmptyRunner:
    on_snapshot = None


def run_child(port: int, seconds: float, warmup: float) -> subprocess.Popen:
    """The dashboard in a child process pinned to the first CPU (it prints its measurements)."""
    cmd = [sys.executable, str(Path(__file__)), "--child", f"http://127.0.0.1:{port}", str(seconds)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "runtime"), "BENCH_WARMUP": str(warmup)}
    cpu0 = min(os.sched_getaffinity(0))
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu0}),
    )  # fmt: skip


def measure(with_data: bool, seconds: float, warmup: float) -> dict:
    """One child dashboard attached to a shard (with_data: 50 codes, 200 orders)."""
    port = free_port()
    child = run_child(port, seconds, warmup)
    shard = Shard("dash" + ("d" if with_data else "e")) if with_data else None
    cpu_last = max(os.sched_getaffinity(0))
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu_last})
    try:
        serve(shard, port, child)
    finally:
        os.sched_setaffinity(0, saved)
        if shard is not None:
            shard.close()
    out, err = child.communicate(timeout=30)
    if child.returncode != 0:
        raise SystemExit(f"dashboard child failed: {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


# -- the child: the dashboard app itself ---------------------------------------------------------
def child_main(url: str, seconds: float) -> None:
    from shijim.dashboard.app import DashboardApp
    from shijim.dashboard.links import AdminLink, parse_admin_url
    from shijim.dashboard.panels import RowsView

    warmup = float(os.environ.get("BENCH_WARMUP", "2"))
    app = DashboardApp([AdminLink(parse_admin_url(url, "url"), TOKEN)])
    result: dict = {}

    async def pilot(p) -> None:
        import asyncio

        await asyncio.sleep(warmup)  # connected, first rows laid out
        t0, c0 = time.monotonic(), _cpu()
        ticks0, snaps0 = app.ticks, app.snapshots_received
        renders0 = sum(v.renders for v in app.query(RowsView))
        await asyncio.sleep(seconds)
        wall, cpu = time.monotonic() - t0, _cpu() - c0
        r = app.readings[0]
        snap = r.snapshot
        result.update(
            wall_s=wall,
            cpu_s=cpu,
            refresh_hz=(app.ticks - ticks0) / wall,
            snapshots_hz=(app.snapshots_received - snaps0) / wall,
            rows_rendered_per_s=(sum(v.renders for v in app.query(RowsView)) - renders0) / wall,
            codes=0 if snap is None else len(snap.books),
            working_orders=0 if snap is None else len(snap.working_orders),
            link=r.error or "up",
        )
        app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=pilot)
    print(json.dumps(result), flush=True)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# -- figures -------------------------------------------------------------------------------------
def bench_dashboard(seconds: float, warmup: float) -> None:
    empty = measure(False, seconds, warmup)
    full = measure(True, seconds, warmup)
    assert full["codes"] == 50 and full["working_orders"] == 200, full
    emit(
        "dashboard.refresh",
        "Hz",
        full["refresh_hz"],
        1,
        ("the same app, no data (empty snapshots at 10 Hz)", empty["refresh_hz"]),
        ">= 10 Hz with 50 codes and 200 working orders",
        full["refresh_hz"] >= 10 * 0.98,  # a 10 Hz timer over a finite window
        higher_is_better=True,
        snapshots_hz=round(full["snapshots_hz"], 2),
        rows_rendered_per_s=round(full["rows_rendered_per_s"]),
        codes=full["codes"],
        working_orders=full["working_orders"],
        seconds=round(full["wall_s"], 1),
        size=f"{SIZE[0]}x{SIZE[1]}",
        load=runtime_bench._load(),
    )
    cpu_full = 100 * full["cpu_s"] / full["wall_s"]
    cpu_empty = 100 * empty["cpu_s"] / empty["wall_s"]
    emit(
        "dashboard.cpu",
        "% of one core",
        cpu_full,
        1,
        ("the same app, no data", cpu_empty),
        "< 20 % of one core",
        cpu_full < 20,
        snapshots_hz=round(full["snapshots_hz"], 2),
        seconds=round(full["wall_s"], 1),
        load=runtime_bench._load(),
    )


def bench_snapshot_cost(samples: int) -> float:
    shard = Shard("snap")
    try:
        runner = shard.runner
        snap = runner.snapshot()
        assert len(snap.books) == 50 and len(snap.working_orders) == 200
        build = median_seconds(runner.snapshot, samples)
        encode = median_seconds(lambda: encode_snapshot(snap), samples)
        size = len(encode_snapshot(snap))
        # Baseline: one decided event (a book in, one order placed and sent) on this runner.
        runner.strategy = runtime_bench.PlaceEveryEvent()
        n = [0]

        def decided_event() -> None:
            n[0] += 1
            shard.book(n[0] % 50, CODES[n[0] % 50], BIDS[n[0] % 2])
            runner.step()

        step = median_seconds(decided_event, min(samples, 150))
    finally:
        shard.close()
    emit(
        "dashboard.snapshot_build",
        "us",
        build * 1e6,
        samples,
        ("one decided event on the same runner (book in, order out)", step * 1e6),
        None,
        None,
        codes=50,
        working_orders=200,
        per_second_while_watched=10,
    )
    emit(
        "dashboard.snapshot_encode",
        "us",
        encode * 1e6,
        samples,
        ("dashboard.snapshot_build (above)", build * 1e6),
        None,
        None,
        json_bytes=size,
    )
    return build


def bench_tick_to_order(seconds: float, pairs: int) -> None:
    """Interleaved runs of the demo with and without a dashboard attached."""
    cpu = runtime_bench._bench_cpu()
    without, with_, details = [], [], []
    for i in range(pairs):
        for attached in runtime_bench.pair_order(i):
            port = free_port()
            pin = ["--cpu", str(cpu)] if cpu is not None else []
            args = ["--feed", "sim", "--duration", str(seconds), "--seed", "7",
                    "--admin-port", str(port), *pin]  # fmt: skip
            # The dashboard starts first and attaches by itself once the runtime listens.
            child = run_child(port, seconds + 2, 0.0) if attached else None
            try:
                s, _ = runtime_bench.shijim_run(args)
            finally:
                out, err = child.communicate(timeout=60) if child is not None else ("", "")
            if child is not None and child.returncode != 0:
                raise SystemExit(f"dashboard child failed: {err[-2000:]}")
            seen = json.loads(out.strip().splitlines()[-1]) if attached else {}
            p50 = s["tick_to_order_us"]["p50"]
            (with_ if attached else without).append(p50)
            snapshots = round(seen.get("snapshots_hz", 0) * seen.get("wall_s", 0))
            details.append({"dashboard": attached, "p50": p50, "p99": s["tick_to_order_us"]["p99"],
                            "orders": s["orders"], "snapshots": snapshots})  # fmt: skip
    med_with, med_without = statistics.median(with_), statistics.median(without)
    # Each pair ran back to back: the ratio within a pair is what the load of a shared machine
    # disturbs least.
    pair_ratio = statistics.median(w / wo for w, wo in zip(with_, without, strict=True))
    emit(
        "dashboard.tick_to_order",
        "us",
        med_with,
        len(with_),
        ("the same runtime, no dashboard attached", med_without),
        "within 5 % of the baseline (median of the pairs' ratios)",
        pair_ratio <= 1.05,
        median_pair_ratio=round(pair_ratio, 3),
        p50_with=[round(x, 1) for x in with_],
        p50_without=[round(x, 1) for x in without],
        p99_with=[round(d["p99"], 1) for d in details if d["dashboard"]],
        p99_without=[round(d["p99"], 1) for d in details if not d["dashboard"]],
        orders=[d["orders"] for d in details],
        dashboard_snapshots=[d["snapshots"] for d in details if d["dashboard"]],
        seconds=seconds,
        cpu=cpu,
        load=runtime_bench._load(),
    )


def decoy_main(port: int, seconds: float, relay: tuple[int, int, int, int, int, int]) -> None:
    """``--decoy PORT SECONDS RELAY_PORT THIS_PORT T0_NS WINDOW_NS WINDOWS PID``: another runtime
    for a dashboard to watch, so that the floor can run beside a dashboard that does not read
    it: the floor's one-code pipeline with one book and its order, its snapshots at 10 Hz served
    on PORT (a quiet shard: the dashboard's own work is what this adds, not the decoy's
    trading). And the relay: RELAY_PORT forwards the dashboard to THIS_PORT or to PORT by window
    (``relay_main``), from this process, so that the trading process does the same work in
    both kinds of window except serving its own snapshots. PID (not 0): the dashboard process,
    stopped in the windows where it does not read this runner (``conduct``)."""
    relay_port, this_port, t0_ns, window_ns, windows, pid = relay
    # The bench ends this process with SIGTERM: exit through the `finally` below, so that its
    # ring is unlinked (the default action left a 1 MB ring in /dev/shm per run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(
        target=relay_main, args=(relay_port, this_port, port, t0_ns, window_ns), daemon=True
    ).start()
    if pid:
        threading.Thread(target=conduct, args=(pid, t0_ns, window_ns, windows), daemon=True).start()
    name, w, r = runtime_bench._ring(f"decoy{port}", 4096)
    p = runtime_bench.pipeline(r, ["TXFL6"], runtime_bench.PlaceEveryEvent(), "every_event",
                               "zero", False, 64, SNAPSHOT_INTERVAL_S)  # fmt: skip
    channel = SnapshotChannel(p.runner, {"id": 0, "total": 1, "feed": "decoy"})
    server = AdminServer(p.gateway.state_machine, TOKEN, port=port, snapshot=channel)
    server.start()
    try:
        bids, asks = runtime_bench.FLOOR_BOOKS[0]
        w.publish_bidask("TXFL6", 1, time.time_ns(), bids, runtime_bench.FLOOR_QTY, asks,
                         runtime_bench.FLOOR_QTY, False)  # fmt: skip
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            p.runner.step()  # builds the snapshot while the dashboard reads
            time.sleep(SNAPSHOT_INTERVAL_S)
    finally:
        server.stop()
        runtime_bench._close(name, w)


# -- the floor figures, in alternated windows of one run ---------------------------------------
WINDOW_S = 1.0  # one window: the dashboard reads this runner, or not (stopped, or the decoy)
WINDOW_SETTLE_S = 0.4  # a window's first samples are not counted: the switch settles
# The bench's channel stops building snapshots this soon after its last read (the runtime's is
# 5 s), so that the other windows are free of them after the settling time.
WINDOW_IDLE_S = 0.2
WINDOW_LEAD_S = 10.0  # from the relay's start to the first window: the dashboard is up


def reads_this_runner(k: int) -> bool:
    """Window ``k``'s target, ABBA: this runner in windows 0, 3, 4, 7, ..., the decoy in 1, 2,
    5, 6, ...; pair j is windows 2j and 2j+1, so a machine that drifts biases no pair."""
    return k % 4 in (0, 3)


def relay_main(listen: int, this_port: int, decoy_port: int, t0_ns: int, window_ns: int) -> None:
    """Forwards each connection to ``this_port`` (before ``t0_ns``, and in the windows where
    ``reads_this_runner``) or to ``decoy_port``, and cuts it at its window's end: the dashboard
    reconnects by itself (its back-off starts at 0.1 s) and lands on the next window's target."""
    srv = socket.create_server(("127.0.0.1", listen))
    while True:
        client, _ = srv.accept()
        now = time.monotonic_ns()
        k = (now - t0_ns) // window_ns if now >= t0_ns else -1
        port = this_port if k < 0 or reads_this_runner(k) else decoy_port
        end_ns = t0_ns + (k + 1) * window_ns
        threading.Thread(target=_pipe, args=(client, port, end_ns), daemon=True).start()


def _pipe(client: socket.socket, port: int, end_ns: int) -> None:
    try:
        up = socket.create_connection(("127.0.0.1", port), timeout=1.0)
    except OSError:
        client.close()
        return
    try:
        while (left := end_ns - time.monotonic_ns()) > 0:
            ready, _, _ = select.select((client, up), (), (), left / 1e9)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (up if sock is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        up.close()


def conduct(pid: int, t0_ns: int, window_ns: int, windows: int) -> None:
    """Stops the dashboard process ``pid`` (SIGSTOP: not scheduled at all) in the windows where
    it does not read this runner and continues it in the others; continued after the last."""
    with contextlib.suppress(ProcessLookupError):  # the dashboard ended: nothing to conduct
        try:
            for k in range(windows):
                time.sleep(max(0.0, (t0_ns + k * window_ns - time.monotonic_ns()) / 1e9))
                os.kill(pid, signal.SIGCONT if reads_this_runner(k) else signal.SIGSTOP)
            time.sleep(max(0.0, (t0_ns + windows * window_ns - time.monotonic_ns()) / 1e9))
        finally:
            os.kill(pid, signal.SIGCONT)


def bench_windows(bench: str, stop_dashboard: bool, pairs: int, rate: float = 2000.0) -> None:
    """One paced floor run beside one dashboard process that reads, through a relay in a decoy
    runtime's process, this runner in half of the windows (``reads_this_runner``) and, in the
    other half, the decoy (the attach figure) or nothing, the dashboard stopped
    (``stop_dashboard``: the floor figure, no dashboard running). Per window, the p50 of the
    samples after the first WINDOW_SETTLE_S; per pair of windows, their ratio; the figure is the
    median ratio. Windows a second apart see the same phase of the VM, runs minutes apart do
    not."""
    window_ns = int(WINDOW_S * 1e9)
    t0_ns = time.monotonic_ns() + int(WINDOW_LEAD_S * 1e9)
    windows = 2 * pairs
    # Long enough to reach the last window's end from wherever the dashboard got ready.
    span_s = WINDOW_LEAD_S + windows * WINDOW_S
    sent_at: list[int] = []

    def attach(ring: str, runner: StrategyRunner, gw: Any) -> Attached:
        channel = SnapshotChannel(runner, {"id": 0, "total": 1, "feed": "bench"},
                                  idle_s=WINDOW_IDLE_S)  # fmt: skip
        server = AdminServer(gw.state_machine, TOKEN, port=free_port(), snapshot=channel)
        server.start()
        decoy_port, relay_port = free_port(), free_port()
        # The dashboard first: it retries until the relay listens.
        child = run_child(relay_port, span_s + 30, 0.0)
        relay = (relay_port, server.address[1], t0_ns, window_ns, windows,
                 child.pid if stop_dashboard else 0)  # fmt: skip
        decoy = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "--decoy", str(decoy_port),
             str(span_s + 60), *map(str, relay)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "runtime")},
            preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
        )  # fmt: skip

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGCONT)  # a stopped process would not terminate
            for proc in (child, decoy):
                proc.terminate()
                proc.communicate(timeout=30)
            server.stop()

        return Attached(lambda: channel.encodings >= 3, stop)

    samples = runtime_bench.paced_floor("dfw", span_s, rate, attach, sent_at)
    if len(samples) != len(sent_at):
        raise SystemExit(f"{bench}: {len(samples)} samples for {len(sent_at)} events")
    by_window: list[list[float]] = [[] for _ in range(windows)]
    settle_ns = int(WINDOW_SETTLE_S * 1e9)
    for at, us in zip(sent_at, samples, strict=True):
        k, into = divmod(at - t0_ns, window_ns)
        if 0 <= k < windows and into >= settle_ns:
            by_window[k].append(us)
    short = [k for k, v in enumerate(by_window) if len(v) < 100]
    if short:
        raise SystemExit(f"{bench}: windows {short} have fewer than 100 samples")
    p50 = [statistics.median(v) for v in by_window]
    # Each pair (windows 2j, 2j+1) has one window of each kind, so the j-th of each list is
    # pair j's.
    this = [p50[k] for k in range(windows) if reads_this_runner(k)]
    other = [p50[k] for k in range(windows) if not reads_this_runner(k)]
    pair_ratio = statistics.median(t / o for t, o in zip(this, other, strict=True))
    baseline = (
        "the same run, its windows with the dashboard stopped"
        if stop_dashboard
        else "the same run, its windows where the dashboard watches another runtime"
    )
    emit(
        bench,
        "us",
        statistics.median(this),
        sum(len(by_window[k]) for k in range(windows) if reads_this_runner(k)),
        (baseline, statistics.median(other)),
        "within 5% of the baseline (median of the pairs' p50 ratios)",
        pair_ratio <= 1.05,
        median_pair_ratio=round(pair_ratio, 3),
        p50_with=[round(x, 2) for x in this],
        p50_without=[round(x, 2) for x in other],
        window_s=WINDOW_S,
        settle_s=WINDOW_SETTLE_S,
        pairs=pairs,
        events_per_s=rate,
        load=runtime_bench._load(),
    )  # fmt: skip


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], float(sys.argv[3]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "--decoy":
        relay_port, this_port, t0_ns, window_ns, windows, pid = (int(x) for x in sys.argv[4:10])
        relay = (relay_port, this_port, t0_ns, window_ns, windows, pid)
        decoy_main(int(sys.argv[2]), float(sys.argv[3]), relay)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = ap.parse_args()
    q = args.quick
    bench_snapshot_cost(100 if q else 1000)
    bench_dashboard(5 if q else 20, 2 if q else 3)
    pairs = 2 if q else 32
    bench_windows("dashboard.tick_to_order.floor", True, pairs)
    bench_windows("dashboard.tick_to_order.floor.attach", False, pairs)
    bench_tick_to_order(5 if q else 20, 1 if q else 4)


if __name__ == "__main__":
    main()
