"""The TradingShard's status as a pure function of (spec, metadata, status.shards, problems, now).

Status has two writers with disjoint fields, so they never overwrite each other:
  * each runtime pod merge-patches only `status.shards.<its SHARD_ID>` (pod, tradingState,
    killSwitchAcknowledged, observedGeneration, lastHeartbeat);
  * the operator writes only `phase`, `readyShards`, `observedGeneration`, `conditions` and
    `sharding` (resharding.py), computed here from what the pods reported.

KillSwitchEngaged is True only when the kill switch is demanded (spec.killSwitch, or the resource
is being deleted) and EVERY shard 0..shards-1 reported tradingState HALTED with
killSwitchAcknowledged at the current generation: `kubectl wait --for=condition=KillSwitchEngaged`
then means every pod really stopped.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The runtime heartbeats every 5 s (governance/k8s.py); three missed beats make a shard stale.
HEARTBEAT_STALE_SECONDS = 15.0

CONDITION_TYPES = ("Ready", "KillSwitchEngaged", "Degraded", "InvalidSpec", "Resharding")


@dataclass(frozen=True)
class ShardReport:
    shard_id: int
    pod: str
    trading_state: str
    acknowledged: bool
    observed_generation: int | None
    last_heartbeat: datetime.datetime | None


def parse_time(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _generation(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shard_reports(status: Mapping[str, Any] | None) -> dict[int, ShardReport]:
    """Reports by shard id; malformed entries are skipped (they count as missing)."""
    shards = (status or {}).get("shards")
    out: dict[int, ShardReport] = {}
    if not isinstance(shards, Mapping):
        return out
    for key, entry in shards.items():
        if not isinstance(entry, Mapping) or not str(key).isdigit():
            continue
        out[int(key)] = ShardReport(
            shard_id=int(key),
            pod=str(entry.get("pod", "")),
            trading_state=str(entry.get("tradingState", "")),
            acknowledged=entry.get("killSwitchAcknowledged") is True,
            observed_generation=_generation(entry.get("observedGeneration")),
            last_heartbeat=parse_time(entry.get("lastHeartbeat")),
        )
    return out


def kill_switch_demanded(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    # Anything but an explicit false engages: a malformed switch must fail safe.
    switch = spec.get("killSwitch", False)
    return switch is not False or bool(meta.get("deletionTimestamp"))


def _halted_and_acknowledged(r: ShardReport | None, generation: int | None) -> bool:
    return (
        r is not None
        and r.acknowledged
        and r.trading_state == "HALTED"
        and (generation is None or r.observed_generation == generation)
    )


def unacknowledged_shards(
    shards: int, generation: int | None, reports: Mapping[int, ShardReport]
) -> list[int]:
    return [i for i in range(shards) if not _halted_and_acknowledged(reports.get(i), generation)]


def live_unacknowledged(
    status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime.datetime,
    stale_after: float = HEARTBEAT_STALE_SECONDS,
) -> list[int]:
    """Shards with a live pod (fresh heartbeat) that has not yet halted and acknowledged: what
    deletion waits for. A pod that is gone cannot acknowledge and is not waited for."""
    waiting = []
    for i, r in sorted(shard_reports(status).items()):
        if r.last_heartbeat is None or (now - r.last_heartbeat).total_seconds() > stale_after:
            continue
        if not _halted_and_acknowledged(r, generation):
            waiting.append(i)
    return waiting


def _shard_count(spec: Mapping[str, Any], reports: Mapping[int, ShardReport]) -> int:
    shards = spec.get("shards", 1)
    if isinstance(shards, int) and not isinstance(shards, bool) and shards >= 1:
        return shards
    return max(len(reports), 1)


def _condition(
    old: Mapping[str, Mapping[str, Any]],
    ctype: str,
    ok: bool,
    reason: str,
    message: str,
    now: datetime.datetime,
    generation: int | None,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    previous = old.get(ctype)
    changed = previous is None or previous.get("status") != status
    since = (
        format_time(now) if changed else str(previous.get("lastTransitionTime", format_time(now)))
    )
    cond: dict[str, Any] = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def compute_status(
    spec: Mapping[str, Any],
    meta: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    problems: Sequence[str] | None,
    now: datetime.datetime,
    stale_after: float = HEARTBEAT_STALE_SECONDS,
    running: int | None = None,
) -> dict[str, Any]:
    """The operator's part of the status: phase, readyShards, conditions.

    `problems`: the InvalidSpec reasons from the last check (empty: valid; None: not checked
    now, keep the previous InvalidSpec condition). `running`: the shard count the children are
    rendered for (during a resharding transition not yet `spec.shards`, resharding.py); the
    Resharding condition mirrors `status.sharding`."""
    status = status or {}
    reports = shard_reports(status)
    shards = running if running is not None else _shard_count(spec, reports)
    generation = _generation(meta.get("generation"))
    old_conditions: dict[str, Mapping[str, Any]] = {}
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and isinstance(c.get("type"), str):
            old_conditions[c["type"]] = c

    fresh: list[int] = []
    stale: list[int] = []
    for i in range(shards):
        r = reports.get(i)
        if r is None or r.last_heartbeat is None:
            continue
        age = (now - r.last_heartbeat).total_seconds()
        (fresh if age <= stale_after else stale).append(i)

    if problems is None:
        prev = old_conditions.get("InvalidSpec", {})
        invalid = prev.get("status") == "True"
        invalid_reason = str(prev.get("reason", "SpecValid"))
        invalid_message = str(prev.get("message", ""))
    else:
        invalid = bool(problems)
        invalid_reason = "SpecInvalid" if invalid else "SpecValid"
        invalid_message = "; ".join(problems) if invalid else ""

    demanded = kill_switch_demanded(spec, meta)
    missing = unacknowledged_shards(shards, generation, reports) if demanded else []
    engaged = demanded and not missing
    if not demanded:
        ks_reason, ks_message = "NotRequested", "spec.killSwitch is false"
    elif engaged:
        ks_reason, ks_message = "AllShardsHalted", f"all {shards} shards halted and acknowledged"
    else:
        ks_reason = "WaitingForShards"
        ks_message = "not yet acknowledged by shards " + ",".join(str(i) for i in missing)

    not_active = [i for i in fresh if reports[i].trading_state != "ACTIVE" and not demanded]
    degraded = bool(stale or not_active)
    if stale:
        dg_reason = "HeartbeatStale"
        dg_message = "no heartbeat for >{:.0f}s from shards {}".format(
            stale_after, ",".join(map(str, stale))
        )
    elif not_active:
        dg_reason = "ShardNotActive"
        dg_message = "shards {} not ACTIVE without the kill switch".format(
            ",".join(map(str, not_active))
        )
    else:
        dg_reason, dg_message = "AllShardsHealthy", ""

    ready = len(fresh) == shards
    rd_reason = "AllShardsReporting" if ready else "ShardsNotReporting"
    rd_message = f"{len(fresh)}/{shards} shards heartbeating"

    if meta.get("deletionTimestamp"):
        phase = "Terminating"
    elif invalid:
        phase = "Invalid"
    elif engaged:
        phase = "Halted"
    elif degraded:
        phase = "Degraded"
    elif ready:
        phase = "Running"
    else:
        phase = "Pending"

    conditions = [
        _condition(old_conditions, "Ready", ready, rd_reason, rd_message, now, generation),
        _condition(
            old_conditions, "KillSwitchEngaged", engaged, ks_reason, ks_message, now, generation
        ),
        _condition(old_conditions, "Degraded", degraded, dg_reason, dg_message, now, generation),
        _condition(
            old_conditions, "InvalidSpec", invalid, invalid_reason, invalid_message, now, generation
        ),
        _resharding_condition(old_conditions, status.get("sharding"), now, generation),
    ]
    return {"phase": phase, "readyShards": len(fresh), "conditions": conditions}


def _resharding_condition(
    old: Mapping[str, Mapping[str, Any]],
    sharding: object,
    now: datetime.datetime,
    generation: int | None,
) -> dict[str, Any]:
    """True while a resharding transition runs; reason = its phase (Releasing, Rolling)."""
    published = sharding if isinstance(sharding, Mapping) else {}
    phase = published.get("phase")
    moving = phase in ("Releasing", "Rolling")
    reason = str(phase) if moving else "Stable"
    return _condition(
        old, "Resharding", moving, reason, str(published.get("message", "")), now, generation
    )


def departed_shards(
    spec: Mapping[str, Any], status: Mapping[str, Any] | None, keep: int | None = None
) -> list[str]:
    """Report keys of shards that no longer exist after a scale-down (id >= spec.shards, or
    >= `keep`: during a resharding transition the larger layout's pods may still run). The
    operator may remove these: no live pod writes them, so the writers still never collide."""
    shards = keep if keep is not None else spec.get("shards")
    entries = (status or {}).get("shards")
    if not isinstance(shards, int) or isinstance(shards, bool) or not isinstance(entries, Mapping):
        return []
    return sorted(k for k in entries if not (str(k).isdigit() and int(k) < shards))


def status_changed(current: Mapping[str, Any] | None, computed: Mapping[str, Any]) -> bool:
    current = current or {}
    return any(current.get(k) != v for k, v in computed.items())
