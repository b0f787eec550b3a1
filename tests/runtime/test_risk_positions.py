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


def test_realised_pnl_is_exact_over_many_fractional_round_trips() -> None:
    from fractions import Fraction

    # Odd-lot shares (multiplier 1) on the 0.05 / 0.01 ladder: prices binary floats cannot hold.
    pk = PositionKeeper(instrument_for)
    code = "2884"
    for _ in range(1000):
        pk.apply_fill(fill(code, Side.BUY, 3, 27.15))
        pk.apply_fill(fill(code, Side.BUY, 2, 27.2))
        pk.apply_fill(fill(code, Side.SELL, 4, 27.25))
        pk.apply_fill(fill(code, Side.SELL, 1, 27.1))
    # Per cycle: cost 3*27.15 + 2*27.2 = 135.85; proceeds 4*27.25 + 27.1 = 136.1 -> 0.25.
    mult = Fraction(round(instrument_for(code).multiplier * 1_000_000), 1_000_000)
    assert pk.realised_pnl_exact == Fraction(1000 * 25, 100) * mult
    assert pk.net(code) == 0 and pk.position(code).avg_price == 0.0
    # A partial close at a non-representable average realises the exact fraction.
    pk.apply_fill(fill(code, Side.BUY, 1, 10.01))
    pk.apply_fill(fill(code, Side.BUY, 2, 10.02))
    before = pk.realised_pnl_exact
    pk.apply_fill(fill(code, Side.SELL, 1, 10.03))
    avg = (Fraction(1001, 100) + 2 * Fraction(1002, 100)) / 3
    assert pk.realised_pnl_exact - before == (Fraction(1003, 100) - avg) * mult
