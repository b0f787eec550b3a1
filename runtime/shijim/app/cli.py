"""``python -m shijim run``: parse flags and environment over the config file, then run.

Precedence: command-line flags > environment (SHARD_ID, TOTAL_SHARDS, SHIJIM_TRADINGSHARD,
POD_NAMESPACE, POD_NAME, SHIJIM_METRICS_BIND) > ``--config`` file > defaults. Exit codes: 0 clean
stop (duration reached, SIGTERM/SIGINT), 2 bad configuration or arguments, 1 an unexpected
failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import logging.handlers
import math
import os
import queue
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shijim.app.config import (
    CPU_LAST,
    RuntimeConfig,
    bind_problem,
    decision_problem,
    last_cpu,
    load_config,
    parse_config,
    with_overrides,
)
from shijim.app.schema import ConfigError
from shijim.recorder.settings import env_dirs

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_CONFIG = 2
ENV_METRICS_BIND = "SHIJIM_METRICS_BIND"  # the operator renders it from the pod IP


def _int_flag(low: int, high: int | None = None, word: str = "") -> Callable[[str], Any]:
    """An argparse type: an integer in range (or ``word`` itself, when given), else ``--flag:
    expected ..., got RAW`` (exit 2)."""
    want = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if word:
        want += f" or {word}"

    def parse(raw: str) -> int | str:
        if word and raw == word:
            return word
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {want}, got {raw}")
        return value

    return parse


def _decision_flag(raw: str) -> str:
    """An argparse type: a decision policy the engine accepts (its own parser decides)."""
    problem = decision_problem(raw)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return raw


def _seconds_flag(zero_ok: bool) -> Callable[[str], float]:
    """An argparse type: seconds > 0 (``--duration``; inf = no limit) or finite >= 0."""
    want = "a finite number >= 0" if zero_ok else "a number > 0"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        ok = (0 <= value < math.inf) if zero_ok else value > 0  # both false for NaN
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {want}, got {raw}")
        return value

    return parse


_PORT = _int_flag(0, 65535)


def _version() -> str:
    """The package's version beside the compiled core's: they differ only on a stale build."""
    import shijim
    import shijim_core

    return f"shijim {shijim.__version__} (shijim_core {shijim_core.__version__})"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shijim", description="Shijim (Micro Alpha) runtime")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one shard: feed -> ring -> strategy -> risk -> venue")
    run.add_argument("--config", metavar="FILE", help="YAML config (docs/configuration.md)")
    run.add_argument(
        "--feed",
        metavar="sim|shioaji|replay:PATH",
        help="market data (default: shioaji if SHIOAJI_API_KEY is set, else sim)",
    )
    run.add_argument("--simulation", action="store_true", default=None, help="Shioaji simulation")
    run.add_argument(
        "--duration", type=_seconds_flag(False), metavar="S", help="stop after S seconds"
    )
    run.add_argument("--seed", type=_int_flag(0), metavar="N", help="simulator seed")
    run.add_argument("--pace", choices=("realtime", "fast"), help="sim/replay pace")
    run.add_argument("--strategy", metavar="NAME", help="strategy name (docs/strategy.md)")
    run.add_argument(
        "--decision",
        type=_decision_flag,
        metavar="POLICY",
        help="when the strategy decides: every_event, on_touch_change or interval_ms:N",
    )
    run.add_argument("--metrics-port", type=_PORT, metavar="P", help="Prometheus /metrics port")
    run.add_argument("--admin-port", type=_PORT, metavar="P", help="admin HTTP port (127.0.0.1)")
    run.add_argument("--tradingshard", metavar="NAME", help="watch this TradingShard (k8s)")
    run.add_argument("--shard-id", type=_int_flag(0), metavar="N")
    run.add_argument("--total-shards", type=_int_flag(1), metavar="N")
    run.add_argument(
        "--startup-jitter-seconds",
        type=_seconds_flag(True),
        metavar="S",
        help="wait up to S seconds before the broker login (shard k of N waits k/N of S)",
    )
    run.add_argument("--kill-file", metavar="PATH", help="kill switch while this file exists")
    run.add_argument(
        "--cpu",
        type=_int_flag(0, word=CPU_LAST),
        metavar="N",
        help="pin the trading thread to CPU N; last: the last CPU this process may use, when it "
        "may use two or more (else unpinned)",
    )
    run.add_argument("--summary-json", metavar="FILE", help="also write the summary as JSON")
    run.add_argument(
        "--journal",
        metavar="DIR",
        help="write the strategy's actions and fills (and summary.json) into DIR at the end, "
        "for `python -m shijim reconcile`",
    )
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    run.add_argument(
        "--print-config", action="store_true", help="print the effective config and exit"
    )
    run.add_argument(
        "--record", action="store_true", default=None, help="record beside trading (recorder)"
    )
    from shijim.recorder.command import add_commands

    add_commands(sub, _PORT, _seconds_flag(False))  # record, record-check, record-query
    # Listed for --help; shijim.__main__ hands their arguments to shijim.backtest.cli
    # (docs/backtest.md).
    sub.add_parser("backtest", help="backtest a strategy on recordings (hftbacktest venue)")
    sub.add_parser("reconcile", help="fill-by-fill differences between two runs")
    return p


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"env {name}", f'expected integer, got "{raw}"') from None


def _env_bind(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    problem = None if raw is None else bind_problem(raw)
    if problem is not None:
        raise ConfigError(f"env {name}", problem)
    return raw


def _pod_ordinal(pod_name: str) -> int | None:
    """StatefulSet pods are NAME-<ordinal>; the ordinal is the shard id."""
    tail = pod_name.rsplit("-", 1)[-1]
    return int(tail) if pod_name and tail.isdigit() else None


def effective_config(args: argparse.Namespace, env: Mapping[str, str]) -> RuntimeConfig:
    cfg = load_config(args.config) if args.config else parse_config({})
    feed_kind: str | None = None
    replay_path: str | None = None
    if args.feed:
        if args.feed.startswith("replay:"):
            feed_kind, replay_path = "replay", args.feed[len("replay:") :]
            if not replay_path:
                raise ConfigError("--feed", "replay needs a path: replay:PATH")
        elif args.feed in ("sim", "shioaji"):
            feed_kind = args.feed
        else:
            raise ConfigError("--feed", f'expected sim, shioaji or replay:PATH, got "{args.feed}"')
    pod_name = env.get("POD_NAME") or None
    shard_id = args.shard_id
    if shard_id is None:
        shard_id = _env_int(env, "SHARD_ID")
    if shard_id is None and pod_name:
        shard_id = _pod_ordinal(pod_name)
    total = args.total_shards if args.total_shards is not None else _env_int(env, "TOTAL_SHARDS")
    strategy_name = args.strategy
    sections: dict[str, Mapping[str, Any]] = {
        "shard": {
            "id": shard_id,
            "total": total,
            "tradingshard": args.tradingshard or env.get("SHIJIM_TRADINGSHARD") or None,
            "namespace": env.get("POD_NAMESPACE") or None,
            "pod_name": pod_name,
            "startup_jitter_seconds": args.startup_jitter_seconds,
        },
        "feed": {
            "kind": feed_kind,
            "replay_path": replay_path,
            "simulation": args.simulation,
            "seed": args.seed,
            "pace": args.pace,
        },
        "strategy": {"decision": args.decision},
        "metrics": {"port": args.metrics_port, "bind": _env_bind(env, ENV_METRICS_BIND)},
        "admin": {"port": args.admin_port},
        "run": {
            "duration": args.duration,
            "kill_file": args.kill_file,
            "summary_json": args.summary_json,
            "journal_dir": args.journal,
            "cpu": None if args.cpu == CPU_LAST else args.cpu,
        },
        "recorder": {"enabled": args.record, **env_dirs(env)},
    }
    cfg = with_overrides(cfg, **sections)
    if args.cpu == CPU_LAST:  # resolved here: on one CPU it unpins whatever the file says
        cfg = dataclasses.replace(
            cfg, run=dataclasses.replace(cfg.run, cpu=last_cpu(os.sched_getaffinity(0)))
        )
    if strategy_name and strategy_name != cfg.strategy.name:
        # A different strategy on the command line starts from its default parameters.
        cfg = dataclasses.replace(
            cfg, strategy=dataclasses.replace(cfg.strategy, name=strategy_name, params={})
        )
    return cfg


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "run")  # `python -m shijim --simulation`: run is the default command
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # a bad flag (argparse printed it) or --help
        return EXIT_BAD_CONFIG if exc.code else EXIT_OK
    env = os.environ if env is None else env
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    listener = _queue_logging(getattr(logging, str(args.log_level).upper(), logging.INFO))
    try:
        return _main(args, env)
    finally:
        listener.stop()  # flushes what is queued
        root.handlers[:], root.level = saved[0], saved[1]


def _queue_logging(level: int) -> logging.handlers.QueueListener:
    """Log records are queued by the caller and written to stderr by a listener thread, so the
    trading thread never waits on a slow terminal or log collector."""
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(q)]
    root.setLevel(level)
    listener = logging.handlers.QueueListener(q, out)
    listener.start()
    return listener


def _recorder_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """record, record-check, record-query: the recorder section of --config, the environment
    and the flags (in that order of precedence, lowest first)."""
    from shijim.recorder.command import overrides, run_command

    try:
        cfg = load_config(args.config) if args.config else parse_config({})
        given = (env_dirs(env), overrides(args))
        changes = {k: v for d in given for k, v in d.items() if v is not None}
        cfg = with_overrides(cfg, recorder=changes)
        shard = getattr(args, "shard_id", None)
        if shard is None:
            shard = _env_int(env, "SHARD_ID")
        if shard is None:
            shard = _pod_ordinal(env.get("POD_NAME", "")) or cfg.shard.id
        bind = _env_bind(env, ENV_METRICS_BIND) or cfg.metrics.bind
    except ConfigError as exc:
        print(f"shijim: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return run_command(args, cfg.recorder, env, str(shard), bind)


def _main(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.command != "run":
        return _recorder_command(args, env)
    try:
        cfg = effective_config(args, env)
        from shijim.app.strategies import check_strategy_config

        check_strategy_config(cfg)
    except ConfigError as exc:
        print(f"shijim: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.print_config:
        import yaml

        from shijim.app.schema import to_plain

        print(yaml.safe_dump(to_plain(cfg), sort_keys=False), end="")
        return EXIT_OK
    from shijim.app.runtime import run

    return run(cfg, env)
