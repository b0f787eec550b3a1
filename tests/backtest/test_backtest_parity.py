"""The same recording through the runtime's replay (paper venue, zero latency) and through the
backtest (hftbacktest, zero latency, risk-averse queue): the same decisions, and fills that
differ only where the two fill rules differ, each difference named by ``reconcile``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from backtest_data import MS, T0, book, ladder, run_script, tick, write
from hft_sim_day import sim_records
from shijim.__main__ import main as shijim_main
from shijim.app.config import parse_config
from shijim.app.strategies import STRATEGIES
from shijim.backtest import BacktestSpec, HftBacktestAdapter
from shijim.backtest.reconcile import DECISION, QUEUE, TOUCH, MarketTape, reconcile

ROOT = Path(__file__).resolve().parents[2]
BID, ASK = ladder(23000, -1), ladder(23001, 1)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("day")
    return write(tmp, sim_records(codes=("TXFL6",), seconds=20.0, seed=11, rate_scale=0.5))


@pytest.mark.slow
def test_the_paper_venue_backtest_is_the_runtimes_replay(day: Path, tmp_path: Path) -> None:
    """``python -m shijim run --feed replay: --pace fast`` (a real process) and ``backtest
    --venue paper`` on one file: the same run, count for count."""
    cfg = {"universe": {"codes": ["TXFL6"]}, "paper": {"latency": "zero"}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "shijim", "run", "--config", str(tmp_path / "cfg.yaml")]
    cmd += ["--feed", f"replay:{day}", "--pace", "fast", "--summary-json", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(out.read_text())
    spec = BacktestSpec((str(day),), parse_config(cfg), venue="paper")
    ours = HftBacktestAdapter(spec).run().summary.counts()
    assert ours["fills"] > 10
    keys = ["events", "decisions", "standby_answers", "orders", "amends", "fills", "positions"]
    assert {k: ours[k] for k in keys} == {k: run[k] for k in keys}
    assert ours["pnl"] == pytest.approx(run["pnl"]) and ours["fees"] == pytest.approx(run["fees"])
    assert ours["markouts"] == run["markouts"]


SCRIPT = [
    {"at": 0, "do": "place", "side": "BUY", "price": 23000, "ref": "b1"},
    {"at": 0, "do": "place", "side": "SELL", "price": 23002, "ref": "s1"},
    {"at": 25 * MS, "do": "amend", "ref": "s1", "price": 23001},
    {"at": 45 * MS, "do": "cancel", "ref": "s1"},
    {"at": 50 * MS, "do": "place", "side": "BUY", "price": 22999, "ref": "b2"},
]


def agreeing_day(tmp: Path) -> Path:
    """Every fill here comes from a trade at or through the price with a known aggressor:
    both venues' rules give the same fills."""
    return write(
        tmp,
        [
            book(0, BID, ASK),
            tick(10 * MS, 23000, 4, "sell"),
            book(10 * MS, [(23000, 6), *BID[1:]], ASK),
            tick(20 * MS, 23001, 3, "buy"),  # lifts asks at 23001: not our 23002
            book(20 * MS, [(23000, 6), *BID[1:]], [(23001, 7), *ASK[1:]]),
            book(30 * MS, [(23000, 6), *BID[1:]], [(23001, 7), *ASK[1:]]),
            tick(40 * MS, 23001, 8, "buy"),  # through the 7 ahead of our amended ask at 23001
            book(40 * MS, [(23000, 6), *BID[1:]], [(23002, 10), *ASK[2:]]),
            tick(60 * MS, 22999, 17, "sell"),  # through our 23000 and into 22999 (b2: 10 ahead)
            book(60 * MS, [(22999, 3), *BID[2:]], [(23002, 10), *ASK[2:]]),
            book(70 * MS, [(22999, 4), *BID[2:]], [(23002, 10), *ASK[2:]]),
        ],
    )


def test_where_the_rules_agree_decisions_and_fills_are_the_same(
    tmp_path: Path, scripted: None
) -> None:
    data = agreeing_day(tmp_path)
    hbt, paper = run_script(data, SCRIPT), run_script(data, SCRIPT, venue="paper")
    assert [(f.exec_ns - T0, f.side, f.price) for f in hbt.journal.fills] == [
        (40 * MS, "SELL", 23001.0),
        (60 * MS, "BUY", 23000.0),
    ]
    strip = [(a.t_ns, a.code, a.action, a.side, a.price, a.qty) for a in hbt.journal.actions]
    assert strip == [
        (a.t_ns, a.code, a.action, a.side, a.price, a.qty) for a in paper.journal.actions
    ]
    r = reconcile(paper.journal.fills, hbt.journal.fills, MarketTape.read([str(data)]))
    assert (len(r.same), r.differences) == (2, [])
    assert hbt.summary.counts() == paper.summary.counts()


def test_where_they_differ_reconcile_names_the_rule(tmp_path: Path, scripted: None) -> None:
    """A touch (the ask comes to our bid, nothing trades through) fills in hftbacktest at
    20 ms; the paper venue waits for the trade through the bid at 40 ms. One difference, named
    touch, and the same decisions."""
    data = write(
        tmp_path,
        [
            book(0, BID, ASK),
            book(10 * MS, BID[1:], ASK),  # the bids at 23000 are cancelled: ours alone there
            book(20 * MS, BID[1:], [(23000, 3), *ASK[:4]]),  # the ask touches 23000
            book(30 * MS, BID[1:], ASK),
            tick(40 * MS, 22998, 5, "sell"),  # through 23000
            book(40 * MS, BID[2:], ASK),
        ],
    )
    step = [{"at": 0, "do": "place", "side": "BUY", "price": 23000, "ref": "b"}]
    hbt, paper = run_script(data, step), run_script(data, step, venue="paper")
    r = reconcile(
        paper.journal.fills,
        hbt.journal.fills,
        MarketTape.read([str(data)]),
        paper.journal.actions,
        hbt.journal.actions,
    )
    assert r.first_decision_difference is None
    (d,) = r.differences
    assert d.a is not None and d.b is not None
    assert (d.what, d.kind, d.a.exec_ns - T0, d.b.exec_ns - T0) == ("time", TOUCH, 40 * MS, 20 * MS)
    assert "run B filled first" in d.reason and "touch" in d.reason


def test_market_making_decides_alike_until_the_first_fill_that_differs(
    day: Path, tmp_path: Path
) -> None:
    """The demo on a simulated day through both venues, written to run directories and
    reconciled by the command: identical actions before the first fill difference; the first
    difference is explained by a fill rule; later ones by the decisions that followed."""
    base = ["backtest", "--data", str(day), "--strategy", "market_making", "--latency", "zero"]
    assert shijim_main([*base, "--venue", "paper", "--out", str(tmp_path / "paper")]) == 0
    assert shijim_main([*base, "--out", str(tmp_path / "hbt")]) == 0
    from shijim.backtest.reconcile import read_actions
    from shijim.strategy.journal import read_fills

    acts = [read_actions(tmp_path / v) for v in ("paper", "hbt")]
    fills = [read_fills(tmp_path / v) for v in ("paper", "hbt")]
    r = reconcile(*fills, MarketTape.read([str(day)]), *acts)
    assert r.differences, "the two fill rules differ on a real stream"
    first = r.differences[0]
    assert first.kind in (QUEUE, TOUCH, "unknown aggressor", "through")
    before = [[a for a in acts_ if a.t_ns < first.t_ns] for acts_ in acts]
    key = [[(a.t_ns, a.action, a.side, a.price) for a in rows] for rows in before]
    assert key[0] == key[1] and key[0]
    assert {d.kind for d in r.differences} <= {QUEUE, TOUCH, "unknown aggressor", DECISION}


def test_the_reconcile_command_prints_each_difference_with_its_reason(
    day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["backtest", "--data", str(day), "--strategy", "market_making", "--latency", "zero"]
    assert shijim_main([*base, "--venue", "paper", "--out", str(tmp_path / "a")]) == 0
    assert shijim_main([*base, "--queue", "power:2", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    args = ["reconcile", str(tmp_path / "a"), str(tmp_path / "b"), "--data", str(day)]
    assert shijim_main(args) == 0
    out = capsys.readouterr().out
    assert "paper (the engine's venue)" in out and "queue power:2" in out
    assert "by reason:" in out and "decisions: first difference at action" in out
    assert "run A filled first" in out or "run B filled first" in out
    assert shijim_main(["reconcile", str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_runs_unchanged_on_both_venues(day: Path, name: str) -> None:
    """The registered strategies (ofi_momentum works its orders with the SmartChasingEngine)
    trade through hftbacktest as through the paper venue, deciding on the same events."""
    cfg = parse_config({"strategy": {"name": name}, "paper": {"latency": "zero"}})
    hbt = HftBacktestAdapter(BacktestSpec((str(day),), cfg)).run().summary
    paper = HftBacktestAdapter(BacktestSpec((str(day),), cfg, venue="paper")).run().summary
    if name in ("market_making", "ofi_momentum"):  # others may not trade on 20 s of data
        assert hbt.fills > 0 and paper.fills > 0
    assert hbt.decisions == paper.decisions and hbt.events == paper.events
    assert hbt.working_left == 0 and not hbt.dropped.keys() - {"simtrade_book", "simtrade_trade"}
