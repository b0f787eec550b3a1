"""`python -m shijim run` end to end in a subprocess: the simulated market through the real ring,
strategy, risk gateway and paper exchange; /metrics scraped over HTTP while it runs; SIGTERM;
determinism per seed; bad configuration."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from shijim.app.cli import _parser, effective_config, main

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIOAJI_", "SHIJIM_"))}
    for k in ("SHARD_ID", "TOTAL_SHARDS", "POD_NAME", "POD_NAMESPACE"):
        env.pop(k, None)
    env["PYTHONPATH"] = str(ROOT / "runtime")
    return env


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "shijim", "run", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _scrape(port: int, deadline: float, want: str) -> str:
    """/metrics once the series ``want`` is above zero (the run is trading)."""
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                last = r.read().decode()
            if any(
                ln.startswith(want + " ") and float(ln.split()[-1]) > 0 for ln in last.split("\n")
            ):
                return last
        except OSError:
            pass
        time.sleep(0.1)
    return last


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics")


@pytest.mark.slow
def test_sim_run_trades_prints_the_summary_and_serves_metrics(tmp_path: Path) -> None:
    port = _free_port()
    out = tmp_path / "summary.json"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("metrics: {bind: 127.0.0.1}\n")  # tests serve on loopback only
    proc = _start(
        "--config", str(cfg), "--feed", "sim", "--duration", "3", "--seed", "1",
        "--metrics-port", str(port), "--summary-json", str(out),
    )  # fmt: skip
    text = _scrape(port, time.monotonic() + 10, 'shijim_orders_total{shard="0"}')
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    for name in (
        'shijim_md_events_total{shard="0",type="bidask"}',
        'shijim_md_last_event_timestamp_seconds{shard="0"}',
        'shijim_feed_connected{shard="0"}',
        'shijim_ring_lag_messages{reader="strategy",shard="0"}',
        'shijim_orders_total{shard="0"}',
        'shijim_fills_total{shard="0"}',
        'shijim_kill_switch_engaged{shard="0"}',
        'shijim_trading_state{shard="0"}',
        'shijim_pnl{shard="0"}',
        'shijim_tick_to_order_seconds_count{shard="0"}',
    ):
        assert name in text, f"{name} missing from /metrics"
    assert _value(text, 'shijim_md_events_total{shard="0",type="bidask"}') > 0
    assert _value(text, 'shijim_feed_connected{shard="0"}') == 1.0
    assert "_created" not in text
    assert "shijim run summary" in stdout and "tick-to-order p50" in stdout
    s = json.loads(out.read_text())
    assert s["events"] > 1000 and s["orders"] > 0 and s["fills"] > 0
    assert s["ring_lost"] == 0 and s["working_left"] == 0
    t2o = s["tick_to_order_us"]
    assert t2o["samples"] > 0
    # The steady state beside the whole run: the samples after the first second of orders.
    steady = t2o["after_first_second"]
    assert t2o["first_second_samples"] > 0 and steady["samples"] > 0
    assert t2o["first_second_samples"] + steady["samples"] == t2o["samples"]
    assert steady["max"] <= t2o["max"]
    assert ("after the first second of orders" in stdout) == (steady["samples"] > 0)
    # Split: the orders that waited behind a fill booked after their event arrived, the others.
    split = steady["after_a_fill"]["samples"], steady["others"]["samples"]
    assert sum(split) == steady["samples"]
    # Unpinned (no --cpu): no idle-turn rehearsals, none printed (docs/runtime.md#rehearsal).
    assert s["rehearsals"] == 0 and s["rehearsal_share"] == 0.0
    assert "rehearsals" not in stdout
    # The demo does not flatter: fees and taxes are charged on every fill, PnL is net of them,
    # and the markouts measure the mid move after the fills (issue 8).
    assert s["fees"] > 0 and s["decision"] == "on_touch_change" and s["decisions"] > 0
    assert s["pnl"] == pytest.approx(s["gross_pnl"] - s["fees"], abs=1e-6)
    assert [m["horizon_s"] for m in s["markouts"]] == [1.0, 5.0, 30.0]
    assert s["markouts"][0]["fills"] > 0
    assert s["venue"] == "paper, latency shioaji"
    assert "fees and taxes" in stdout and "markouts      mid move after fills" in stdout
    assert {"mid_move_twd", "vs_fill_twd"} <= set(s["markouts"][0])
    import shijim_core

    ring_file = Path(shijim_core.ring_path(f"shijim-local-s0-{proc.pid}"))
    assert not ring_file.exists(), f"ring file {ring_file} left behind"


@pytest.mark.slow
def test_sigterm_mid_run_cancels_working_orders_and_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = _start("--feed", "sim", "--duration", "60", "--seed", "4", "--summary-json", str(out))
    time.sleep(2.0)  # quoting by now: the market-making strategy keeps two quotes per code
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    s = json.loads(out.read_text())
    assert s["orders"] > 0
    assert s["working_at_stop"] > 0  # there were quotes to cancel...
    assert s["working_left"] == 0 and s["final_state"] == "HALTED"  # ...and all went
    assert "stopping: SIGTERM" in stderr
    assert s["wall_seconds"] < 30


@pytest.mark.slow
def test_same_seed_same_counts_at_any_pace(tmp_path: Path) -> None:
    """The simulator runs in fixed slices of simulated time: the same seed gives the same
    events, decisions, orders, fills and PnL, whether paced in real time or as fast as
    possible, and pinned (the market generated in its own process, the venue's news released
    while the market is quiet) or not."""
    variants = [("realtime",), ("fast",)]
    if len(os.sched_getaffinity(0)) >= 2:
        variants.append(("realtime", "--cpu", "last"))
    runs = []
    for i, (pace, *more) in enumerate(variants):
        out = tmp_path / f"s{i}.json"
        proc = _start(
            "--feed", "sim", "--duration", "2.5", "--seed", "9", "--pace", pace,
            "--summary-json", str(out), *more,
        )  # fmt: skip
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        runs.append(json.loads(out.read_text()))
    keys = ("events", "decisions", "standby_answers", "orders", "amends", "cancels", "fills",
            "filled_qty", "rejects", "pnl")  # fmt: skip
    for run in runs[1:]:
        assert {k: run[k] for k in keys} == {k: runs[0][k] for k in keys}
    assert runs[0]["events"] > 0 and runs[0]["orders"] > 0 and runs[0]["fills"] > 0
    assert runs[0]["wall_seconds"] >= 2.4  # realtime really waited for the market
    assert runs[0]["gc_idle"] == runs[0]["gc_overdue"] == 0  # unpinned: automatic collection
    assert runs[0]["warm_up_decisions"] == 0
    if len(runs) == 3:  # pinned: warmed up on a scratch copy, the run itself the same
        assert runs[2]["warm_up_decisions"] > 0 and runs[2]["warm_up_orders"] > 0


def test_bad_config_exits_2_naming_the_field(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("risk:\n  max_position_per_code:\n    TXFL5: ten\n")
    assert main(["run", "--config", str(f)], env={}) == 2
    err = capsys.readouterr().err
    assert 'risk.max_position_per_code.TXFL5: expected integer, got "ten"' in err
    assert main(["run", "--feed", "carrier-pigeon"], env={}) == 2
    assert main(["run"], env={"SHARD_ID": "x"}) == 2
    assert main(["run", "--shard-id", "3", "--total-shards", "2"], env={}) == 2
    f.write_text("strategy: {name: market_making, params: {quote_qty: one}}\n")
    assert main(["run", "--config", str(f)], env={}) == 2
    assert "strategy.params.quote_qty: expected integer" in capsys.readouterr().err


def test_env_and_flags_layer_over_the_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("feed: {kind: sim, seed: 3}\nshard: {total: 4}\n")
    env = {"POD_NAME": "demo-2", "TOTAL_SHARDS": "4", "POD_NAMESPACE": "trading"}
    assert main(["run", "--config", str(f), "--seed", "8", "--print-config"], env=env) == 0
    out = capsys.readouterr().out
    assert "seed: 8" in out and "id: 2" in out and "namespace: trading" in out


def test_replay_feed_runs_to_the_end_and_counts_bad_lines(tmp_path: Path, capsys) -> None:
    t0 = 1_767_574_800_000_000_000
    lines = []
    for i in range(50):
        b = 23000 + i // 10
        lines.append(
            json.dumps(
                {
                    "type": "bidask", "code": "TXFL6", "exch_ts": t0 + i * 10**7,
                    "local_ts": t0 + i * 10**7, "seq": i,
                    "bid_price": [b - k for k in range(5)], "bid_volume": [5] * 5,
                    "ask_price": [b + 1 + k for k in range(5)], "ask_volume": [5] * 5,
                    "simtrade": False,
                }
            )
        )  # fmt: skip
    lines.insert(10, "{not json")
    (tmp_path / "20260105_TXFL6.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "s.json"
    argv = ["run", "--feed", f"replay:{tmp_path}", "--pace", "fast", "--summary-json", str(out)]
    assert main(argv, env={}) == 0
    s = json.loads(out.read_text())
    assert s["events"] == 50 and s["dropped"] == {"feed:bad_json": 1}
    # Quoted both sides; the rising book filled the ask on event time (replay runs the engine
    # on the recording's exchange time: the 15 ms latency legs elapse between its books) and
    # the strategy quoted it again; every quote was cancelled at the end.
    assert (s["orders"], s["fills"], s["working_left"]) == (3, 1, 0)
    assert main(["run", "--feed", f"replay:{tmp_path / 'missing'}"], env={}) == 2


def test_shioaji_feed_without_keys_is_a_config_error(capsys) -> None:
    assert main(["run", "--feed", "shioaji"], env={}) == 2
    err = capsys.readouterr().err
    assert "SHIOAJI_API_KEY and SHIOAJI_SECRET_KEY" in err
    # Only one key: refused before any login attempt, and the key is never echoed.
    assert main(["run", "--feed", "shioaji"], env={"SHIOAJI_API_KEY": "abc123secret"}) == 1
    assert "abc123secret" not in capsys.readouterr().err


def test_a_bad_ring_name_is_a_config_error(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.yaml"
    f.write_text('ring: {name: "bad/name"}\n')
    assert main(["run", "--config", str(f), "--duration", "1"], env={}) == 2
    assert "ring.name: bad ring name" in capsys.readouterr().err


def test_cpu_pinning_is_checked_before_start_and_applied_to_the_trading_thread(
    tmp_path: Path, capsys
) -> None:
    import os

    allowed = sorted(os.sched_getaffinity(0))
    missing = max(allowed) + 1
    assert main(["run", "--cpu", str(missing), "--duration", "1"], env={}) == 2
    assert f"run.cpu: CPU {missing} is not available to this process" in capsys.readouterr().err
    assert main(["run", "--cpu", "-1"], env={}) == 2
    assert "--cpu: expected an integer >= 0 or last, got -1" in capsys.readouterr().err
    # A real run pinned to the last allowed CPU (`--cpu last`, what `make run` passes) trades
    # as usual and says where it ran; with one CPU allowed it runs unpinned.
    proc = _start("--feed", "sim", "--duration", "1.5", "--seed", "3", "--cpu", "last")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    if len(allowed) > 1:
        assert f"trading thread pinned to CPU {allowed[-1]}" in err
    else:
        assert "trading thread pinned" not in err
    assert "orders" in out


def test_cpu_last_is_the_last_allowed_cpu_when_there_are_two_or_more() -> None:
    from shijim.app.config import last_cpu

    assert last_cpu({0, 1}) == 1
    assert last_cpu({0, 2, 5}) == 5
    assert last_cpu({3}) is None  # one CPU: a busy-polling pinned thread would starve the rest


def test_cpu_last_on_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    import os

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("run:\n  cpu: 0\n")
    args = _parser().parse_args(["run", "--config", str(cfg_file), "--cpu", "last"])
    allowed = os.sched_getaffinity(0)
    want = max(allowed) if len(allowed) > 1 else None
    assert effective_config(args, {}).run.cpu == want


SIDE_THREADS_SCRIPT = """
import os, threading, time
from shijim.app.runtime import keep_side_threads_off, pin_trading_thread
stop = threading.Event()
before = threading.Thread(target=stop.wait, daemon=True)  # e.g. the log listener
before.start()
cpu = max(os.sched_getaffinity(0))
keep_side_threads_off(cpu)
after = threading.Thread(target=stop.wait, daemon=True)  # e.g. the metrics server
after.start()
pin_trading_thread(cpu)
time.sleep(0.05)  # native ids are set once the threads run
import json
print(json.dumps({"cpu": cpu, "trading": sorted(os.sched_getaffinity(0)),
                  "side": [sorted(os.sched_getaffinity(t.native_id)) for t in (before, after)]}))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_with_cpu_every_other_thread_is_kept_off_the_trading_cpu() -> None:
    p = subprocess.run([sys.executable, "-c", SIDE_THREADS_SCRIPT], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    others = sorted(os.sched_getaffinity(0) - {got["cpu"]})
    assert got["trading"] == [got["cpu"]]
    assert got["side"] == [others, others]  # started before and after: both off its CPU


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shijim", "run", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-5"], "--seed: expected an integer >= 0, got -5"),
        (["--seed=abc"], "--seed: expected an integer >= 0, got abc"),
        (["--shard-id", "-1"], "--shard-id: expected an integer >= 0, got -1"),
        (["--total-shards", "0"], "--total-shards: expected an integer >= 1, got 0"),
        (
            ["--metrics-port", "70000"],
            "--metrics-port: expected an integer in [0, 65535], got 70000",
        ),
        (["--admin-port", "-1"], "--admin-port: expected an integer in [0, 65535], got -1"),
        (["--cpu", "-3"], "--cpu: expected an integer >= 0 or last, got -3"),
        (["--cpu", "first"], "--cpu: expected an integer >= 0 or last, got first"),
        (["--duration", "-1"], "--duration: expected a number > 0, got -1"),
        (["--duration", "nan"], "--duration: expected a number > 0, got nan"),
        (
            ["--startup-jitter-seconds", "inf"],
            "--startup-jitter-seconds: expected a finite number >= 0, got inf",
        ),
    ],
)
def test_every_numeric_flag_names_itself_when_out_of_range(args: list[str], message: str) -> None:
    p = _run_cli("--feed", "sim", *args)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_a_non_utf8_config_file_is_one_line_naming_the_file_and_the_byte(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("feed:\n  kind: sim\n# café\n".encode("latin-1"))
    p = _run_cli("--config", str(f))
    assert p.returncode == 2, p.stderr
    assert p.stderr == (
        f"shijim: configuration error: <root>: {f}: not UTF-8: byte 0xe9 at byte offset 23"
        " (line 3, byte 6 of the line)\n"
    )
    f.write_text("feed: {kind: sim, seed: -5}\n")  # the same bound from the file
    p = _run_cli("--config", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"feed.seed: must be >= 0, got -5 (in {f})" in p.stderr


def test_a_bad_decision_policy_names_the_flag_or_the_field(tmp_path: Path) -> None:
    p = _run_cli("--feed", "sim", "--decision", "interval_ms:0")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "--decision: " in p.stderr and "interval_ms: N must be in [1, 86400000]" in p.stderr
    f = tmp_path / "c.yaml"
    f.write_text("strategy: {decision: every_tick}\n")
    p = _run_cli("--config", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "strategy.decision: " in p.stderr and '"every_tick"' in p.stderr
    f.write_text("paper: {fees: {TXFL6: {per_lots: 45}}}\nfeed: {kind: sim}\n")
    p = _run_cli("--config", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert 'instruments["TXFL6"]["per_lots"]' in p.stderr and "unknown key" in p.stderr


def test_a_run_journal_is_what_reconcile_compares(tmp_path: Path, capsys) -> None:
    """`run --journal DIR` writes the strategy's fills and actions (and the summary); two runs
    of the same seed reconcile with every fill identical, and the fills match the summary."""
    from shijim.__main__ import main as shijim_main
    from shijim.backtest.reconcile import read_actions
    from shijim.strategy.journal import read_fills

    dirs = []
    for i in range(2):
        d = tmp_path / f"run{i}"
        proc = _start("--feed", "sim", "--duration", "20", "--seed", "9", "--pace", "fast",
                      "--journal", str(d))  # fmt: skip
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        dirs.append(d)
    summary = json.loads((dirs[0] / "summary.json").read_text())
    fills = read_fills(dirs[0])
    assert len(fills) == summary["fills"] > 0
    assert sum(f.qty for f in fills) == summary["filled_qty"]
    places = [a for a in read_actions(dirs[0]) if a.action == "place"]
    assert len(places) == summary["orders_sent"]
    capsys.readouterr()
    assert shijim_main(["reconcile", str(dirs[0]), str(dirs[1])]) == 0
    assert f"fills: {len(fills)} identical, 0 differ" in capsys.readouterr().out


def test_the_simulated_market_starts_when_the_loop_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow start-up (side services, a recorder attaching) is not published as one lump of
    market at the first turn: simulated time starts at the trading loop, and the first chunk is
    generated before it, so the open's events arrive as they fall due (here the first turn
    publishes the session events at the open and nothing of the next 0.3 s)."""
    from shijim.app import runtime as rt
    from shijim.gateway.sim_feed import SimFeed

    side_services = rt._start_side_services

    def slow_side_services(shard, env):  # type: ignore[no-untyped-def]
        side_services(shard, env)
        time.sleep(0.3)

    polls: list[int] = []
    poll = SimFeed.poll

    def counted(self: SimFeed) -> int:
        n = poll(self)
        polls.append(n)
        return n

    monkeypatch.setattr(rt, "_start_side_services", slow_side_services)
    monkeypatch.setattr(SimFeed, "poll", counted)
    out = tmp_path / "s.json"
    args = ["run", "--feed", "sim", "--duration", "0.5", "--seed", "7", "--summary-json", str(out)]
    assert main(args, env={}) == 0
    first = next(n for n in polls if n)
    assert first == 4, polls[:10]  # each code's session opening; 0.3 s of market is ~200 more
    assert json.loads(out.read_text())["events"] > 50
