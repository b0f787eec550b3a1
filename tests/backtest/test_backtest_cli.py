"""``python -m shijim backtest``: the files it writes, its errors, and a sweep across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from backtest_data import write
from hft_sim_day import sim_records
from shijim.__main__ import main as shijim_main
from shijim.strategy.journal import read_fills

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("day")
    return write(tmp, sim_records(codes=("TXFL6",), seconds=15.0, seed=4, rate_scale=0.5))


def test_a_backtest_writes_summary_fills_equity_plot_and_report(
    day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bt"
    args = ["backtest", "--data", str(day), "--strategy", "market_making"]
    args += ["--param", "half_spread_ticks=2", "--latency", "constant:2ms", "--out", str(out)]
    assert shijim_main(args) == 0
    text = capsys.readouterr().out
    assert "venue         hftbacktest 2.4.4, latency constant, entry 2ms, response 2ms" in text
    assert "equity        Sharpe" in text
    summary = json.loads((out / "summary.json").read_text())
    for key in ("pnl", "gross_pnl", "fees", "fills", "sharpe", "max_drawdown", "markouts"):
        assert key in summary, key
    assert summary["backtest"]["strategy_params"] == {"half_spread_ticks": 2}
    assert summary["max_drawdown"] >= 0
    fills = read_fills(out)
    assert len(fills) == summary["fills"] > 0
    assert sum(f.fee for f in fills) == pytest.approx(summary["fees"])
    equity = (out / "equity.csv").read_text().splitlines()
    assert equity[0] == "t_ns,net_pnl_twd,position_TXFL6" and len(equity) > 10
    assert float(equity[-1].split(",")[1]) == pytest.approx(summary["pnl"], abs=1e-3)
    assert (out / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "![equity and position](equity.png)" in report
    assert f"| net PnL (TWD, after fees and taxes) | {summary['pnl']:,.0f} |" in report
    assert json.loads((out / "manifest.json").read_text())["codes"]["TXFL6"]["tick_size"] == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--queue", "fifo"], "--queue: 'fifo'"),
        (["--latency", "constant:soon"], "--latency: 'soon'"),
        (["--param", "half_spread_ticks=-1"], "strategy.params.half_spread_ticks"),
        (["--param", "no_such=1"], "strategy.params.no_such: unknown key"),
        (["--strategy", "nope"], 'unknown strategy "nope"'),
        (["--venue", "paper", "--latency", "constant:1ms"], "the paper venue takes zero"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(
    day: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shijim_main(["backtest", "--data", str(day), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_or_empty_data_exit_2_naming_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shijim_main(["backtest", "--data", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl: no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty.jsonl").write_text("")
    assert shijim_main(["backtest", "--data", str(tmp_path / "empty.jsonl")]) == 2
    assert "no trades or books to backtest" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_runs_the_grid_across_processes_in_one_table(day: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "shijim", "backtest", "--data", str(day)]
    cmd += ["--strategy", "market_making", "--sweep", "half_spread_ticks=1,2"]
    cmd += ["--sweep", "latency=zero,constant:5ms", "--workers", "2", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.strip().splitlines()
    assert table[0].startswith("| half_spread_ticks | latency | net PnL |")
    assert len(table) == 2 + 4
    rows = json.loads((out / "sweep.json").read_text())
    assert [r["params"] for r in rows] == [
        {"half_spread_ticks": 1, "latency": "zero"},
        {"half_spread_ticks": 1, "latency": "constant:5ms"},
        {"half_spread_ticks": 2, "latency": "zero"},
        {"half_spread_ticks": 2, "latency": "constant:5ms"},
    ]
    assert len({r["summary"]["pnl"] for r in rows}) > 1, "the parameters change the result"
    # A worker's run is the run this process gives for the same parameters.
    args = ["backtest", "--data", str(day), "--strategy", "market_making"]
    one = tmp_path / "one"
    params = ["--param", "half_spread_ticks=2", "--latency", "constant:5ms", "--out", str(one)]
    assert shijim_main([*args, *params]) == 0
    mine = json.loads((one / "summary.json").read_text())
    assert rows[3]["summary"]["pnl"] == mine["pnl"] and rows[3]["summary"]["fills"] == mine["fills"]
    assert (out / "run-003" / "fills.jsonl").read_text() == (one / "fills.jsonl").read_text()
