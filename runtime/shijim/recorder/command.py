"""The recorder's commands of ``python -m shijim`` (docs/recorder.md):

    record --ring NAME [--raw-dir D] [--fallback-dir D] [--fsync P] [--no-clickhouse]
           [--metrics-port P] [--wait S] [--duration S] [--exit-on-close]
    record-check [--raw-dir D] [--day YYYYMMDD ...] [--code C]
    record-query NAME [--raw-dir D] [--code C] [--day YYYYMMDD] [--format text|csv]

The argument parsers are added to the runtime's (``shijim.app.cli``), which reads the config
file and the environment into the recorder's settings and calls ``run_command``. Exit status:
0 done (record-check: identical), 1 failure (record-check: differences), 2 bad arguments or
settings (the message names the field).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shijim.recorder.settings import FsyncPolicy, RecorderConfig

log = logging.getLogger(__name__)

COMMANDS = ("record", "record-check", "record-query")


def add_commands(sub: Any, port: Any, seconds: Any) -> None:
    """The three subcommands on the runtime's subparsers (``port``/``seconds``: its checked
    argparse types)."""
    rec = sub.add_parser("record", help="record a running shard's ring: raw JSONL + ClickHouse")
    rec.add_argument("--ring", required=True, metavar="NAME", help="the ring to attach to")
    rec.add_argument("--wait", type=seconds, default=30.0, metavar="S",
                     help="wait this long for the ring to appear (default 30)")  # fmt: skip
    rec.add_argument("--duration", type=seconds, metavar="S", help="stop after S seconds")
    rec.add_argument(
        "--exit-on-close",
        action="store_true",
        help="stop once the writer closed the ring and all of it is recorded",
    )
    rec.add_argument("--fsync", choices=[p.value for p in FsyncPolicy])
    rec.add_argument("--no-clickhouse", action="store_true", help="raw JSONL only")
    rec.add_argument("--metrics-port", type=port, metavar="P", help="Prometheus /metrics port")
    rec.add_argument("--shard-id", type=int, metavar="N", help="the shard label of the metrics")
    rec.add_argument(
        "--report",
        action="store_true",
        help="JSON lines on stdout: attached, then the metric values twice a second (how `run"
        " --record` supervises its recorder process)",
    )
    check = sub.add_parser(
        "record-check", help="rows per (table, code, minute): raw JSONL vs ClickHouse"
    )
    check.add_argument("--day", action="append", metavar="YYYYMMDD", help="only this day")
    check.add_argument("--code", metavar="CODE", help="only this code")  # checked: [A-Za-z0-9]
    query = sub.add_parser("record-query", help="run a documented query on the recorded data")
    from shijim.recorder.queries import QUERIES

    query.add_argument("name", choices=sorted(QUERIES), help="; ".join(
        f"{q.name}: {q.about}" for q in QUERIES.values()))  # fmt: skip
    query.add_argument("--code", metavar="CODE")
    query.add_argument("--day", metavar="YYYYMMDD", help="trading day")
    query.add_argument("--format", choices=("text", "csv"), default="text")
    query.add_argument("--print-sql", action="store_true", help="print the SQL, do not run it")
    for p in (rec, check, query):
        p.add_argument("--config", metavar="FILE", help="YAML config (its recorder section)")
        p.add_argument("--raw-dir", metavar="DIR", help="raw JSONL directory (SHIJIM_RAW_DIR)")
        p.add_argument("--log-level", default="INFO")
    rec.add_argument("--fallback-dir", metavar="DIR", help="fallback dir (SHIJIM_FALLBACK_DIR)")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The recorder-section values the command line sets (None: not set)."""
    out: dict[str, Any] = {"raw_dir": getattr(args, "raw_dir", None)}
    if args.command == "record":
        out["fallback_dir"] = args.fallback_dir
        out["fsync"] = args.fsync
    return out


def run_command(
    args: argparse.Namespace,
    cfg: RecorderConfig,
    env: Mapping[str, str],
    shard: str,
    metrics_bind: str,
) -> int:
    if args.command == "record":
        return _record(args, cfg, env, shard, metrics_bind)
    if args.command == "record-check":
        return _check(args, cfg, env)
    return _query(args, cfg, env)


def _record(
    args: argparse.Namespace,
    cfg: RecorderConfig,
    env: Mapping[str, str],
    shard: str,
    metrics_bind: str,
) -> int:
    import dataclasses

    from shijim.metrics import ShardMetrics
    from shijim.recorder.recording import Recorder, RecorderError

    if args.no_clickhouse:
        cfg = dataclasses.replace(
            cfg, clickhouse=dataclasses.replace(cfg.clickhouse, enabled=False)
        )
    metrics = ShardMetrics(shard)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        recorder = Recorder(cfg, args.ring, metrics, env, wait_s=args.wait, sink_process=True)
        try:
            recorder.attach()
        except RecorderError as exc:
            print(f"shijim record: {exc}", file=sys.stderr, flush=True)
            return 2
        if args.metrics_port is not None:
            server = metrics.serve(args.metrics_port, metrics_bind)
            log.info("metrics on http://%s:%d/metrics", metrics_bind, server.server_port)
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True
            timer.start()
        reporter = None
        if args.report:
            reporter = _Reporter(metrics)
            reporter.say({"attached": True, "ring": args.ring, "resume": recorder.resume})
            reporter.start()
        started = time.monotonic()
        try:
            recorder.run(stop, exit_on_close=args.exit_on_close)
        finally:
            if reporter is not None:
                reporter.stop()
        c = recorder.counts
        print(
            f"recorded {c.rows} rows from ring {args.ring} in {time.monotonic() - started:.1f} s"
            f" ({c.gaps} gap records, {c.lost} messages lost, {c.bad} bad rows)",
            file=sys.stderr,
            flush=True,
        )
        return 1 if recorder.error is not None else 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        for s, h in previous.items():
            signal.signal(s, h)


class _Reporter:
    """``record --report``: the metric values as JSON lines on stdout, twice a second."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="shijim-recorder-report",
                                       daemon=True)  # fmt: skip

    def say(self, obj: Mapping[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # the supervisor is gone: keep recording
            pass

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        from shijim.recorder.beside import snapshot

        while not self.done.wait(0.5):
            self.say(snapshot(self.metrics))

    def stop(self) -> None:
        from shijim.recorder.beside import snapshot

        self.done.set()
        self.thread.join(2.0)
        self.say(snapshot(self.metrics))


def _client(cfg: RecorderConfig, env: Mapping[str, str]) -> Any:
    """A client of the recorder's ClickHouse, or None after printing why not."""
    from shijim.recorder.dsn import DsnError, target_from_env
    from shijim.recorder.sink import connect_client

    try:
        target = target_from_env(env, cfg.raw_dir)
    except DsnError as exc:
        print(f"shijim: {exc}", file=sys.stderr)
        return None
    if target.embedded and not Path(target.path).is_dir():
        print(f"shijim: no embedded ClickHouse at {target.path}"
              " (nothing recorded there yet; or set CLICKHOUSE_DSN)", file=sys.stderr)  # fmt: skip
        return None
    try:
        return connect_client(target)
    except Exception as exc:
        hint = " (a running recorder holds the embedded ClickHouse: stop it first)" if (
            target.embedded) else ""  # fmt: skip
        print(f"shijim: cannot open {target.describe()}: "
              f"{target.scrub(str(exc))[:300]}{hint}", file=sys.stderr)  # fmt: skip
        return None


def _check(args: argparse.Namespace, cfg: RecorderConfig, env: Mapping[str, str]) -> int:
    from shijim.recorder.check import count_clickhouse, count_files, report

    raw = Path(cfg.raw_dir)
    if not raw.is_dir():
        print(f"shijim record-check: {raw}: no such directory", file=sys.stderr)
        return 2
    comparison = count_files(raw, args.day, args.code)
    client = _client(cfg, env)
    if client is None:
        return 1
    try:
        count_clickhouse(client, cfg.clickhouse.database, comparison, args.code)
    except Exception as exc:
        print(f"shijim record-check: ClickHouse query failed: {exc}"[:500], file=sys.stderr)
        return 1
    finally:
        client.close()
    lines, same = report(comparison)
    print("\n".join(lines))
    return 0 if same else 1


def _query(args: argparse.Namespace, cfg: RecorderConfig, env: Mapping[str, str]) -> int:
    from shijim.recorder.queries import render

    try:
        sql = render(args.name, cfg.clickhouse.database, args.code, args.day)
    except ValueError as exc:
        print(f"shijim record-query: {exc}", file=sys.stderr)
        return 2
    if args.print_sql:
        print(sql)
        return 0
    client = _client(cfg, env)
    if client is None:
        return 1
    try:
        result = client.query(sql)
    except Exception as exc:
        print(f"shijim record-query: {exc}"[:500], file=sys.stderr)
        return 1
    finally:
        client.close()
    columns, rows = list(result.column_names), result.result_rows
    if args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
        return 0
    cells = [[str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    print(f"({len(rows)} rows)", file=sys.stderr)
    return 0
