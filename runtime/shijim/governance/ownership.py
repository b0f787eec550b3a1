"""Which of its codes this pod may trade while the universe is resharded (docs/sharding.md).

The operator publishes in the TradingShard's ``status.sharding`` the layouts (shard count +
universe) that may have running pods: one when stable, two during a transition. This pod (shard
``k``, started with layout ``own``) trades code ``c`` only if ``shijim.universe.may_trade`` says
so for every published layout; every other code of its shard is held with the risk gateway's
per-code hold ``CodeHold.UNOWNED`` at HALTED (its working orders are cancelled, new orders and
amends refused). The pod reports back what it applied and, per released code, its net position
and working-order count, which is what the operator waits for before it rolls the StatefulSet.

A code that becomes tradable after a transition (the new owner) is adopted first: with broker
positions (Shioaji) the gateway reconciles with the broker; on the paper venue, whose positions
live in the process, it takes the position the old owner reported at release (the operator's
``status.sharding.handover``). Only then is the hold released.

Legacy: a TradingShard whose status has no ``sharding`` at all (an operator that predates
resharding) counts as the stable layout this pod was started with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shijim.domain import CodeHold, TradingState
from shijim.universe import Layout, may_trade, universe_digest

log = logging.getLogger("shijim.governance.ownership")


class HoldingGateway(Protocol):
    def hold_code(self, code: str, hold: CodeHold, state: TradingState, reason: str) -> None: ...
    def release_code(self, code: str, hold: CodeHold) -> None: ...
    def code_exposure(self, code: str) -> tuple[int, float, int]: ...
    def take_over(self, report: Any) -> None: ...
    def reconcile(self) -> Any: ...


class OwnedGauge(Protocol):
    def code_owned(self, code: str, owned: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class HandedOver:
    """A moved code's position as its previous owner reported it at release."""

    code: str
    net: int
    avg_price: float
    from_shard: int


@dataclass(frozen=True, slots=True)
class Handover:
    """The shape ``RiskAwareGateway.take_over`` reads (as a broker reconcile report)."""

    positions: tuple[HandedOver, ...]


@dataclass(frozen=True)
class ShardingView:
    """A pure reading of ``status.sharding``: the layouts that may run, the handover."""

    layouts: tuple[Layout, ...]
    handover: Mapping[str, HandedOver]
    problems: tuple[str, ...] = ()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_layout(obj: object, where: str) -> tuple[Layout | None, str | None]:
    if not isinstance(obj, Mapping):
        return None, f"{where}: expected an object, got {obj!r}"
    shards, codes, digest = _int(obj.get("shards")), obj.get("codes"), obj.get("universe")
    if shards is None or shards < 1:
        return None, f"{where}.shards: expected an integer >= 1, got {obj.get('shards')!r}"
    if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
        return None, f"{where}.codes: expected a list of codes"
    if digest != universe_digest(codes):
        return None, f"{where}.universe: {digest!r} is not the digest of its codes"
    return Layout(shards, frozenset(codes)), None


def read_sharding(status: object, own: Layout) -> ShardingView:
    """``status.sharding`` as layouts + handover. Missing entirely: legacy, ``own`` is stable.
    Malformed: no layout at all (this pod trades nothing: fail safe) and the problems."""
    sharding = status.get("sharding") if isinstance(status, Mapping) else None
    if sharding is None:
        return ShardingView((own,), {})
    if not isinstance(sharding, Mapping) or not isinstance(sharding.get("layouts"), list):
        return ShardingView((), {}, ("status.sharding.layouts: expected a list",))
    layouts: list[Layout] = []
    problems: list[str] = []
    for i, raw in enumerate(sharding["layouts"]):
        layout, problem = read_layout(raw, f"status.sharding.layouts[{i}]")
        if problem is not None:
            problems.append(problem)
        elif layout is not None:
            layouts.append(layout)
    if problems or not layouts:
        return ShardingView((), {}, tuple(problems) or ("status.sharding.layouts: empty",))
    handover: dict[str, HandedOver] = {}
    for i, raw in enumerate(sharding.get("handover") or []):
        where = f"status.sharding.handover[{i}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
            problems.append(f"{where}: expected an object with a code")
            continue
        net, shard = _int(raw.get("position")), _int(raw.get("fromShard"))
        avg = raw.get("avgPrice", 0.0)
        if net is None or shard is None or not isinstance(avg, int | float):
            problems.append(f"{where}: position/fromShard/avgPrice of {raw['code']!r}")
            continue
        handover[raw["code"]] = HandedOver(raw["code"], net, float(avg), shard)
    return ShardingView(tuple(layouts), handover, tuple(problems))


def layout_key(layout: Layout) -> dict[str, Any]:
    return {"shards": layout.shards, "universe": layout.universe}


class CodeOwnership:
    """Applies ``status.sharding`` to the gateway's per-code holds for one pod; thread-safe
    (the watcher thread applies, the report thread reads)."""

    def __init__(
        self,
        gateway: HoldingGateway,
        shard_id: int,
        own: Layout,
        codes: Sequence[str],
        *,
        broker_positions: bool,
        metrics: OwnedGauge | None = None,
    ) -> None:
        self.gateway = gateway
        self.shard_id = shard_id
        self.own = own
        self.codes = tuple(codes)
        self.broker_positions = broker_positions
        self._metrics = metrics
        self.bad_input_total = 0
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._applied: tuple[Layout, ...] | None = None  # None: nothing read yet
        self._last_raw: object = object()  # never equal to a status value
        self.adopted: dict[str, int] = {}  # code -> position taken over (paper) or reconciled

    def hold_all(self, reason: str) -> None:
        """Before the TradingShard has been read: no code is this pod's yet."""
        with self._lock:
            self._hold(self.codes, reason)

    def apply(self, status: object) -> bool:
        """Apply a TradingShard's status (every watch event; cheap when nothing changed).
        True if what this pod reports changed."""
        raw = status.get("sharding") if isinstance(status, Mapping) else None
        with self._lock:
            if raw == self._last_raw:
                return False
            self._last_raw = raw
            view = read_sharding(status, self.own)
            for problem in view.problems:
                self.bad_input_total += 1
                log.error("bad TradingShard input (counted; holding its codes): %s", problem)
            layouts = view.layouts
            allowed = [c for c in self.codes if may_trade(c, self.shard_id, self.own, layouts)]
            release = [c for c in self.codes if c not in allowed]
            self._hold(release, self._why(layouts))
            # A code is adopted from another pod only after a transition this pod took part in
            # (it saw two layouts and held the code); at a plain (re)start positions come from
            # the broker reconcile at start, or start flat on the paper venue.
            was_transition = self._applied is not None and len(self._applied) > 1
            acquire = [c for c in allowed if c in self._held]
            if acquire and was_transition:
                self._adopt(acquire, view.handover)
            for code in acquire:
                if self._metrics is not None:
                    self._metrics.code_owned(code, True)  # before trading: the gauge never
                self.gateway.release_code(code, CodeHold.UNOWNED)  # under-reports ownership
                self._held.discard(code)
            if acquire:
                log.warning("shard %d now trades %s", self.shard_id, ",".join(acquire))
            changed = layouts != self._applied or bool(acquire)
            self._applied = layouts
            return changed

    def _why(self, layouts: tuple[Layout, ...]) -> str:
        if not layouts:
            return "no usable layout in status.sharding"
        shown = " + ".join(f"{lay.shards} shards/{lay.universe[:8]}" for lay in layouts)
        return f"not this shard's code under every running layout ({shown})"

    def _hold(self, codes: Iterable[str], reason: str) -> None:
        codes = list(codes)
        fresh = [c for c in codes if c not in self._held]
        for code in codes:  # held ones too: the hold's reason follows the layouts
            self.gateway.hold_code(code, CodeHold.UNOWNED, TradingState.HALTED, reason)
            self._held.add(code)
        if self._metrics is not None:
            for code in fresh:
                self._metrics.code_owned(code, False)  # after the hold and its cancels
        if fresh:
            log.warning("shard %d releases %s: %s", self.shard_id, ",".join(fresh), reason)

    def _adopt(self, codes: list[str], handover: Mapping[str, HandedOver]) -> None:
        if self.broker_positions:
            self.gateway.reconcile()  # the broker's positions before the first order
            for code in codes:
                self.adopted[code] = self.gateway.code_exposure(code)[0]
            return
        handed = tuple(
            handover[c] for c in codes if c in handover and handover[c].from_shard != self.shard_id
        )
        if handed:
            self.gateway.take_over(Handover(handed))
            for h in handed:
                self.adopted[h.code] = h.net
                log.warning(
                    "shard %d takes over %s from shard %d: position %d at %.4f",
                    self.shard_id, h.code, h.from_shard, h.net, h.avg_price,
                )  # fmt: skip

    def report(self) -> dict[str, Any]:
        """This pod's part of ``status.shards.<id>`` about resharding."""
        with self._lock:
            applied = self._applied
            held = sorted(self._held)
        released = []
        for code in held:
            net, avg, working = self.gateway.code_exposure(code)
            released.append(
                {"code": code, "position": net, "avgPrice": avg, "workingOrders": working}
            )
        return {
            "layout": layout_key(self.own),
            "layouts": [] if applied is None else [layout_key(lay) for lay in applied],
            "released": released,
        }

    def settling(self) -> bool:
        """True while a released code still has working orders (cancels not yet confirmed):
        the report is then refreshed often, not only at the next heartbeat."""
        with self._lock:
            held = list(self._held)
        return any(self.gateway.code_exposure(code)[2] for code in held)
