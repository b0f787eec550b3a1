"""``RiskLimits``: the one type of a shard's pre-trade limits.

The runtime config's ``risk`` section is read straight into it (``shijim.app.config``); the
operator's copy of its schema (``operator/shijim_operator/risk_limits.json``, written by
``python -m shijim.tools.risk_schema --write``) checks a TradingShard's ``spec.risk``, whose keys
are these names in camelCase; the CRD's ``spec.risk`` block is tested against that schema. So a
limit has one name, one default and one bound (the field's metadata, shijim.bounds), and a new
rule is a field here plus its check in ``shijim.risk.rules``. Every limit is always on: to loosen
one, set it wide (there is no "off" a typo could select).

Derived, not configurable (docs/risk.md): the rate-limit window is 10 s (the broker's, as the
name ``order_actions_per_10s`` says) and ``cancel_reserve`` = max(1, order_actions_per_10s // 5)
of those actions only cancels may use, so a kill switch can always cancel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from shijim.bounds import bound_problem


def _no_overrides() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_qty: int = field(
        default=2,
        metadata={"ge": 1, "doc": "Fat-finger limit on one order's quantity (order units)."},
    )
    max_position: int = field(
        default=4,
        metadata={
            "ge": 1,
            "doc": "Maximum |net + same-side working| position per code (order units).",
        },
    )
    max_position_per_code: Mapping[str, int] = field(
        default_factory=_no_overrides,
        metadata={
            "ge": 0,
            "doc": "Per-code overrides of the position limit (0: that code may only reduce).",
        },
    )
    max_gross_position: int = field(
        default=20,
        metadata={"ge": 1, "doc": "Maximum sum of |position| over the codes of the shard."},
    )
    max_price_deviation_ticks: int = field(
        default=20,
        metadata={"ge": 1, "doc": "Fat-finger limit: distance from the reference price, in ticks."},
    )
    max_price_deviation_pct: float = field(
        default=2.0,
        metadata={
            "gt": 0,
            "doc": "Fat-finger limit: distance from the reference price, in percent of it.",
        },
    )
    max_working_orders: int = field(
        default=20, metadata={"ge": 1, "doc": "Maximum number of working orders at once."}
    )
    order_actions_per_10s: int = field(
        default=200,
        metadata={
            "ge": 2,
            "doc": "Rate limit on place/amend/cancel actions per 10 s (Shioaji allows 250); "
            "a fifth of them (at least 1) is reserved for cancels.",
        },
    )
    max_daily_loss: float = field(
        default=50_000.0,
        metadata={
            "gt": 0,
            "doc": "Loss (TWD, positive number; realised + marked) that halts the shard for the "
            "day.",
        },
    )

    # Derived (not fields: neither configured nor exported).
    rate_window_s: ClassVar[float] = 10.0  # the window of order_actions_per_10s
    reject_log_interval_s: ClassVar[float] = 1.0  # log one rejection per reason per interval

    def __post_init__(self) -> None:
        # The bounds the config reader applies, for limits built in code (tests, bench, tools).
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            items = value.items() if isinstance(value, Mapping) else ((None, value),)
            for key, item in items:
                problem = bound_problem(f.metadata, item)
                if problem is not None:
                    where = f.name if key is None else f"{f.name}.{key}"
                    raise ValueError(f"RiskLimits.{where}: {problem}")
        if isinstance(self.max_position_per_code, dict):  # frozen means frozen
            object.__setattr__(
                self, "max_position_per_code", MappingProxyType(dict(self.max_position_per_code))
            )

    @property
    def rate_actions(self) -> int:
        """The action bucket's capacity per ``rate_window_s``."""
        return self.order_actions_per_10s

    @property
    def cancel_reserve(self) -> int:
        """Actions of each window only cancels may use (HALTED must still cancel)."""
        return max(1, self.order_actions_per_10s // 5)
