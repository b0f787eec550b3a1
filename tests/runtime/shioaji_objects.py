"""Builders of REAL shioaji 1.7.9 quote objects, offline (for tests of every part), and the one
double: ``FakeShioajiClient`` for the logged-in client (login needs the broker's network).

``sj.TickFOPv1()`` cannot be constructed, but ``Cls.from_msgpack(bytes)`` builds the genuine
object from a positional msgpack array. The layouts below were found by probing (pack a list,
read the fields back; /work/shared/notes/shioaji.md and docs/feeds.md). Override any field by
name with any value, including a wrongly typed one: the object is still built, and reading that
field raises ``pyo3_runtime.PanicException`` (a BaseException), as with a corrupt broker message.

    tick_fop("TXFL6", close="23001", volume=2)
    bidask_stk("2330", bid_price=["1000", ...], simtrade=True)
    tick_fop("TXFL6", volume="not-an-int")      # malformed: .volume panics when read
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgpack
import shioaji as sj

DEFAULT_WHEN = dt.datetime(2026, 11, 24, 9, 30, 0, 123456)  # naive Asia/Taipei

# Positional layouts (msgpack array order) of shioaji 1.7.9.
TICK_FOP_FIELDS = (
    "code", "date", "time", "open", "underlying_price", "bid_side_total_vol",
    "ask_side_total_vol", "avg_price", "close", "high", "low", "amount", "total_amount",
    "volume", "total_volume", "tick_type", "chg_type", "price_chg", "pct_chg", "simtrade",
)  # fmt: skip
BIDASK_FOP_FIELDS = (
    "code", "date", "time", "bid_total_vol", "ask_total_vol", "bid_price", "bid_volume",
    "diff_bid_vol", "ask_price", "ask_volume", "diff_ask_vol", "first_derived_bid_price",
    "first_derived_ask_price", "first_derived_bid_vol", "first_derived_ask_vol",
    "underlying_price", "simtrade",
)  # fmt: skip
# TickSTKv1: pct_chg travels as an integer in hundredths (25 -> Decimal('0.25')); the optional
# closing-odd-lot prices are strings ("" reads back as None; msgpack nil is rejected).
TICK_STK_FIELDS = (
    "code", "date", "time", "open", "avg_price", "close", "high", "low", "amount",
    "total_amount", "volume", "total_volume", "tick_type", "chg_type", "price_chg",
    "pct_chg_hundredths", "bid_side_total_vol", "ask_side_total_vol", "bid_side_total_cnt",
    "ask_side_total_cnt", "closing_oddlot_shares", "closing_oddlot_close",
    "closing_oddlot_amount", "closing_oddlot_bid_price", "closing_oddlot_ask_price",
    "fixed_trade_vol", "fixed_trade_amount", "suspend", "simtrade",
)  # fmt: skip
BIDASK_STK_FIELDS = (
    "code", "date", "time", "bid_price", "bid_volume", "diff_bid_vol", "ask_price",
    "ask_volume", "diff_ask_vol", "suspend", "simtrade",
)  # fmt: skip


def _d(x: Any) -> Any:
    return str(x) if isinstance(x, Decimal | int | float) and not isinstance(x, bool) else x


def _when(when: dt.datetime) -> dict[str, str]:
    return {"date": when.strftime("%Y/%m/%d"), "time": when.strftime("%H:%M:%S.%f")}


def _pack(fields: tuple[str, ...], values: dict[str, Any], overrides: dict[str, Any]) -> bytes:
    unknown = set(overrides) - set(fields)
    if unknown:
        raise KeyError(f"not a field of this layout: {sorted(unknown)}")
    values.update(overrides)
    return msgpack.packb([values[f] for f in fields])


def tick_fop(
    code: str = "TXFL6",
    when: dt.datetime = DEFAULT_WHEN,
    close: Any = "23001",
    volume: int = 2,
    total_volume: int = 500,
    tick_type: int = 1,
    simtrade: bool = False,
    **overrides: Any,
) -> sj.TickFOPv1:
    v: dict[str, Any] = {
        "code": code, **_when(when), "open": "23000", "underlying_price": "23010.5",
        "bid_side_total_vol": 100, "ask_side_total_vol": 120, "avg_price": "23000.5",
        "close": _d(close), "high": "23050", "low": "22950", "amount": "46002",
        "total_amount": "11500000", "volume": volume, "total_volume": total_volume,
        "tick_type": tick_type, "chg_type": 2, "price_chg": "1", "pct_chg": "0.01",
        "simtrade": simtrade,
    }  # fmt: skip
    return sj.TickFOPv1.from_msgpack(_pack(TICK_FOP_FIELDS, v, overrides))


def _levels(prices: Any) -> list[Any]:
    return [_d(p) for p in prices]


def bidask_fop(
    code: str = "TXFL6",
    when: dt.datetime = DEFAULT_WHEN,
    bid_price: Any = ("23000", "22999", "22998", "22997", "22996"),
    bid_volume: Any = (5, 6, 7, 8, 9),
    ask_price: Any = ("23001", "23002", "23003", "23004", "23005"),
    ask_volume: Any = (4, 5, 6, 7, 8),
    simtrade: bool = False,
    **overrides: Any,
) -> sj.BidAskFOPv1:
    v: dict[str, Any] = {
        "code": code, **_when(when), "bid_total_vol": sum(bid_volume) if all(
            isinstance(x, int) for x in bid_volume) else 0,
        "ask_total_vol": sum(ask_volume) if all(isinstance(x, int) for x in ask_volume) else 0,
        "bid_price": _levels(bid_price), "bid_volume": list(bid_volume), "diff_bid_vol": [0] * 5,
        "ask_price": _levels(ask_price), "ask_volume": list(ask_volume), "diff_ask_vol": [0] * 5,
        "first_derived_bid_price": "0", "first_derived_ask_price": "0",
        "first_derived_bid_vol": 0, "first_derived_ask_vol": 0,
        "underlying_price": "23010.5", "simtrade": simtrade,
    }  # fmt: skip
    return sj.BidAskFOPv1.from_msgpack(_pack(BIDASK_FOP_FIELDS, v, overrides))


def tick_stk(
    code: str = "2330",
    when: dt.datetime = DEFAULT_WHEN,
    close: Any = "1005",
    volume: int = 3,
    total_volume: int = 12000,
    tick_type: int = 2,
    simtrade: bool = False,
    suspend: bool = False,
    **overrides: Any,
) -> sj.TickSTKv1:
    v: dict[str, Any] = {
        "code": code, **_when(when), "open": "1000", "avg_price": "1002", "close": _d(close),
        "high": "1010", "low": "995", "amount": "3015000", "total_amount": "12000000000",
        "volume": volume, "total_volume": total_volume, "tick_type": tick_type, "chg_type": 2,
        "price_chg": "5", "pct_chg_hundredths": 50, "bid_side_total_vol": 6000,
        "ask_side_total_vol": 6000, "bid_side_total_cnt": 300, "ask_side_total_cnt": 310,
        "closing_oddlot_shares": 0, "closing_oddlot_close": "", "closing_oddlot_amount": "",
        "closing_oddlot_bid_price": "", "closing_oddlot_ask_price": "", "fixed_trade_vol": 0,
        "fixed_trade_amount": "", "suspend": suspend, "simtrade": simtrade,
    }  # fmt: skip
    return sj.TickSTKv1.from_msgpack(_pack(TICK_STK_FIELDS, v, overrides))


def bidask_stk(
    code: str = "2330",
    when: dt.datetime = DEFAULT_WHEN,
    bid_price: Any = ("1000", "995", "990", "985", "980"),
    bid_volume: Any = (50, 60, 70, 80, 90),
    ask_price: Any = ("1005", "1010", "1015", "1020", "1025"),
    ask_volume: Any = (40, 50, 60, 70, 80),
    simtrade: bool = False,
    suspend: bool = False,
    **overrides: Any,
) -> sj.BidAskSTKv1:
    v: dict[str, Any] = {
        "code": code, **_when(when), "bid_price": _levels(bid_price),
        "bid_volume": list(bid_volume), "diff_bid_vol": [0] * 5,
        "ask_price": _levels(ask_price), "ask_volume": list(ask_volume),
        "diff_ask_vol": [0] * 5, "suspend": suspend, "simtrade": simtrade,
    }  # fmt: skip
    return sj.BidAskSTKv1.from_msgpack(_pack(BIDASK_STK_FIELDS, v, overrides))


def real_signature_checked(cls: type) -> type:
    """Class decorator for doubles of the logged-in ``sj.Shioaji`` client (the one thing that
    cannot run here: login needs the broker). Every public method whose name ``sj.Shioaji`` also
    has first binds its arguments against the REAL 1.7.9 signature, so a keyword the real client
    does not take (or a missing argument) fails the test instead of passing silently."""
    import functools
    import inspect

    for name, fn in list(vars(cls).items()):
        real = getattr(sj.Shioaji, name, None)
        if name.startswith("_") or not callable(fn) or real is None:
            continue
        signature = inspect.signature(real)

        def checked(self: Any, *args: Any, __fn: Any = fn, __sig: Any = signature,
                    __name: str = name, **kwargs: Any) -> Any:  # fmt: skip
            try:
                __sig.bind(self, *args, **kwargs)
            except TypeError as exc:
                raise AssertionError(
                    f"sj.Shioaji.{__name}{__sig} rejects this call: {exc}"
                ) from None
            return __fn(self, *args, **kwargs)

        setattr(cls, name, functools.wraps(fn)(checked))
    return cls


@real_signature_checked
class FakeShioajiClient:
    """Double of ``sj.Shioaji`` (the only fake: login needs the broker's network)."""

    def __init__(self, simulation: bool, fail_login: bool = False, ca_ok: bool = True) -> None:
        self.simulation = simulation
        self.fail_login = fail_login
        self.ca_ok = ca_ok
        self.ca_calls: list[tuple[str, str, str | None]] = []
        self.contracts_fetched = False
        self.callbacks: dict[str, Any] = {}
        self.subscribed: list[tuple[str, Any]] = []
        self.unsubscribed: list[tuple[str, Any]] = []
        self.logged_out = False
        futures = {
            c: sj.Future(code=c, category=c[:3], delivery_month="202612", exchange="TAIFEX")
            for c in ("TXFL6", "MXFL6")
        }
        stocks = {c: sj.Stock(code=c, exchange="TSE") for c in ("2330", "2317")}
        stocks.update({f"{n:04d}": sj.Stock(code=f"{n:04d}", exchange="TSE")
                       for n in range(3000, 3200)})  # fmt: skip
        self.Contracts = type("Contracts", (), {"Futures": futures, "Stocks": stocks})()
        self.futopt_account = "FUTOPT-ACCOUNT"
        self.stock_account = "STOCK-ACCOUNT"

    def login(self, api_key: str, secret_key: str, **kw: Any) -> list[str]:
        if self.fail_login:
            raise sj.ShioajiConnectionError("cannot reach the broker")
        return [self.stock_account, self.futopt_account]

    def fetch_contracts(self, contract_download: bool = False, **kw: Any) -> Any:
        self.contracts_fetched = True
        return self.Contracts

    def activate_ca(self, ca_path: str, ca_passwd: str, person_id: str | None = None) -> bool:
        self.ca_calls.append((ca_path, ca_passwd, person_id))
        return self.ca_ok

    def logout(self) -> bool:
        self.logged_out = True
        return True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("set_") and name.endswith("callback"):
            return lambda fn: self.callbacks.__setitem__(name, fn)
        raise AttributeError(name)

    def subscribe(self, contract: Any, quote_type: Any, version: Any) -> None:
        assert version == sj.QuoteVersion.v1
        self.subscribed.append((contract.code, quote_type))

    def unsubscribe(self, contract: Any, quote_type: Any, version: Any) -> None:
        self.unsubscribed.append((contract.code, quote_type))
