"""The venue models' texts, and the latency arithmetic the adapter uses to know when an answer
arrives, against the real hftbacktest's own (it must be the same, ns for ns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from backtest_data import MS, T0, book, ladder, write
from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.order import GTC, LIMIT
from shijim.backtest.models import (
    ORDER_LATENCY_DTYPE,
    LatencyModel,
    ModelError,
    QueueModel,
    duration_ns,
    parse_exchange,
)
from shijim.tools import hft_converter as hc


def test_texts_parse_and_bad_ones_are_named() -> None:
    assert LatencyModel.parse("zero").is_zero
    c = LatencyModel.parse("constant:10ms,250us")
    assert (c.entry_ns, c.response_ns) == (10 * MS, 250_000)
    assert c.round_trip(0) == 10 * MS + 250_000
    assert LatencyModel.parse("constant:5ms").response_ns == 5 * MS
    assert QueueModel.parse("power:3").n == 3.0 and QueueModel.parse("log2").kind == "log2"
    assert parse_exchange("partial") and not parse_exchange("no_partial")
    assert duration_ns("1.5s", "--bar") == 1_500_000_000
    for bad, what in [
        (lambda: LatencyModel.parse("constant:fast"), "--latency"),
        (lambda: LatencyModel.parse("lognormal"), "--latency"),
        (lambda: QueueModel.parse("power:-1"), "--queue"),
        (lambda: QueueModel.parse("fifo"), "--queue"),
        (lambda: parse_exchange("l3"), "--exchange"),
    ]:
        with pytest.raises(ModelError, match=what):
            bad()


def latency_rows() -> np.ndarray:
    """Recorded order latencies: entry and response legs that change from row to row."""
    rows = np.zeros(6, ORDER_LATENCY_DTYPE)
    rows["req_ts"] = T0 + 20 * MS + np.arange(6) * 100 * MS
    rows["exch_ts"] = rows["req_ts"] + np.array([3, 9, 4, 12, 5, 7]) * MS + 123
    rows["resp_ts"] = rows["exch_ts"] + np.array([2, 8, 1, 6, 3, 11]) * MS + 7
    return rows


def test_bad_latency_files_are_refused_by_name(tmp_path: Path) -> None:
    rows = latency_rows()
    rows["resp_ts"][2] = rows["exch_ts"][2] - 1
    np.savez(tmp_path / "lat.npz", data=rows)
    with pytest.raises(ModelError, match="row 2: expected req_ts <= exch_ts <= resp_ts"):
        LatencyModel.parse(f"intp:{tmp_path / 'lat.npz'}")
    np.savez(tmp_path / "wrong.npz", other=rows)
    with pytest.raises(ModelError, match="no 'data' array"):
        LatencyModel.parse(f"intp:{tmp_path / 'wrong.npz'}")


def test_interpolated_latency_arrives_when_hftbacktest_says(tmp_path: Path) -> None:
    """Orders sent through hftbacktest with its IntpOrderLatency; each answer's exchange and
    receipt times are the ones our model computes."""
    rows = latency_rows()
    np.savez(tmp_path / "lat.npz", data=rows)
    model = LatencyModel.parse(f"intp:{tmp_path / 'lat.npz'}")
    asks = ladder(23001, 1)
    data = write(  # a book every ms (a far level changes: hftbacktest gets a row each)
        tmp_path,
        [book(t * MS, ladder(23000, -1), [*asks[:4], (23005, 10 + t % 2)]) for t in range(900)],
    )
    rows_md = hc.convert([data]).codes["TXFL6"].rows
    asset = model.apply(
        BacktestAsset().data([rows_md]).linear_asset(200.0).tick_size(1.0).lot_size(1.0)
    )
    hbt = HashMapMarketDepthBacktest([asset.risk_adverse_queue_model().no_partial_fill_exchange()])
    hbt.elapse(0)
    # Before the first row, between rows (interpolated), on a row, after the last row.
    for n, t in enumerate([T0, T0 + 57 * MS, T0 + 220 * MS, T0 + 600 * MS + 1]):
        if t > hbt.current_timestamp:
            hbt.elapse(t - hbt.current_timestamp)
        req = hbt.current_timestamp
        assert hbt.submit_buy_order(0, n + 1, 22990.0, 1.0, GTC, LIMIT, False) == 0
        assert hbt.wait_order_response(0, n + 1, 200 * MS) == 0
        sent, exch, received = hbt.order_latency(0)
        assert sent == req
        assert exch - sent == model.entry(req), n
        assert received - exch == model.response(exch), n
        assert received - sent == model.round_trip(req), n
