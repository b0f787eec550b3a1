"""Position keeping over the engine's account: average cost, realised/marked PnL in TWD with
contract multipliers, fees, exact realised PnL, reconciliation, a new day, adopted codes."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from engine_market import Market
from shijim.domain import Fill, Instrument, Side, instrument_for
from shijim.risk.positions import PositionKeeper

import shijim_core as sc

_n = 0


def fill(code: str, side: Side, qty: int, price: float, fee: float = 0.0) -> Fill:
    global _n
    _n += 1
    return Fill(f"f{_n}", "o1", code, side, qty, price, 0, fee)


def keeper(codes: list[str] | None = None, lookup=instrument_for) -> PositionKeeper:
    return PositionKeeper(sc.Engine(codes or [], latency="zero"), lookup)


def test_txf_round_trip_realises_points_times_200(market: Market) -> None:
    eng = sc.Engine(["TXFL5"], latency="zero")
    market.attach(eng)
    pk = PositionKeeper(eng, instrument_for)
    pk.apply_fill(fill("TXFL5", Side.BUY, 2, 20000.0))
    pk.apply_fill(fill("TXFL5", Side.BUY, 2, 20010.0))
    assert pk.position("TXFL5").avg_price == 20005.0
    market.quote("TXFL5", 20014.5, 20015.5)  # the engine marks at the mid, 20015
    assert pk.unrealised_pnl == pytest.approx(10 * 4 * 200)
    before = pk.position("TXFL5").realised_pnl
    assert pk.apply_fill(fill("TXFL5", Side.SELL, 3, 20025.0)) == 1  # the net position after
    assert pk.position("TXFL5").realised_pnl - before == pytest.approx(20 * 3 * 200)
    assert pk.net("TXFL5") == 1
    assert pk.unrealised_pnl == pytest.approx(10 * 1 * 200)  # still marked at 20015
    assert pk.gross == 1
    assert pk.position("TXFL5").mark_price == 20015.0


def test_flip_opens_remainder_at_fill_price() -> None:
    pk = keeper()
    pk.apply_fill(fill("MXFL5", Side.SELL, 1, 20000.0))
    pk.apply_fill(fill("MXFL5", Side.BUY, 3, 19990.0))
    p = pk.position("MXFL5")
    assert p.net_qty == 2 and p.avg_price == 19990.0
    assert p.realised_pnl == pytest.approx(10 * 50)


def test_stock_lots_and_fees() -> None:
    pk = keeper(lookup=lambda code: Instrument.stock(code))
    pk.apply_fill(fill("2330", Side.BUY, 1, 600.0, fee=855.0))
    pk.apply_fill(fill("2330", Side.SELL, 1, 601.0, fee=2658.0))
    # 1 lot = 1000 shares: +1000 TWD gross, minus both fees
    assert pk.realised_pnl == pytest.approx(1000 - 855 - 2658)
    assert pk.position("2330").fees == pytest.approx(855 + 2658)
    assert pk.fees == pytest.approx(855 + 2658)
    assert pk.total_pnl == pytest.approx(1000 - 855 - 2658)
    assert pk.net("2330") == 0 and pk.gross == 0


def test_odd_lot_multiplier_is_one_share(market: Market) -> None:
    eng = sc.Engine(["2330"], latency="zero", instruments={"2330": {"multiplier": 1.0}})
    market.attach(eng)
    pk = PositionKeeper(eng, lambda code: Instrument.stock(code, odd_lot=True))
    pk.apply_fill(fill("2330", Side.BUY, 10, 600.0))
    market.quote("2330", 609.5, 610.5)
    assert pk.total_pnl == pytest.approx(100.0)


def test_reconcile_overwrites_and_a_new_day_keeps_positions(market: Market) -> None:
    eng = sc.Engine(["TXFL5"], latency="zero")
    market.attach(eng)
    pk = PositionKeeper(eng, instrument_for)
    pk.apply_fill(fill("TXFL5", Side.BUY, 1, 19000.0, fee=60.0))
    pk.apply_fill(fill("TXFL5", Side.SELL, 1, 19001.0, fee=60.0))
    pk.set_position("TXFL5", -2, 20000.0)
    assert pk.unrealised_pnl == 0.0  # no book yet: not marked
    market.quote("TXFL5", 19989.5, 19990.5)
    assert pk.unrealised_pnl == pytest.approx(10 * 2 * 200)
    assert pk.gross == 2 and pk.realised_pnl == pytest.approx(200 - 120)
    pk.reset_day()
    assert pk.realised_pnl == 0.0 and pk.fees == 0.0 and pk.net("TXFL5") == -2
    assert pk.total_pnl == pytest.approx(10 * 2 * 200)
    # A broker average with more than 6 decimals is rounded, not refused.
    pk.set_position("TXFL5", 3, 20000.1234567)
    assert pk.position("TXFL5").avg_price == pytest.approx(20000.123457)


def test_a_fill_price_with_binary_noise_is_booked_at_the_wire_price() -> None:
    """A broker's float (600.3 computed as 600.3000000000001) is booked at its 6-decimal price,
    not refused: the deal happened."""
    pk = keeper(["2330"])
    assert pk.apply_fill(fill("2330", Side.BUY, 2, 600.1 + 0.2)) == 2
    assert pk.position("2330").avg_price == 600.3
    with pytest.raises(ValueError, match="price"):
        pk.apply_fill(fill("2330", Side.BUY, 1, math.nan))


def test_unknown_code_is_an_error_naming_it_and_configured_codes_are_adopted() -> None:
    pk = keeper()
    with pytest.raises(ValueError, match="ZZZ"):
        pk.apply_fill(fill("ZZZ", Side.BUY, 1, 1.0))
    # A code the engine was not built with but the instruments know: adopted by the engine,
    # with the instrument's multiplier.
    pk.apply_fill(fill("MXFL5", Side.BUY, 1, 100.0))
    pk.apply_fill(fill("MXFL5", Side.SELL, 1, 101.0))
    assert pk.realised_pnl == pytest.approx(50.0)
    assert pk.codes() == ["MXFL5"]


def test_one_code_id_mapping_follows_adoptions_for_risk_and_the_venue() -> None:
    """The engine's ``code_ids`` is the one code -> id lookup: the keeper, the reference prices
    and the paper venue read the same live mapping, so a code adopted for a fill is known to
    all of them at once, and nobody may write it."""
    from shijim.execution.paper import PaperVenue
    from shijim.risk.reference import ReferencePrices

    eng = sc.Engine(["TXFL5"], latency="zero")
    pk, refs, venue = PositionKeeper(eng, instrument_for), ReferencePrices(eng), PaperVenue(eng)
    assert dict(eng.code_ids) == {"TXFL5": 0}
    assert refs.code_id("MXFL5") is None and math.isnan(refs.get("MXFL5"))
    pk.apply_fill(fill("MXFL5", Side.BUY, 1, 100.0))
    assert dict(eng.code_ids) == {"TXFL5": 0, "MXFL5": 1} == {c: eng.code_id(c) for c in eng.codes}
    assert refs.code_id("MXFL5") == 1
    assert venue._code_ids.get("MXFL5") == 1
    with pytest.raises(TypeError):
        eng.code_ids["ZZZ"] = 9  # type: ignore[index]


def test_a_bad_fill_is_refused_loudly() -> None:
    pk = keeper(["TXFL5"])
    with pytest.raises(ValueError, match="qty"):
        pk.apply_fill(fill("TXFL5", Side.BUY, 0, 100.0))
    with pytest.raises(ValueError, match="price"):
        pk.apply_fill(fill("TXFL5", Side.BUY, 1, -5.0))
    assert pk.net("TXFL5") == 0
    assert pk.codes() == []  # nothing booked: no position listed for it


def test_realised_pnl_is_exact_over_many_fractional_round_trips() -> None:
    # Odd-lot shares on the 0.05 / 0.01 ladder: prices binary floats cannot hold.
    pk = keeper()
    code = "2884"
    for _ in range(1000):
        pk.apply_fill(fill(code, Side.BUY, 3, 27.15))
        pk.apply_fill(fill(code, Side.BUY, 2, 27.2))
        pk.apply_fill(fill(code, Side.SELL, 4, 27.25))
        pk.apply_fill(fill(code, Side.SELL, 1, 27.1))
    # Per cycle: cost 3*27.15 + 2*27.2 = 135.85; proceeds 4*27.25 + 27.1 = 136.1 -> 0.25.
    assert pk.realised_points_exact(code) == Fraction(1000 * 25, 100)
    assert pk.realised_pnl == 250 * instrument_for(code).multiplier
    assert pk.net(code) == 0 and pk.position(code).avg_price == 0.0
    # A partial close at a non-representable average rounds by under 10^-6 point; the rest of
    # the position carries the remainder, so going flat realises exactly what the prices say.
    pk.apply_fill(fill(code, Side.BUY, 1, 10.01))
    pk.apply_fill(fill(code, Side.BUY, 2, 10.02))
    before = pk.realised_points_exact(code)
    pk.apply_fill(fill(code, Side.SELL, 1, 10.03))
    avg = (Fraction(1001, 100) + 2 * Fraction(1002, 100)) / 3
    assert abs(pk.realised_points_exact(code) - before - (Fraction(1003, 100) - avg)) < Fraction(
        1, 10**6
    )
    pk.apply_fill(fill(code, Side.SELL, 2, 10.0))
    assert pk.realised_points_exact(code) - before == Fraction(1003 + 2000, 100) - (
        Fraction(1001, 100) + 2 * Fraction(1002, 100)
    )


def test_the_strategies_view_of_positions_follows_the_account_without_copies() -> None:
    """``view()`` (a strategy's ``StrategyContext.positions``) is the one lookup ``net`` reads:
    it follows fills and adopted codes, has 0 for a code without fills, and iterates the codes
    with a fill in order."""
    pk = keeper(["TXFL5"])
    view = pk.view()
    assert view is pk.view()  # not a copy per call
    assert view["TXFL5"] == view.get("TXFL5", 0) == pk.net("TXFL5") == 0 and len(view) == 0
    pk.apply_fill(fill("TXFL5", Side.BUY, 2, 20000.0))
    pk.apply_fill(fill("2330", Side.SELL, 1, 1000.0))  # adopted into the engine
    assert view["TXFL5"] == pk.net("TXFL5") == 2 and view.get("2330", 0) == pk.net("2330") == -1
    assert view["MXFL5"] == 0  # never a KeyError: no fill, no position
    assert list(view) == pk.codes() == ["TXFL5", "2330"] and len(view) == 2
