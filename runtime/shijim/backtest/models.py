"""The venue models of a backtest on hftbacktest: order latency, queue position, partial fills.

Each is parsed from its command-line text (``--latency``, ``--queue``, ``--exchange``) and
applied to a ``hftbacktest.BacktestAsset``. The latency model also answers *when* an answer can
reach us (``entry``/``response``), the same arithmetic as hftbacktest's own models: the adapter
uses it only to know when to look at hftbacktest's orders (docs/backtest.md, "Adapter"); the
latencies themselves are applied by hftbacktest.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ns|us|ms|s)?")
# hftbacktest's order-latency rows (its OrderLatencyRow, 32 bytes): request, exchange and
# response times. The array goes to hftbacktest as a raw pointer: the model keeps it alive.
LATENCY_FIELDS = ("req_ts", "exch_ts", "resp_ts")
ORDER_LATENCY_DTYPE = np.dtype(
    [("req_ts", "<i8"), ("exch_ts", "<i8"), ("resp_ts", "<i8"), ("_padding", "<i8")], align=True
)


class ModelError(ValueError):
    """A model text or file that cannot be used; the message names the option and the value."""


def duration_ns(text: str, option: str) -> int:
    """``15ms``, ``200us``, ``1s``, ``5000`` (ns) -> ns."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ModelError(f"{option}: {text!r}: expected a duration such as 15ms, 200us or 5000")
    value = float(m["num"]) * _UNITS[m["unit"] or "ns"]
    if not value < 2**62:
        raise ModelError(f"{option}: {text!r}: too long")
    return round(value)


def _show_ns(ns: int) -> str:
    for unit in ("s", "ms", "us"):
        if ns and ns % _UNITS[unit] == 0:
            return f"{ns // _UNITS[unit]}{unit}"
    return f"{ns}ns"


@dataclass(frozen=True)
class LatencyModel:
    """Order latency: the entry leg (our request to the exchange) and the response leg (the
    exchange's answer, an acknowledgement or a fill, back to us).

    - ``zero``: both legs 0 (what the paper venue's ``latency: zero`` does);
    - ``constant:15ms`` (both legs) or ``constant:10ms,20ms`` (entry, response);
    - ``intp:FILE.npz``: interpolated from recorded order latencies, hftbacktest's
      ``IntpOrderLatency`` (rows of request, exchange and response times, ns; hftbacktest's
      ``OrderLatencyRow`` layout, npz key ``data``)."""

    kind: str = "constant"
    entry_ns: int = 0
    response_ns: int = 0
    path: str = ""
    rows: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> LatencyModel:
        kind, _, arg = text.partition(":")
        if kind == "zero" and not arg:
            return cls()
        if kind == "constant" and arg:
            legs = [duration_ns(p, "--latency") for p in arg.split(",")]
            if len(legs) == 1:
                legs = legs * 2
            if len(legs) != 2:
                raise ModelError(f"--latency: {text!r}: expected constant:ENTRY[,RESPONSE]")
            return cls("constant", legs[0], legs[1])
        if kind == "intp" and arg:
            return cls("intp", path=arg, rows=load_latency_rows(Path(arg)))
        raise ModelError(
            f"--latency: {text!r}: expected zero, constant:ENTRY[,RESPONSE] or intp:FILE.npz"
        )

    def describe(self) -> str:
        if self.kind == "intp":
            return f"interpolated from {self.path}"
        if self.entry_ns == 0 and self.response_ns == 0:
            return "zero"
        return f"constant, entry {_show_ns(self.entry_ns)}, response {_show_ns(self.response_ns)}"

    @property
    def is_zero(self) -> bool:
        return self.kind == "constant" and self.entry_ns == 0 and self.response_ns == 0

    def apply(self, asset: Any) -> Any:
        if self.kind == "intp":
            assert self.rows is not None
            return asset.intp_order_latency(self.rows)
        return asset.constant_order_latency(self.entry_ns, self.response_ns)

    # When hftbacktest's answers arrive: the arithmetic of its ConstantLatency and
    # IntpOrderLatency (hftbacktest/src/backtest/models/latency.rs), never applied to fills.
    def entry(self, t: int) -> int:
        if self.rows is None:
            return self.entry_ns
        return abs(_interpolate(self.rows["req_ts"], self.rows["exch_ts"], t))

    def response(self, t: int) -> int:
        if self.rows is None:
            return self.response_ns
        return abs(_interpolate(self.rows["exch_ts"], self.rows["resp_ts"], t))

    def round_trip(self, t: int) -> int:
        """From a request at ``t`` to its answer."""
        entry = self.entry(t)
        return entry + self.response(t + entry)


def _interpolate(x: np.ndarray, y: np.ndarray, t: int) -> int:
    """Latency ``y - x`` at ``t``, interpolated between the rows around it (the first row's
    before it, the last row's after it), truncated to ns as hftbacktest does."""
    n = x.size
    if t < x[0] or n == 1:
        return int(y[0] - x[0])
    i = int(np.searchsorted(x, t, side="right")) - 1
    if i >= n - 1:
        return int(y[-1] - x[-1])
    x1, x2 = int(x[i]), int(x[i + 1])
    lat1, lat2 = int(y[i]) - x1, int(y[i + 1]) - x2
    return math.trunc((lat2 - lat1) / (x2 - x1) * (t - x1)) + lat1


def load_latency_rows(path: Path) -> np.ndarray:
    """Recorded order latencies (hftbacktest's layout): checked, since hftbacktest checks
    nothing (a negative leg there means a rejection by the exchange)."""
    try:
        with np.load(path) as z:
            if "data" not in z:
                raise ModelError(f"--latency: {path}: no 'data' array in the npz")
            raw = z["data"]
    except (OSError, ValueError) as exc:
        raise ModelError(f"--latency: {path}: {exc}") from None
    missing = [f for f in LATENCY_FIELDS if raw.dtype.names is None or f not in raw.dtype.names]
    if missing:
        raise ModelError(f"--latency: {path}: rows lack field(s) {', '.join(missing)}")
    rows = np.zeros(raw.size, ORDER_LATENCY_DTYPE)
    for f in LATENCY_FIELDS:
        rows[f] = raw[f]
    if rows.size == 0:
        raise ModelError(f"--latency: {path}: no rows")
    legs = zip(rows["req_ts"], rows["exch_ts"], rows["resp_ts"], strict=True)
    for i, (req, exch, resp) in enumerate(legs):
        if not req <= exch <= resp:
            raise ModelError(
                f"--latency: {path}: row {i}: expected req_ts <= exch_ts <= resp_ts, got "
                f"{req}, {exch}, {resp}"
            )
    if np.any(np.diff(rows["req_ts"]) < 0):
        raise ModelError(f"--latency: {path}: rows are not sorted by req_ts")
    return rows


@dataclass(frozen=True)
class QueueModel:
    """Our place in the queue at our price (hftbacktest's queue models):
    ``risk_averse`` (only trades advance us), ``power:N`` / ``power2:N`` / ``power3:N`` and
    ``log`` / ``log2`` (probabilistic: a share of cancels ahead of us advances us too)."""

    kind: str = "risk_averse"
    n: float = 0.0

    @classmethod
    def parse(cls, text: str) -> QueueModel:
        kind, _, arg = text.partition(":")
        if kind in ("risk_averse", "log", "log2") and not arg:
            return cls(kind)
        if kind in ("power", "power2", "power3"):
            try:
                n = float(arg)
            except ValueError:
                n = math.nan
            if not n > 0:
                raise ModelError(f"--queue: {text!r}: {kind} needs an exponent > 0: {kind}:N")
            return cls(kind, n)
        raise ModelError(
            f"--queue: {text!r}: expected risk_averse, power:N, power2:N, power3:N, log or log2"
        )

    def describe(self) -> str:
        return f"{self.kind}:{self.n:g}" if self.kind.startswith("power") else self.kind

    def apply(self, asset: Any) -> Any:
        if self.kind == "risk_averse":
            return asset.risk_adverse_queue_model()
        if self.kind == "log":
            return asset.log_prob_queue_model()
        if self.kind == "log2":
            return asset.log_prob_queue_model2()
        method = {"power": "power_prob_queue_model", "power2": "power_prob_queue_model2"}
        return getattr(asset, method.get(self.kind, "power_prob_queue_model3"))(self.n)


@dataclass(frozen=True)
class VenueModels:
    latency: LatencyModel = field(default_factory=LatencyModel)
    queue: QueueModel = field(default_factory=QueueModel)
    # hftbacktest's partial_fill_exchange (its issue 316: partial fills of resting orders never
    # reach its own position; ours come from the order states, docs/backtest.md).
    partial_fills: bool = False

    def describe(self) -> str:
        exchange = "partial fills" if self.partial_fills else "no partial fills"
        return (
            f"hftbacktest 2.4.4, latency {self.latency.describe()}, queue "
            f"{self.queue.describe()}, {exchange}"
        )


def parse_exchange(text: str) -> bool:
    """``--exchange no_partial|partial`` -> partial fills?"""
    if text not in ("no_partial", "partial"):
        raise ModelError(f"--exchange: {text!r}: expected no_partial or partial")
    return text == "partial"
