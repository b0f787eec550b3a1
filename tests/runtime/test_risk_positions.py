"""Position keeping: average cost, realised/marked PnL in TWD with contract multipliers."""

from __future__ import annotations

import pytest
from shijim.domain import Fill, Instrument, Side, instrument_for
from shijim.risk.positions import PositionKeeper

_n = 0


def fill(code: str, side: Side, qty: int, price: float, fee: float = 0.0) -> Fill:
    global _n
    _n += 1
    return Fill(f"f{_n}", "o1", code, side, qty, price, 0, fee)


def test_txf_round_trip_realises_points_times_200() -> None:
    pk = PositionKeeper(instrument_for)
    pk.apply_fill(fill("TXFL5", Side.BUY, 2, 20000.0))
    pk.apply_fill(fill("TXFL5", Side.BUY, 2, 20010.0))
    assert pk.position("TXFL5").avg_price == 20005.0
    pk.mark("TXFL5", 20015.0)
    assert pk.unrealised_pnl == pytest.approx(10 * 4 * 200)
    realised = pk.apply_fill(fill("TXFL5", Side.SELL, 3, 20025.0))
    assert realised == pytest.approx(20 * 3 * 200)
    assert pk.net("TXFL5") == 1
    assert pk.unrealised_pnl == pytest.approx(10 * 1 * 200)  # re-marked at 20015
    assert pk.gross == 1


def test_flip_opens_remainder_at_fill_price() -> None:
    pk = PositionKeeper(instrument_for)
    pk.apply_fill(fill("MXFL5", Side.SELL, 1, 20000.0))
    pk.apply_fill(fill("MXFL5", Side.BUY, 3, 19990.0))
    p = pk.position("MXFL5")
    assert p.net_qty == 2 and p.avg_price == 19990.0
    assert p.realised_pnl == pytest.approx(10 * 50)


def test_stock_lots_and_fees() -> None:
    pk = PositionKeeper(lambda code: Instrument.stock(code))
    pk.apply_fill(fill("2330", Side.BUY, 1, 600.0, fee=855.0))
    pk.apply_fill(fill("2330", Side.SELL, 1, 601.0, fee=2658.0))
    # 1 lot = 1000 shares: +1000 TWD gross, minus both fees
    assert pk.realised_pnl == pytest.approx(1000 - 855 - 2658)
    assert pk.position("2330").fees == pytest.approx(855 + 2658)
    assert pk.net("2330") == 0 and pk.gross == 0


def test_odd_lot_multiplier_is_one_share() -> None:
    pk = PositionKeeper(lambda code: Instrument.stock(code, odd_lot=True))
    pk.apply_fill(fill("2330", Side.BUY, 10, 600.0))
    pk.mark("2330", 610.0)
    assert pk.total_pnl == pytest.approx(100.0)


def test_reconcile_overwrites_and_bad_marks_are_ignored() -> None:
    pk = PositionKeeper(instrument_for)
    pk.set_position("TXFL5", -2, 20000.0)
    pk.mark("TXFL5", float("nan"))
    assert pk.unrealised_pnl == 0.0
    pk.mark("TXFL5", 19990.0)
    assert pk.unrealised_pnl == pytest.approx(10 * 2 * 200)
    assert pk.gross == 2
    pk.reset_day()
    assert pk.realised_pnl == 0.0 and pk.net("TXFL5") == -2


def test_unknown_code_is_an_error_naming_it() -> None:
    pk = PositionKeeper(instrument_for)
    with pytest.raises(ValueError, match="ZZZ"):
        pk.apply_fill(fill("ZZZ", Side.BUY, 1, 1.0))
