"""The ClickHouse sink with real engines: the embedded chdb (in this process) and chdb behind
HTTP (chdb_front.py) with the unmodified clickhouse-connect client. Rows in ClickHouse are
exactly the rows of the files: none lost, none twice, also across a retried block and an
outage of the server."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

from recorder_fixtures import START_NS, recorder_config, sample
from shijim.app.cli import main as shijim_main
from shijim.events import read_records
from shijim.metrics import ShardMetrics
from shijim.recorder.recording import Recorder
from shijim.recorder.wal import STATE_DIR

TABLE_OF = {"tick": "ticks", "bidask": "bidasks", "snapshot": "snapshots", "event": "events"}


def file_rows(raw: Path) -> Counter:
    out: Counter = Counter()
    for path in raw.glob("*.jsonl"):
        for r in read_records(path):
            out[(TABLE_OF[r.type.value], r.seq)] += 1
    return out


def clickhouse_rows(client, database: str) -> Counter:
    out: Counter = Counter()
    for table in TABLE_OF.values():
        for (seq,) in client.query(f"SELECT seq FROM {database}.{table}").result_rows:
            out[(table, int(seq))] += 1
    return out


def publish_session(ring, n: int) -> None:
    """Books, trades, a snapshot and events, as a live shard publishes them."""
    w = ring.writer
    w.publish_event("session_state", START_NS, START_NS, code="TXFL6", session_state="OPEN")
    w.publish_record(
        {"type": "snapshot", "code": "2330", "exch_ts": START_NS, "local_ts": START_NS, "seq": 0,
         "open": 1000, "high": 1010, "low": 995.5, "close": 1005, "volume": 3,
         "total_volume": 9000, "bid_price": 1004.5, "bid_volume": 7, "ask_price": 1005,
         "ask_volume": 2}
    )  # fmt: skip
    ring.publish_mixed(n)
    w.publish_event("reconnect", START_NS + 10**9, START_NS + 10**9, count=1, reason="test")


def wait_for(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ring_to_files_and_chdb_exactly_and_record_check_agrees(
    make_ring, tmp_path, database, chdb_env, chdb_client, capsys
) -> None:
    ring = make_ring()
    cfg = recorder_config(tmp_path, database)
    metrics = ShardMetrics(0)
    rec = Recorder(cfg, ring.name, metrics, chdb_env)
    rec.attach()
    rec.start()
    publish_session(ring, 30_000)
    rec.stop()
    raw = Path(cfg.raw_dir)
    files = file_rows(raw)
    assert sum(files.values()) == 30_003 and max(files.values()) == 1
    assert clickhouse_rows(chdb_client, database) == files
    assert sample(metrics, "shijim_recorder_rows_total", sink="jsonl") == 30_003
    assert sample(metrics, "shijim_recorder_rows_total", sink="clickhouse") == 30_003
    assert sample(metrics, "shijim_recorder_fallback_active") == 0
    # Values, not only counts: exact decimals, nanosecond times, levels.
    tick = next(r for r in read_records(raw / "20260105_TXFL6.jsonl") if r.type == "tick")
    row = chdb_client.query(
        f"SELECT price, toUnixTimestamp64Nano(exch_ts), toUnixTimestamp64Nano(local_ts),"
        f" volume, total_volume, tick_type, trading_day FROM {database}.ticks"
        f" WHERE seq = {tick.seq}"
    ).result_rows[0]
    assert row[:6] == (tick.price, tick.exch_ts, tick.local_ts, tick.volume,
                       tick.total_volume, tick.tick_type)  # fmt: skip
    assert str(row[6]) == "2026-01-05"
    snap = chdb_client.query(f"SELECT low, bid_price FROM {database}.snapshots").result_rows
    assert [tuple(map(str, r)) for r in snap] == [("995.500000", "1004.500000")]
    book = chdb_client.query(
        f"SELECT bid_price1, bid_price2, ask_price1, ask_volume1, ask_volume5"
        f" FROM {database}.bidasks LIMIT 1"
    ).result_rows[0]
    assert [str(p) for p in book[:3]] == ["22000.000000", "21999.000000", "22001.250000"]
    assert book[3:] == (5, 1)
    capsys.readouterr()
    argv = ["record-check", "--raw-dir", cfg.raw_dir]
    env = {**chdb_env}
    assert shijim_main(argv, env) == 1  # another database: every row "missing"
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"recorder:\n  clickhouse:\n    database: {database}\n")
    capsys.readouterr()
    assert shijim_main([*argv, "--config", str(cfg_file)], env) == 0
    assert "identical" in capsys.readouterr().out
    # A row more in ClickHouse than in the files: record-check names its minute.
    chdb_client.command(
        f"INSERT INTO {database}.ticks SELECT * FROM {database}.ticks WHERE seq = {tick.seq}"
    )
    assert shijim_main([*argv, "--config", str(cfg_file)], env) == 1
    out = capsys.readouterr().out
    assert "1 (table, code, minute) differ" in out and "2026-01-05 09:00" in out


def test_a_block_sent_again_after_a_crash_is_not_doubled(
    make_ring, tmp_path, database, chdb_env, chdb_client
) -> None:
    """A crash after the insert and before the cursor moved leaves the block pending and the
    cursor at its start: the restart rebuilds it from the files and sends it again, with the
    same token (from its file ranges), and the server drops it."""
    ring = make_ring()
    cfg = recorder_config(tmp_path, database, batch_rows=100_000, batch_ms=600_000)
    rec = Recorder(cfg, ring.name, ShardMetrics(0), chdb_env)
    rec.attach()
    rec.start()
    ring.publish_mixed(5000)
    rec.stop()  # one block: every file from 0 to its end
    assert sum(clickhouse_rows(chdb_client, database).values()) == 5000
    cursor_path = next((Path(cfg.raw_dir) / STATE_DIR).glob("sink-*.cursor"))
    cursor = json.loads(cursor_path.read_text())
    assert cursor["next_id"] == 2 and cursor["pending"] is None
    ranges = {name: [0, end] for name, end in cursor["sent"].items()}
    cursor["pending"] = {"id": 1, "ranges": ranges}
    cursor["sent"] = {name: 0 for name in ranges}
    cursor_path.write_text(json.dumps(cursor))
    metrics = ShardMetrics(0)
    rec2 = Recorder(cfg, ring.name, metrics, chdb_env)
    rec2.attach()
    rec2.start()
    rec2.stop()
    assert sample(metrics, "shijim_recorder_rows_total", sink="clickhouse") == 5000  # sent again
    after = clickhouse_rows(chdb_client, database)
    assert sum(after.values()) == 5000 and max(after.values()) == 1


def test_clickhouse_down_for_a_while_then_back_nothing_lost_nothing_doubled(
    make_ring, tmp_path, front, caplog
) -> None:
    ring = make_ring()
    cfg = recorder_config(tmp_path, "shijim", batch_rows=1000, batch_ms=20)
    metrics = ShardMetrics(0)
    env = {"CLICKHOUSE_DSN": front.dsn}  # nothing listens there yet
    rec = Recorder(cfg, ring.name, metrics, env)
    rec.attach()
    with caplog.at_level(logging.INFO):
        rec.start()
        ring.publish_mixed(4000)
        wait_for(lambda: sample(metrics, "shijim_recorder_rows_total", sink="fallback") >= 4000)
        assert sample(metrics, "shijim_recorder_fallback_active") == 1
        assert sample(metrics, "shijim_recorder_backlog_rows") >= 4000
        assert sample(metrics, "shijim_recorder_lag_seconds") > 0
        spilled = list((Path(cfg.fallback_dir)).rglob("*.block.json"))
        assert spilled, "blocks are spilled to the fallback dir"
        front.start()  # ClickHouse is back
        ring.publish_mixed(3000, t0=START_NS + 10**10)
        wait_for(lambda: sample(metrics, "shijim_recorder_rows_total", sink="clickhouse") >= 7000)
        wait_for(lambda: sample(metrics, "shijim_recorder_fallback_active") == 0)
        rec.stop()
    client = front.client()
    got = clickhouse_rows(client, "shijim")
    assert got == file_rows(Path(cfg.raw_dir))
    assert sum(got.values()) == 7000
    assert not list(Path(cfg.fallback_dir).rglob("*.block.json")), "the spill drained"
    assert sample(metrics, "shijim_recorder_errors_total", cause="clickhouse") >= 1
    assert sample(metrics, "shijim_recorder_backlog_rows") == 0
    # Never a fragment of the DSN in a log line.
    for secret in (front.password, front.user, f"127.0.0.1:{front.port}", front.dsn):
        assert secret not in caplog.text
    assert "<dsn>" in caplog.text or "ClickHouse" in caplog.text
    assert front.password not in repr(rec.sink.target) and front.password not in str(
        rec.sink.target
    )


def test_bad_files_at_restart_are_counted_and_good_data_still_sent(
    make_ring, tmp_path, database, chdb_env, chdb_client, caplog
) -> None:
    ring = make_ring()
    cfg = recorder_config(tmp_path, database)
    raw = Path(cfg.raw_dir)
    raw.mkdir(parents=True)
    good = (
        '{"type":"tick","code":"2330","exch_ts":%d,"local_ts":%d,"seq":%d,"price":1005,'
        '"volume":1,"total_volume":5,"tick_type":1,"simtrade":false}\n'
    )
    lines = [good % (START_NS + i, START_NS + i, i) for i in range(5)]
    lines.insert(2, '{"type":"tick","code":"2330","price":"1005"}\n')  # a bad line
    (raw / "20260105_2330.jsonl").write_text("".join(lines))
    (raw / "notes.jsonl").write_text("not a recorder file\n")
    metrics = ShardMetrics(0)
    rec = Recorder(cfg, ring.name, metrics, chdb_env)
    with caplog.at_level(logging.WARNING):
        rec.attach()
        rec.start()
        ring.publish_mixed(300)
        rec.stop()
    got = clickhouse_rows(chdb_client, database)
    assert sum(got.values()) == 305
    assert sample(metrics, "shijim_recorder_errors_total", cause="bad_line") == 1
    assert sample(metrics, "shijim_recorder_errors_total", cause="bad_file") == 1
    assert "20260105_2330.jsonl (line counted from byte 0):3: field" in caplog.text
    assert "notes.jsonl: not <day>_<code>.jsonl; left alone" in caplog.text
    # The files are never rewritten: the bad line is still there for a human to look at.
    assert '"price":"1005"' in (raw / "20260105_2330.jsonl").read_text()


def test_metrics_of_the_recorder_exist_at_zero_from_the_start() -> None:
    metrics = ShardMetrics(3)
    for sink in ("jsonl", "clickhouse", "fallback"):
        assert (
            metrics.registry.get_sample_value(
                "shijim_recorder_rows_total", {"shard": "3", "sink": sink}
            )
            == 0
        )
    for name in ("shijim_recorder_fallback_active", "shijim_recorder_backlog_rows",
                 "shijim_recorder_lag_seconds", "shijim_recorder_gap_messages_total"):  # fmt: skip
        assert metrics.registry.get_sample_value(name, {"shard": "3"}) == 0, name
    assert (
        metrics.registry.get_sample_value(
            "shijim_recorder_errors_total", {"shard": "3", "cause": "clickhouse"}
        )
        == 0
    )
