"""Resharding as a coordinated transition: a pure function of (target layout, status, StatefulSet).

A layout is (shard count, universe). `status.sharding.layouts` lists the layouts that may have
running pods, and every pod trades a code only if it belongs to that pod's ordinal under EVERY
listed layout (sharding.may_trade, the runtime's rule). A change N -> M of `spec.shards` (or of
the universe) goes:

1. Stable [N] -> Releasing [N, M]: published before anything else changes; the StatefulSet and
   the ConfigMap stay rendered at N. Every running pod holds the codes that move (cancels their
   working orders) and reports the layouts it applied and, per released code, its position and
   working orders.
2. Releasing -> Rolling: once every shard 0..N-1 acknowledged [N, M] (fresh heartbeat, running
   N, released at least the codes that move away from it, none of them with a working order), the
   children are rendered at M and the StatefulSet rolls. The released positions are copied to
   `handover` (a paper-venue new owner takes them over; docs/sharding.md).
3. Rolling -> Stable [M]: once the StatefulSet finished rolling (its status says so) and every
   shard 0..M-1 reports running M. Only now may a new owner trade a moved code.

During Releasing a new target replaces the old one (pods acknowledge again) and going back to N
cancels the transition (only N pods ever ran). During Rolling the target is fixed: a spec change
waits for Stable, then starts its own transition. A pod that never acknowledges keeps the
transition in Releasing (the condition names it) and the StatefulSet never rolls: the moved codes
stay held, which is safe.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shijim_operator.conditions import format_time, parse_time
from shijim_operator.sharding import Layout, may_trade, shard_of, universe_digest

STABLE, RELEASING, ROLLING = "Stable", "Releasing", "Rolling"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_layout(obj: object) -> Layout | None:
    if not isinstance(obj, Mapping):
        return None
    shards, codes = _int(obj.get("shards")), obj.get("codes")
    if shards is None or shards < 1 or not isinstance(codes, list) or not codes:
        return None
    if not all(isinstance(c, str) for c in codes) or obj.get("universe") != universe_digest(codes):
        return None
    return Layout.of(shards, codes)


@dataclass(frozen=True)
class Sharding:
    """What `status.sharding` says (as the operator wrote it)."""

    phase: str
    layouts: tuple[Layout, ...]
    since: str
    handover: tuple[Mapping[str, Any], ...] = ()

    @property
    def render(self) -> Layout:
        """The layout the children are rendered at in this phase."""
        return self.layouts[0] if self.phase == RELEASING else self.layouts[-1]


def read_sharding(obj: object) -> Sharding | None:
    """None when absent or not as the operator writes it (then the spec's layout is taken as
    stable: docs/sharding.md)."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("layouts"), list):
        return None
    layouts = tuple(read_layout(raw) for raw in obj["layouts"])
    phase = obj.get("phase")
    if any(lay is None for lay in layouts):
        return None
    wanted = 1 if phase == STABLE else 2 if phase in (RELEASING, ROLLING) else 0
    if len(layouts) != wanted:
        return None
    handover = tuple(h for h in obj.get("handover") or [] if isinstance(h, Mapping))
    return Sharding(str(phase), layouts, str(obj.get("since", "")), handover)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PodReport:
    """A pod's resharding fields in `status.shards.<id>`."""

    fresh: bool
    layout: Mapping[str, Any] | None
    layouts: list[Any] | None
    released: tuple[Mapping[str, Any], ...]


def read_reports(
    shards: object, now: datetime.datetime, stale_after: float
) -> dict[int, PodReport]:
    out: dict[int, PodReport] = {}
    if not isinstance(shards, Mapping):
        return out
    for key, entry in shards.items():
        if not str(key).isdigit() or not isinstance(entry, Mapping):
            continue
        beat = parse_time(entry.get("lastHeartbeat"))
        released = entry.get("released")
        out[int(key)] = PodReport(
            fresh=beat is not None and (now - beat).total_seconds() <= stale_after,
            layout=entry.get("layout") if isinstance(entry.get("layout"), Mapping) else None,
            layouts=entry.get("layouts") if isinstance(entry.get("layouts"), list) else None,
            released=tuple(r for r in released or [] if isinstance(r, Mapping))
            if isinstance(released, list)
            else (),
        )
    return out


def moving_away(shard_id: int, old: Layout, new: Layout) -> set[str]:
    """The codes shard `shard_id` owns under `old` and may not trade under [old, new]."""
    return {
        c
        for c in old.codes
        if shard_of(c, old.shards) == shard_id and not may_trade(c, shard_id, old, (old, new))
    }


@dataclass(frozen=True)
class Plan:
    """The decision: `status.sharding` to publish and the layout the children are rendered at
    (the StatefulSet rolls when it changes)."""

    phase: str
    layouts: tuple[Layout, ...]
    since: str
    pending: tuple[int, ...] = ()
    waiting_for: str = ""
    handover: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def render(self) -> Layout:
        # Releasing: only the old layout's pods run, the StatefulSet stays as it is.
        return self.layouts[0] if self.phase == RELEASING else self.layouts[-1]

    @property
    def transitioning(self) -> bool:
        return self.phase != STABLE

    def message(self) -> str:
        if not self.transitioning:
            return f"{self.layouts[0].shards} shards"
        old, new = self.layouts
        text = f"{old.shards} -> {new.shards}"
        if old.universe != new.universe:
            text += f" (universe {old.universe[:8]} -> {new.universe[:8]})"
        text += f": {self.phase.lower()}"
        if self.pending:
            which = "shard" if len(self.pending) == 1 else "shards"
            text += f" ({which} {','.join(map(str, self.pending))} pending)"
        elif self.waiting_for:
            text += f" (waiting for {self.waiting_for})"
        return text

    def status(self) -> dict[str, Any]:
        """`status.sharding`, every key present (a merge patch must drop stale ones)."""
        moving = self.transitioning
        return {
            "phase": self.phase,
            "layouts": [lay.to_status() for lay in self.layouts],
            "from": self.layouts[0].shards if moving else None,
            "to": self.layouts[-1].shards if moving else None,
            "since": self.since,
            "pending": list(self.pending),
            "message": self.message(),
            "handover": [dict(h) for h in self.handover],
        }


def _acknowledged(shard_id: int, report: PodReport | None, old: Layout, new: Layout) -> bool:
    if report is None or not report.fresh or report.layout != old.key():
        return False
    if report.layouts != [old.key(), new.key()]:
        return False
    released = {str(r.get("code")): r for r in report.released}
    if not moving_away(shard_id, old, new) <= set(released):
        return False
    return all(r.get("workingOrders") == 0 for r in released.values())


def _handover(
    reports: Mapping[int, PodReport], old: Layout, new: Layout
) -> tuple[dict[str, Any], ...]:
    out = []
    for shard_id in range(old.shards):
        report = reports.get(shard_id)
        moved = moving_away(shard_id, old, new)
        for r in report.released if report is not None else ():
            if r.get("code") in moved:
                out.append(
                    {
                        "code": r["code"],
                        "fromShard": shard_id,
                        "position": _int(r.get("position")) or 0,
                        "avgPrice": float(r.get("avgPrice") or 0.0),
                    }
                )
    return tuple(sorted(out, key=lambda h: h["code"]))


def statefulset_rolled(sts: Mapping[str, Any] | None, replicas: int) -> bool:
    """The StatefulSet controller finished: `replicas` pods, all of the current revision."""
    if not isinstance(sts, Mapping):
        return False
    status = sts.get("status")
    if not isinstance(status, Mapping):
        return False
    generation = _int((sts.get("metadata") or {}).get("generation"))
    observed = _int(status.get("observedGeneration"))
    if generation is not None and (observed is None or observed < generation):
        return False
    if status.get("replicas") != replicas or status.get("updatedReplicas") != replicas:
        return False
    current, update = status.get("currentRevision"), status.get("updateRevision")
    return current == update


def plan(
    target: Layout,
    current: object,
    shards: object,
    statefulset: Mapping[str, Any] | None,
    now: datetime.datetime,
    stale_after: float,
) -> Plan:
    """The next `status.sharding` from the spec's layout (`target`), the published
    `status.sharding` (`current`), the pods' reports (`status.shards`) and the StatefulSet."""
    stamp = format_time(now)
    cur = read_sharding(current)
    if cur is None:
        # Never published (a new TradingShard, or the first run of this operator version): the
        # spec's layout is what the children are (or are about to be) rendered at.
        return Plan(STABLE, (target,), stamp)
    if cur.phase == STABLE:
        (old,) = cur.layouts
        if old == target:
            return Plan(STABLE, (old,), cur.since, handover=cur.handover)
        return Plan(RELEASING, (old, target), stamp, tuple(range(old.shards)))
    old, new = cur.layouts
    reports = read_reports(shards, now, stale_after)
    if cur.phase == RELEASING:
        if target == old:  # back to where it was: only `old` pods ever ran
            return Plan(STABLE, (old,), stamp)
        if target != new:  # a new target before anything rolled: acknowledge it again
            return Plan(RELEASING, (old, target), stamp, tuple(range(old.shards)))
        pending = tuple(
            k for k in range(old.shards) if not _acknowledged(k, reports.get(k), old, new)
        )
        if pending:
            return Plan(RELEASING, (old, new), cur.since, pending)
        return Plan(ROLLING, (old, new), stamp, handover=_handover(reports, old, new))
    # Rolling: the target is fixed until Stable (a spec change then starts its own transition).
    pending = tuple(
        k
        for k in range(new.shards)
        if not ((r := reports.get(k)) is not None and r.fresh and r.layout == new.key())
    )
    rolled = statefulset_rolled(statefulset, new.shards)
    if pending or not rolled:
        waiting = "" if rolled else "the StatefulSet to finish rolling"
        return Plan(ROLLING, (old, new), cur.since, pending, waiting, cur.handover)
    return Plan(STABLE, (new,), stamp, handover=cur.handover)


def running_shards(current: object, spec_shards: int) -> int:
    """How many shards the children are rendered for now (pods that should exist)."""
    cur = read_sharding(current)
    return spec_shards if cur is None else cur.render.shards


def reporting_shards(current: object, spec_shards: int) -> int:
    """Reports of shards below this may come from a live pod (the larger layout in a
    transition): the operator removes only the entries at or above it."""
    cur = read_sharding(current)
    if cur is None:
        return spec_shards
    return max(lay.shards for lay in cur.layouts)


def sharding_changed(current: object, planned: Mapping[str, Any]) -> bool:
    if not isinstance(current, Mapping):
        return True
    return any(current.get(k) != v for k, v in planned.items())
