"""The recorder as users run it, in processes of its own: `python -m shijim record --ring NAME`
killed with SIGKILL mid-write and started again, `python -m shijim run --record`, the recorded
files replayed with `--feed replay:` and converted with `shijim.tools.sbe`, and the seed's quick
start `python -m shijim --simulation` as typed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from recorder_fixtures import REPO, START_NS
from shijim.events import format_record, read_records, record_from_dict
from shijim.tools import sbe as sbe_tool

import shijim_core

ENV = {**os.environ, "SHIOAJI_API_KEY": "", "SHIOAJI_SECRET_KEY": "", "CLICKHOUSE_DSN": ""}


def shijim(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "shijim", *args],
        cwd=cwd,
        env=env or ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def jsonl_seqs(raw: Path) -> list[int]:
    return [r.seq for p in sorted(raw.glob("*.jsonl")) for r in read_records(p)]


@pytest.mark.slow
def test_kill_9_mid_write_then_restart_files_and_chdb_hold_exactly_the_ring(make_ring, tmp_path):
    n = 60_000
    ring = make_ring(slots=1 << 17)  # no lap while the recorder is down: every message stays
    cfg = tmp_path / "rec.yaml"
    # "off" quoted: YAML reads a bare off as false.
    cfg.write_text('recorder:\n  fsync: "off"\n  clickhouse: {batch_rows: 2000, batch_ms: 50}\n')
    args = ("record", "--ring", ring.name, "--config", str(cfg), "--log-level", "WARNING")
    raw = tmp_path / "raw"
    state = raw / ".recorder" / "wal.state"
    published = 0

    def publish() -> None:
        nonlocal published
        for k in range(n // 500):
            ring.publish_mixed(500, t0=START_NS + k * 500 * 1_000_000)
            published += 500
            time.sleep(0.01)  # ~40k messages/s

    first = shijim(*args, cwd=tmp_path)
    wait_for(lambda: state.exists() or first.poll() is not None)
    assert first.poll() is None, first.communicate()
    producer = threading.Thread(target=publish)
    producer.start()
    for kill in (1, 2):  # two kills, at different moments of writing and inserting
        wait_for(lambda kill=kill: published >= 15_000 * kill)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        last = ("--exit-on-close",) if kill == 2 else ()
        first = shijim(*args, *last, cwd=tmp_path)
    producer.join()
    ring.writer.close()  # the shard stops: the recorder records the rest and exits
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    seqs = jsonl_seqs(raw)
    assert sorted(seqs) == list(range(n)), "every message once, in the files"
    check = subprocess.run(
        [sys.executable, "-m", "shijim", "record-check", "--config", str(cfg)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{n} rows; ClickHouse: {n} rows" in check.stdout


@pytest.mark.slow
def test_run_record_then_replay_gives_the_same_events_and_sbe_round_trips(tmp_path):
    run = shijim("run", "--feed", "sim", "--duration", "6", "--pace", "fast", "--seed", "5",
                 "--record", "--summary-json", "rec.json", cwd=tmp_path)  # fmt: skip
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "recorder stopped" in err
    raw = tmp_path / "raw"
    files = sorted(raw.glob("*.jsonl"))
    assert {f.name.split("_", 1)[1] for f in files} == {
        "TXFL6.jsonl", "MXFL6.jsonl", "2330.jsonl", "2317.jsonl",
    }  # fmt: skip
    recorded = json.loads((tmp_path / "rec.json").read_text())
    # The files: every event the shard's ring carried, once, in ring order per file.
    seqs = jsonl_seqs(raw)
    assert len(seqs) == len(set(seqs)) == recorded["events"] + 4  # + 4 session opens
    # ... replayed with --feed replay: give the shard the same events.
    replay = shijim("run", "--feed", f"replay:{raw}", "--pace", "fast",
                    "--summary-json", "replay.json", cwd=tmp_path)  # fmt: skip
    _, err = replay.communicate(timeout=120)
    assert replay.returncode == 0, err
    replayed = json.loads((tmp_path / "replay.json").read_text())
    for key in ("ticks", "bidasks", "simtrades"):
        assert replayed[key] == recorded[key], key
    # ... and go through the SBE tool and back to the same bytes.
    for f in files:
        sbe = tmp_path / f"{f.stem}.sbe"
        back = tmp_path / f"{f.stem}.back.jsonl"
        assert sbe_tool.main(["encode", str(f), str(sbe)]) == 0
        assert sbe_tool.main(["decode", str(sbe), "-o", str(back)]) == 0
        assert back.read_bytes() == f.read_bytes()
    # ClickHouse (the embedded one, beside raw/) holds the same rows.
    check = subprocess.run(
        [sys.executable, "-m", "shijim", "record-check"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    bars = subprocess.run(
        [sys.executable, "-m", "shijim", "record-query", "bars_1m", "--code", "TXFL6",
         "--format", "csv"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bars.returncode == 0, bars.stderr
    head, first = bars.stdout.splitlines()[:2]
    assert head == "code,minute,open,high,low,close,volume,trades"
    assert first.startswith("TXFL6,2026-01-05 09:00,")


@pytest.mark.slow
def test_replay_through_the_ring_gives_back_the_recorded_records(make_ring, tmp_path):
    """Recorded files replayed by the replay feed into a ring: the ring carries the records of
    the files (seq and receive time are the new ring's)."""
    import dataclasses

    from recorder_fixtures import recorder_config
    from shijim.bus.ingestion import Ingestor
    from shijim.gateway.replay import ReplayFeed, ReplayPace
    from shijim.metrics import ShardMetrics
    from shijim.recorder.recording import Recorder

    src = make_ring()
    cfg = recorder_config(tmp_path, "x")
    cfg = dataclasses.replace(cfg, clickhouse=dataclasses.replace(cfg.clickhouse, enabled=False))
    rec = Recorder(cfg, src.name, ShardMetrics(0), {})
    rec.attach()
    src.writer.publish_event(
        "session_state", START_NS, START_NS, code="TXFL6", session_state="OPEN"
    )
    src.publish_mixed(3000)
    src.writer.publish_event("feed_gap", START_NS + 10**10, START_NS + 10**10, count=7)
    while rec.step():
        pass
    rec._finish()
    raw = Path(cfg.raw_dir)
    dst = make_ring()
    reader = shijim_core.RingReader(dst.name, start="oldest")
    feed = ReplayFeed(raw, ReplayPace.FAST, codes=["TXFL6", "MXFL6"], keep_local_ts=True)
    feed.start(Ingestor(dst.writer, universe=["TXFL6", "MXFL6"]))
    while not feed.finished:
        feed.poll()

    def canonical(records) -> list[str]:
        return sorted(format_record(r) for r in records)

    got = [record_from_dict({**r, "seq": 0}) for r in reader.read_records(1 << 16)]
    want = [
        dataclasses.replace(r, seq=0) for p in sorted(raw.glob("*.jsonl")) for r in read_records(p)
    ]
    assert len(want) == 3002 and canonical(got) == canonical(want)


@pytest.mark.slow
def test_python_m_shijim_simulation_works_as_typed(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "shijim", "--simulation"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    wait_for(lambda: any("trading" in line for line in lines), timeout=60)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines)
    assert "shijim run summary" in out and "feed sim" in out
    assert REPO.exists()


def children_of(pid: int) -> list[tuple[int, str]]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append((int(stat.parent.name), cmd))
    return out


@pytest.mark.slow
def test_run_record_restarts_a_killed_recorder_and_loses_nothing(tmp_path):
    port = __import__("recorder_fixtures").free_port()
    run = shijim("run", "--feed", "sim", "--duration", "7", "--seed", "2", "--record",
                 "--metrics-port", str(port), "--summary-json", "s.json", cwd=tmp_path)  # fmt: skip
    wait_for(lambda: any(" record " in c for _, c in children_of(run.pid)), timeout=60)
    time.sleep(2.0)  # recording
    (child, _cmd), *_ = [c for c in children_of(run.pid) if " record " in c[1]]
    os.kill(child, signal.SIGKILL)

    def metric(name: str) -> float:
        import urllib.request

        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        for line in text.decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
        return -1.0

    wait_for(lambda: metric('shijim_recorder_errors_total{cause="restart"') == 1.0, timeout=30)
    wait_for(lambda: any(" record " in c for _, c in children_of(run.pid)), timeout=30)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "recorder process exited" in err
    summary = json.loads((tmp_path / "s.json").read_text())
    seqs = sorted(jsonl_seqs(tmp_path / "raw"))
    assert seqs == list(range(summary["events"] + 4)), "every ring message once, none lost"
