"""A backtest's files: the summary (text and JSON, the run summary's shape), the fills and
actions journals, the equity series (CSV), an equity and position plot (PNG) and a Markdown
report that ties them together."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shijim.backtest.adapter import BacktestResult, BacktestSpec
from shijim.backtest.equity import EquitySeries, stats
from shijim.strategy.journal import ACTIONS_FILE, FILLS_FILE, write_rows

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
SUMMARY_TXT = "summary.txt"
EQUITY_CSV = "equity.csv"
EQUITY_PNG = "equity.png"
REPORT_MD = "report.md"
MANIFEST_JSON = "manifest.json"


def summary_json(result: BacktestResult, spec: BacktestSpec, params: Mapping[str, Any]) -> dict:
    st = stats(result.equity)
    return {
        **result.summary.to_json(),
        "backtest": {
            "data": list(spec.data),
            "venue": result.venue,
            "strategy_params": dict(params),
            "bar_ns": spec.bar_ns,
            "equity": {"bars": st.bars, "trading_days": st.days},
            "adapter": result.counts,
        },
    }


def write_outputs(
    out: Path, result: BacktestResult, spec: BacktestSpec, params: Mapping[str, Any]
) -> dict[str, Path]:
    """Every file of one backtest into ``out`` (created); returns them by name."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary": out / SUMMARY_JSON,
        "summary_txt": out / SUMMARY_TXT,
        "fills": out / FILLS_FILE,
        "actions": out / ACTIONS_FILE,
        "equity": out / EQUITY_CSV,
        "report": out / REPORT_MD,
    }
    files["summary"].write_text(
        json.dumps(summary_json(result, spec, params), indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    files["summary_txt"].write_text(result.summary.render() + "\n", encoding="utf-8")
    write_rows(files["fills"], result.journal.fills)
    write_rows(files["actions"], result.journal.actions)
    write_equity_csv(files["equity"], result.equity)
    if result.conversion:
        files["manifest"] = out / MANIFEST_JSON
        files["manifest"].write_text(json.dumps(result.conversion, indent=1) + "\n")
    png = plot_equity(out / EQUITY_PNG, result.equity)
    if png is not None:
        files["plot"] = png
    files["report"].write_text(markdown(result, spec, params, files), encoding="utf-8")
    return files


def write_equity_csv(path: Path, eq: EquitySeries) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t_ns", "net_pnl_twd", *(f"position_{c}" for c in eq.codes)])
        for t, p, pos in zip(eq.t_ns, eq.pnl, eq.positions, strict=True):
            w.writerow([t, f"{p:.6f}", *pos])


def plot_equity(path: Path, eq: EquitySeries) -> Path | None:
    """Net PnL over event time (top) and the net position of each code (bottom). None if
    matplotlib is missing (the backtest extra installs it) or there is nothing to draw."""
    if len(eq) < 2:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no %s (pip install 'shijim[backtest]')", path)
        return None
    import numpy as np

    t = np.asarray(eq.t_ns, dtype="datetime64[ns]")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(2, 1))
    top.plot(t, eq.pnl, color="tab:blue", linewidth=1.0)
    top.axhline(0.0, color="grey", linewidth=0.5)
    top.set_ylabel("net PnL (TWD)")
    top.set_title("equity (net of fees and taxes, marked at mid) and position; times UTC")
    positions = np.asarray(eq.positions, dtype=np.int64).reshape(len(eq), -1)
    for k, code in enumerate(eq.codes):
        if positions[:, k].any():
            bottom.step(t, positions[:, k], where="post", linewidth=1.0, label=code)
    bottom.axhline(0, color="grey", linewidth=0.5)
    bottom.set_ylabel("position (lots)")
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(loc="upper left", fontsize="small")
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(
    result: BacktestResult,
    spec: BacktestSpec,
    params: Mapping[str, Any],
    files: Mapping[str, Path],
) -> str:
    s = result.summary
    st = stats(result.equity)
    rel = {k: p.name for k, p in files.items()}
    lines = [
        f"# Backtest: {s.strategy}",
        "",
        f"- data: {', '.join(f'`{d}`' for d in spec.data)}",
        f"- venue: {result.venue}",
        f"- decision policy: `{s.decision}`",
        f"- strategy parameters: {_params(params)}",
        "",
        "## Result",
        "",
        "| | |",
        "|---|---:|",
        f"| net PnL (TWD, after fees and taxes) | {s.pnl:,.0f} |",
        f"| gross PnL (realised + unrealised) | {s.gross_pnl:,.0f} |",
        f"| fees and taxes | {s.fees:,.0f} |",
        f"| Sharpe (annualised, {st.bars} bars of {spec.bar_ns / 1e9:g} s) | "
        f"{'n/a' if st.sharpe is None else f'{st.sharpe:.2f}'} |",
        f"| max drawdown (TWD) | {st.max_drawdown:,.0f} |",
        f"| fills (lots) | {s.fills} ({s.filled_qty}) |",
        f"| orders accepted / sent, amends, cancels | {s.orders_accepted} / {s.orders_sent}, "
        f"{s.amends}, {s.cancels} |",
        f"| decisions (by the strategy + by its standby) | {s.decisions} "
        f"({s.decisions - s.standby_answers} + {s.standby_answers}) |",
        f"| events (ticks + books) | {s.events} ({s.ticks} + {s.bidasks}) |",
        f"| final positions | {_positions(s.positions)} |",
        "",
        "Markouts (the mid's move after our fills; negative: the market moved against us):",
        "",
        "| horizon | fills | mid move (TWD) | per lot (points) | vs fill price (TWD) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for m in s.markouts:
        lines.append(
            f"| {m.horizon_s:g} s | {m.fills} | {m.mid_move_twd:,.0f} | {m.mid_move_mean:+.2f} | "
            f"{m.vs_fill_twd:,.0f} |"
        )
    if "plot" in rel:
        lines += ["", f"![equity and position]({rel['plot']})"]
    rejects = ", ".join(f"{k} {v}" for k, v in sorted(s.rejects.items())) or "none"
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items())) or "none"
    lines += [
        "",
        "## Notes",
        "",
        f"- risk rejects: {rejects}",
        f"- input dropped (by cause): {dropped}",
        *(
            [
                "- hftbacktest's own position (not used; ours comes from its order states): "
                + ", ".join(f"{k} {v:+g}" for k, v in sorted(result.hbt_positions.items()))
            ]
            if result.hbt_positions
            else []
        ),
        "- equity: the engine account's net PnL (realised + marked at mid - fees), sampled at "
        "the end of each bar of event time with market data; Sharpe from the bar changes, "
        "annualised with 252 trading days; max drawdown from the running peak (TWD).",
        "",
        "## Files",
        "",
    ]
    lines += [f"- `{name}`" for name in sorted(set(rel.values()))]
    return "\n".join(lines) + "\n"


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in sorted(params.items())) or "defaults"


def _positions(p: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:+d}" for k, v in sorted(p.items()) if v) or "flat"


def sweep_table(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """One Markdown table: a row per parameter set."""
    cols = [*keys, "net PnL", "gross", "fees", "fills", "Sharpe", "max DD", "decisions", "error"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        s = r.get("summary") or {}
        sharpe = s.get("sharpe")
        cells = [str(r["params"][k]) for k in keys]
        if s:
            cells += [
                f"{s['pnl']:,.0f}",
                f"{s['gross_pnl']:,.0f}",
                f"{s['fees']:,.0f}",
                str(s["fills"]),
                "n/a" if sharpe is None else f"{sharpe:.2f}",
                f"{s['max_drawdown']:,.0f}",
                str(s["decisions"]),
                "",
            ]
        else:
            cells += [""] * 7 + [str(r.get("error", ""))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
