"""``python -m shijim backtest`` and ``python -m shijim reconcile`` (docs/backtest.md).

    python -m shijim backtest --data raw/2026-11-24_TXFL6.jsonl --strategy market_making \\
        [--param half_spread_ticks=2 ...] [--decision on_touch_change] [--latency constant:15ms] \\
        [--queue power:2] [--exchange no_partial] [--venue hftbacktest|paper] [--out DIR] \\
        [--sweep half_spread_ticks=1,2,3 --sweep latency=zero,constant:15ms]
    python -m shijim reconcile RUN_A RUN_B [--data PATH ...]

Exit codes as ``run``: 0 done, 2 bad arguments or input, 1 an unexpected failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import itertools
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_BAD = 0, 1, 2
# The paper venue's median legs (docs/execution.md): a backtest does not flatter by default.
DEFAULT_LATENCY = "constant:15ms"
# Sweep keys that are not strategy parameters.
MODEL_KEYS = ("latency", "queue", "exchange", "decision")


@dataclass(frozen=True)
class RunRequest:
    """One backtest as plain, picklable values (a sweep sends these to its workers)."""

    data: tuple[str, ...]
    strategy: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    config: str | None = None
    decision: str | None = None
    latency: str | None = None  # None: DEFAULT_LATENCY (hftbacktest), the config's (paper)
    queue: str = "risk_averse"
    exchange: str = "no_partial"
    venue: str = "hftbacktest"
    codes: tuple[str, ...] = ()
    bar: str = "1s"
    out: str | None = None


class UsageError(ValueError):
    """A bad argument: the message names it."""


def parse_value(raw: str) -> Any:
    """A --param/--sweep value as YAML reads a scalar: 2 -> int, 0.5 -> float, true -> bool."""
    import yaml

    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, (bool, int, float, str)) else raw


def parse_assignments(items: Sequence[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        if key in out:
            raise UsageError(f"{flag} {key}: given twice")
        out[key] = value
    return out


def build_spec(req: RunRequest) -> Any:
    """The BacktestSpec of a request (config file, then flags over it)."""
    from shijim.app.config import load_config, parse_config, with_overrides
    from shijim.app.schema import ConfigError
    from shijim.app.strategies import check_strategy_config
    from shijim.backtest.adapter import BacktestSpec
    from shijim.backtest.models import (
        LatencyModel,
        ModelError,
        QueueModel,
        VenueModels,
        duration_ns,
        parse_exchange,
    )

    try:
        cfg = load_config(req.config) if req.config else parse_config({})
        if req.strategy and req.strategy != cfg.strategy.name:
            cfg = dataclasses.replace(
                cfg, strategy=dataclasses.replace(cfg.strategy, name=req.strategy, params={})
            )
        if req.params:
            params = {**cfg.strategy.params, **req.params}
            strategy = dataclasses.replace(cfg.strategy, params=params)
            cfg = dataclasses.replace(cfg, strategy=strategy)
        cfg = with_overrides(cfg, strategy={"decision": req.decision})
        if req.venue == "paper":
            if req.latency not in (None, "zero", "shioaji"):
                raise UsageError("--latency: the paper venue takes zero or shioaji")
            cfg = with_overrides(cfg, paper={"latency": req.latency})
            latency = LatencyModel()  # the engine's paper venue has its own (cfg.paper)
        else:
            latency = LatencyModel.parse(req.latency or DEFAULT_LATENCY)
        check_strategy_config(cfg)
        models = VenueModels(latency, QueueModel.parse(req.queue), parse_exchange(req.exchange))
        bar_ns = duration_ns(req.bar, "--bar")
    except (ConfigError, ModelError) as exc:
        raise UsageError(str(exc)) from None
    if bar_ns <= 0:
        raise UsageError("--bar: expected > 0")
    return BacktestSpec(req.data, cfg, models, req.venue, req.codes, bar_ns)


def run_one(req: RunRequest) -> dict[str, Any]:
    """One backtest (in this process); its summary JSON, files written to ``req.out``."""
    from shijim.backtest.adapter import HftBacktestAdapter
    from shijim.backtest.report import summary_json, write_outputs

    spec = build_spec(req)
    result = HftBacktestAdapter(spec).run()
    params = dict(spec.cfg.strategy.params)
    if req.out:
        write_outputs(Path(req.out), result, spec, params)
    return {"summary": summary_json(result, spec, params), "text": result.summary.render()}


def _sweep_worker(req: RunRequest) -> dict[str, Any]:
    logging.getLogger().setLevel(logging.ERROR)  # one table, not a log per run
    try:
        return {"summary": run_one(req)["summary"]}
    except Exception as exc:  # one bad parameter set must not stop the grid
        return {"error": f"{type(exc).__name__}: {exc}"}


def sweep_grid(
    base: RunRequest, sweep: Mapping[str, str]
) -> list[tuple[dict[str, Any], RunRequest]]:
    """Every combination of the swept values, as (the varied values, the request)."""
    keys = list(sweep)
    values = []
    for k in keys:
        vals = [v for v in sweep[k].split(",") if v]
        if not vals:
            raise UsageError(f"--sweep {k}: no values")
        values.append(vals)
    out = []
    for n, combo in enumerate(itertools.product(*values)):
        varied: dict[str, Any] = {}
        req = base
        params = dict(base.params)
        for k, raw in zip(keys, combo, strict=True):
            if k in MODEL_KEYS:
                req = dataclasses.replace(req, **{k: raw})
                varied[k] = raw
            else:
                params[k] = varied[k] = parse_value(raw)
        out_dir = None if base.out is None else str(Path(base.out) / f"run-{n:03d}")
        out.append((varied, dataclasses.replace(req, params=params, out=out_dir)))
    return out


def run_sweep(
    base: RunRequest, sweep: Mapping[str, str], workers: int | None
) -> tuple[list[dict[str, Any]], str]:
    """The grid across processes (a fresh interpreter each: no shared ring, numba or state);
    rows in grid order and one Markdown table."""
    from shijim.backtest.report import sweep_table

    grid = sweep_grid(base, sweep)
    for _, req in grid:
        build_spec(req)  # every set checked before any process starts
    n = workers or min(len(grid), len(os.sched_getaffinity(0)))
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=max(1, n), mp_context=ctx) as pool:
        results = list(pool.map(_sweep_worker, [req for _, req in grid]))
    rows = [{"params": varied, **res} for (varied, _), res in zip(grid, results, strict=True)]
    return rows, sweep_table(rows, list(sweep))


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="backtest a strategy on recorded data")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="raw JSONL/SBE files or directories (the recorder's)")  # fmt: skip
    p.add_argument("--strategy", metavar="NAME", help="strategy name (docs/strategy.md)")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="a strategy parameter (repeatable)")  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="runtime YAML config (strategy, risk, fees)")
    p.add_argument("--decision", metavar="POLICY",
                   help="every_event, on_touch_change or interval_ms:N")  # fmt: skip
    p.add_argument("--latency",
                   help=f"zero, constant:ENTRY[,RESPONSE] (e.g. 15ms) or intp:FILE.npz "
                   f"(default {DEFAULT_LATENCY}; --venue paper: zero or shioaji, default the "
                   "config's)")  # fmt: skip
    p.add_argument("--queue", default="risk_averse",
                   help="risk_averse, power:N, power2:N, power3:N, log or log2")  # fmt: skip
    p.add_argument("--exchange", default="no_partial", help="no_partial or partial")
    p.add_argument("--venue", default="hftbacktest", choices=("hftbacktest", "paper"),
                   help="paper: the engine's paper venue (the runtime's replay)")  # fmt: skip
    p.add_argument("--code", action="append", default=[], help="only this code (repeatable)")
    p.add_argument("--bar", default="1s", help="equity sampling period (default 1s)")
    p.add_argument("--out", metavar="DIR", help="write summary, fills, equity, plot, report here")
    p.add_argument("--sweep", action="append", default=[], metavar="K=V1,V2",
                   help="run every combination across processes (repeatable)")  # fmt: skip
    p.add_argument("--workers", type=int, help="sweep processes (default: CPUs)")
    p.add_argument("--log-level", default="WARNING")
    return p


def backtest_main(argv: Sequence[str]) -> int:
    args = _parser("python -m shijim backtest").parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
    )
    from shijim.backtest.adapter import BacktestError

    try:
        params = {k: parse_value(v) for k, v in parse_assignments(args.param, "--param").items()}
        req = RunRequest(
            tuple(args.data), args.strategy, params, args.config, args.decision, args.latency,
            args.queue, args.exchange, args.venue, tuple(args.code), args.bar, args.out,
        )  # fmt: skip
        sweep = parse_assignments(args.sweep, "--sweep")
        if sweep:
            started = time.monotonic()
            rows, table = run_sweep(req, sweep, args.workers)
            print(table)
            print(f"\n{len(rows)} runs in {time.monotonic() - started:.1f} s", file=sys.stderr)
            if args.out:
                out = Path(args.out)
                out.mkdir(parents=True, exist_ok=True)
                (out / "sweep.md").write_text(table + "\n", encoding="utf-8")
                (out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
            return EXIT_FAILURE if any("error" in r for r in rows) else EXIT_OK
        done = run_one(req)
    except (UsageError, BacktestError) as exc:
        print(f"shijim backtest: {exc}", file=sys.stderr)
        return EXIT_BAD
    print(done["text"])
    if args.out:
        print(f"report: {Path(args.out) / 'report.md'}", file=sys.stderr)
    return EXIT_OK


def reconcile_main(argv: Sequence[str]) -> int:
    from shijim.backtest.reconcile import MarketTape, read_actions, reconcile, render

    p = argparse.ArgumentParser(
        prog="python -m shijim reconcile",
        description="fill-by-fill differences between two runs, with a reason for each",
    )
    p.add_argument("run_a", help="a run directory (with fills.jsonl) or a fills file")
    p.add_argument("run_b")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="the recording both ran on: each difference is explained by the market "
                   "events at the fill")  # fmt: skip
    p.add_argument("--all", action="store_true", help="also list the fills that agree")
    args = p.parse_args(argv)
    try:
        from shijim.strategy.journal import read_fills

        run_a, run_b = Path(args.run_a), Path(args.run_b)
        a, b = read_fills(run_a), read_fills(run_b)
        acts_a, acts_b = read_actions(run_a), read_actions(run_b)
        tape = MarketTape.read(args.data) if args.data else None
    except (OSError, ValueError) as exc:
        print(f"shijim reconcile: {exc}", file=sys.stderr)
        return EXIT_BAD
    result = reconcile(a, b, tape, acts_a, acts_b)
    print(render(result, args.run_a, args.run_b, show_same=args.all))
    return EXIT_OK


def main(argv: Sequence[str]) -> int:
    """``argv[0]`` is the subcommand (backtest or reconcile)."""
    command, rest = argv[0], list(argv[1:])
    try:
        return backtest_main(rest) if command == "backtest" else reconcile_main(rest)
    except SystemExit as exc:  # argparse: a bad flag (it printed why) or --help
        return EXIT_BAD if exc.code else EXIT_OK
