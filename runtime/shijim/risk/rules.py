"""Pure pre-trade risk decisions.

``check_new_order`` takes everything it needs as arguments (the intent, the instrument, the
reference price, the code's net position and working quantities, the gross position, the number
of working orders, today's PnL, the limits and the trading state) and returns ``None`` to accept
or a ``Rejection``. No I/O, no clock, no shared state: the gateway gathers the inputs. The order
of the checks is fixed (documented in docs/risk.md) so a given order always gets the same reason.
"""

from __future__ import annotations

import math

from shijim.domain import Instrument, OrderIntent, Rejection, RejectReason, Side, TradingState
from shijim.risk.code_gate import CodeHoldState
from shijim.risk.limits import RiskLimits

# Enum members bound once as module globals: reading one as a class attribute costs ~75 ns on
# Python 3.11 (EnumType.__getattr__ puts every class-attribute read on the slow path), a global
# ~15 ns, and these checks run on every order (docs/runtime.md#performance).
_BUY, _SELL = Side.BUY, Side.SELL
_HALTED, _REDUCING = TradingState.HALTED, TradingState.REDUCING
_INF = math.inf


def is_reducing(side: Side, qty: int, net: int, working_same_side: int) -> bool:
    """True if the order (and every working order on its side) can only shrink |net|."""
    if side is _SELL:
        return net > 0 and working_same_side + qty <= net
    return net < 0 and working_same_side + qty <= -net


def check_price(
    price: float, instrument: Instrument, reference: float, limits: RiskLimits
) -> Rejection | None:
    # Comparison chains, not calls, on every order (-0.12 us on the floor, A/B): `0 < x < inf` is
    # False for NaN, infinities, zero and negatives; `steps % 1.0` is off the grid when farther
    # than 1e-6 from both neighbouring whole steps (steps > 0 here).
    if not (type(price) is float or type(price) is int) or not 0 < price < _INF:
        return Rejection(RejectReason.INVALID_PRICE, f"price {price!r}: must be finite and > 0")
    tick = instrument.tick_size(price)
    frac = price / tick % 1.0
    if 1e-6 < frac < 1.0 - 1e-6:
        return Rejection(RejectReason.INVALID_PRICE, f"price {price}: not on the tick grid {tick}")
    if not 0 < reference < _INF:
        return Rejection(
            RejectReason.NO_REFERENCE_PRICE, f"no reference price for {instrument.code}"
        )
    dev = abs(price - reference)
    max_ticks = limits.max_price_deviation_ticks
    if dev > max_ticks * tick + 1e-9:
        return Rejection(
            RejectReason.FAT_FINGER_PRICE,
            f"price {price}: {dev / tick:.0f} ticks from reference {reference} "
            f"(max_price_deviation_ticks {max_ticks})",
        )
    max_pct = limits.max_price_deviation_pct
    if dev * 100.0 > max_pct * reference + 1e-9:
        return Rejection(
            RejectReason.FAT_FINGER_PRICE,
            f"price {price}: {dev / reference:.2%} from reference {reference} "
            f"(max_price_deviation_pct {max_pct})",
        )
    return None


def check_new_order(
    intent: OrderIntent,
    instrument: Instrument | None,
    reference: float,
    net: int,
    working_buy: int,
    working_sell: int,
    gross: int,
    n_working: int,
    pnl: float,
    limits: RiskLimits,
    state: TradingState,
    code_hold: CodeHoldState | None = None,
) -> Rejection | None:
    """Decide one new order. ``working_buy``/``working_sell``: remaining quantity of this code's
    working orders per side; ``gross``: current sum of |net| over all codes; ``code_hold``: the
    code's own hold (shijim.risk.code_gate), None when nothing holds it."""
    if state is _HALTED:
        return Rejection(RejectReason.HALTED, "trading state is HALTED")
    if code_hold is not None:
        if code_hold.state is _HALTED:
            return Rejection(
                RejectReason.CODE_HELD, f"{intent.code}: held, no new orders ({code_hold.reason})"
            )
        state = max(state, code_hold.state)  # REDUCING for this code only
    qty = intent.qty
    if type(qty) is not int or qty <= 0:  # type(), not isinstance: True is no 1-lot order
        return Rejection(RejectReason.INVALID_QTY, f"qty {qty!r}: must be an integer > 0")
    if instrument is None:
        return Rejection(RejectReason.UNKNOWN_CODE, f"code {intent.code!r}: not configured")
    side = intent.side
    if side is not _BUY and side is not _SELL:
        return Rejection(RejectReason.INVALID_QTY, f"side {side!r}: must be Side.BUY or Side.SELL")
    if qty > limits.max_order_qty:
        return Rejection(
            RejectReason.FAT_FINGER_QTY, f"qty {qty}: above max_order_qty {limits.max_order_qty}"
        )
    bad_price = check_price(intent.price, instrument, reference, limits)
    if bad_price is not None:
        return bad_price
    # is_reducing inlined (tick-to-order path).
    if side is _BUY:
        same_side = working_buy
        reducing = net < 0 and same_side + qty <= -net
    else:
        same_side = working_sell
        reducing = net > 0 and same_side + qty <= net
    if state is _REDUCING and not reducing:
        return Rejection(
            RejectReason.REDUCING_ONLY,
            f"{side.name} {qty} {intent.code}: does not reduce net {net} "
            f"(working same side {same_side})",
        )
    if not reducing:
        if pnl <= -limits.max_daily_loss:
            return Rejection(
                RejectReason.DAILY_LOSS, f"pnl {pnl:.0f}: at max_daily_loss {limits.max_daily_loss}"
            )
        worst = net + same_side + qty if side is _BUY else net - same_side - qty
        by_code = limits.max_position_per_code
        max_pos = by_code.get(intent.code, limits.max_position) if by_code else limits.max_position
        if abs(worst) > max_pos and abs(worst) > abs(net):
            return Rejection(
                RejectReason.POSITION_LIMIT,
                f"{intent.code}: worst-case position {worst} beyond max_position {max_pos}",
            )
        worst_gross = gross - abs(net) + abs(worst)
        if worst_gross > limits.max_gross_position and worst_gross > gross:
            return Rejection(
                RejectReason.GROSS_LIMIT,
                f"worst-case gross {worst_gross} beyond max_gross_position "
                f"{limits.max_gross_position}",
            )
    if n_working >= limits.max_working_orders:
        return Rejection(
            RejectReason.MAX_WORKING,
            f"{n_working} working orders: at max_working_orders {limits.max_working_orders}",
        )
    return None
