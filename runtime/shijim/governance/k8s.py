"""The runtime watches its own TradingShard: the CRD-level kill switch works with the operator down.

`TradingShardWatcher` runs three daemon threads, never on the trading path:
  * until the first GET succeeded the CRD demand holds the pod HALTED (a pod restarting while
    the switch is on never sends an order);
  * the watch thread GETs the TradingShard, then WATCHes it (reconnecting with backoff, re-listing
    after a closed or expired watch). spec.killSwitch true, or a deletionTimestamp, engages the
    CRD demand on the TradingStateMachine (HALTED, working orders cancelled by the state machine's
    listeners); false releases only the CRD demand (other sources keep theirs).
  * the report thread merge-patches `status.shards.<SHARD_ID>` (pod, tradingState,
    killSwitchAcknowledged, observedGeneration, lastHeartbeat, and with a `CodeOwnership` the
    resharding fields layout, layouts, released) at once on every change and as a heartbeat;
  * with a `CodeOwnership` (governance/ownership.py) every read of the TradingShard also applies
    `status.sharding`: codes this pod may not trade under every running layout are held.
  * the grace thread applies the API-grace policy: no successful exchange with the API server
    (an error status counts as none) for longer than grace_seconds demands REDUCING or HALTED
    (KillSwitchSource.API_GRACE). The demand is released only after a fresh GET of the
    TradingShard has been applied, so a kill switch set during the outage is never missed.

The pod writes nothing else in the TradingShard (the operator owns phase/conditions): the two
writers never overwrite each other.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shijim.domain import KillSwitchSource, TradingState
from shijim.governance.k8s_api import (
    SA_DIR,
    ApiClient,
    ApiEndpoint,
    ApiUnreachable,
    endpoint_from_environment,
)
from shijim.risk.state import StateChange, TradingStateMachine

if TYPE_CHECKING:
    from shijim.governance.ownership import CodeOwnership

log = logging.getLogger("shijim.governance.k8s")

GROUP, VERSION, PLURAL = "shijim.io", "v1alpha1", "tradingshards"
MERGE_PATCH = "application/merge-patch+json"
REPORT_RETRY_SECONDS = 0.1


class ReachabilityGauge(Protocol):
    def k8s_api_reachable(self, reachable: bool) -> None: ...


@dataclass(frozen=True)
class ShardIdentity:
    tradingshard: str
    namespace: str
    shard_id: int
    total_shards: int
    pod_name: str


_ORDINAL = re.compile(r"-(\d+)$")


def shard_identity(
    env: Mapping[str, str], tradingshard: str | None = None, sa_dir: Path = SA_DIR
) -> ShardIdentity:
    """Who this pod is, from the environment the operator's StatefulSet sets.

    SHARD_ID comes from the pod-index label (Kubernetes >= 1.28); when it is empty the ordinal is
    the numeric suffix of POD_NAME (or HOSTNAME), as StatefulSet pods are named <sts>-<ordinal>.
    Raises ValueError naming the variable on bad input."""
    name = tradingshard or env.get("SHIJIM_TRADINGSHARD", "")
    if not name:
        raise ValueError("SHIJIM_TRADINGSHARD: not set (and no --tradingshard given)")
    namespace = env.get("POD_NAMESPACE", "")
    if not namespace and (sa_dir / "namespace").exists():
        namespace = (sa_dir / "namespace").read_text(encoding="utf-8").strip()
    pod = env.get("POD_NAME") or env.get("HOSTNAME", "")
    raw_id = env.get("SHARD_ID", "").strip()
    if raw_id:
        if not raw_id.isdigit():
            raise ValueError(f"SHARD_ID: expected a non-negative integer, got {raw_id!r}")
        shard_id = int(raw_id)
    else:
        m = _ORDINAL.search(pod)
        if m is None:
            raise ValueError(f"SHARD_ID: not set and POD_NAME {pod!r} has no -<ordinal> suffix")
        shard_id = int(m.group(1))
    raw_total = env.get("TOTAL_SHARDS", "1").strip() or "1"
    if not raw_total.isdigit() or int(raw_total) < 1:
        raise ValueError(f"TOTAL_SHARDS: expected an integer >= 1, got {raw_total!r}")
    total = int(raw_total)
    if shard_id >= total:
        raise ValueError(f"SHARD_ID: {shard_id} is not below TOTAL_SHARDS={total}")
    return ShardIdentity(name, namespace or "default", shard_id, total, pod)


@dataclass(frozen=True)
class ShardDemand:
    """What a TradingShard object asks of this pod (pure reading of the object)."""

    kill: bool
    reason: str
    generation: int | None
    resource_version: str | None
    grace_seconds: float | None
    grace_policy: TradingState | None
    problems: tuple[str, ...] = ()


def read_demand(obj: object, name: str) -> ShardDemand:
    """Read the kill switch (and API-grace settings) from a TradingShard object. A malformed
    switch fails safe: anything but an explicit false (or absent) engages."""
    problems: list[str] = []
    if not isinstance(obj, Mapping):
        return ShardDemand(
            True,
            f"TradingShard {name}: not an object",
            None,
            None,
            None,
            None,
            (f"TradingShard {name}: expected an object",),
        )
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    gen = meta.get("generation")
    generation = gen if isinstance(gen, int) and not isinstance(gen, bool) else None
    rv = meta.get("resourceVersion")
    switch = spec.get("killSwitch", False)
    if switch is True:
        kill, reason = True, f"TradingShard {name}: spec.killSwitch is true"
    elif switch is False or switch is None:
        kill, reason = False, f"TradingShard {name}: spec.killSwitch is false"
    else:
        kill, reason = True, f"TradingShard {name}: spec.killSwitch is not a boolean ({switch!r})"
        problems.append(
            f"TradingShard {name}: spec.killSwitch: expected true or false, got {switch!r}"
        )
    if meta.get("deletionTimestamp"):
        kill, reason = True, f"TradingShard {name}: being deleted"
    api = spec.get("apiServer") if isinstance(spec.get("apiServer"), Mapping) else {}
    grace = api.get("gracePeriodSeconds")
    grace_seconds: float | None = None
    if grace is not None:
        if isinstance(grace, int | float) and not isinstance(grace, bool) and 1 <= grace <= 3600:
            grace_seconds = float(grace)
        else:
            problems.append(
                f"TradingShard {name}: spec.apiServer.gracePeriodSeconds: got {grace!r}"
            )
    policy = api.get("policy")
    grace_policy: TradingState | None = None
    if policy is not None:
        if policy in ("REDUCING", "HALTED"):
            grace_policy = TradingState[policy]
        else:
            problems.append(f"TradingShard {name}: spec.apiServer.policy: got {policy!r}")
    return ShardDemand(
        kill,
        reason,
        generation,
        rv if isinstance(rv, str) else None,
        grace_seconds,
        grace_policy,
        tuple(problems),
    )


def _utc_now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TradingShardWatcher:
    """Watches one TradingShard for one shard of it; see the module docstring."""

    def __init__(
        self,
        state_machine: TradingStateMachine,
        name: str,
        namespace: str,
        shard_id: int,
        pod_name: str,
        grace_seconds: float = 30.0,
        grace_policy: TradingState | str = TradingState.HALTED,
        *,
        endpoint: ApiEndpoint | None = None,
        metrics: ReachabilityGauge | None = None,
        on_reachability: Callable[[bool], None] | None = None,
        ownership: CodeOwnership | None = None,
        heartbeat_seconds: float = 5.0,
        watch_timeout_seconds: int = 30,
        request_timeout_seconds: float = 5.0,
    ) -> None:
        if isinstance(grace_policy, str):
            if grace_policy not in ("REDUCING", "HALTED"):
                raise ValueError(f"grace_policy: expected REDUCING or HALTED, got {grace_policy!r}")
            grace_policy = TradingState[grace_policy]
        if grace_policy is TradingState.ACTIVE:
            raise ValueError("grace_policy: must be REDUCING or HALTED")
        if grace_seconds <= 0:
            raise ValueError(f"grace_seconds: must be > 0, got {grace_seconds}")
        self.state_machine = state_machine
        self.name = name
        self.namespace = namespace
        self.shard_id = shard_id
        self.pod_name = pod_name
        self.grace_seconds = float(grace_seconds)
        self.grace_policy = grace_policy
        self.heartbeat_seconds = heartbeat_seconds
        self.watch_timeout_seconds = watch_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self._endpoint = endpoint
        self._metrics = metrics
        self._on_reachability = on_reachability
        self._ownership = ownership
        self._client: ApiClient | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._first_read = threading.Event()
        self._lock = threading.Lock()
        self._last_contact = time.monotonic()
        self._reachable: bool | None = None
        self._grace_engaged = False
        self._demanded = False
        self._generation: int | None = None
        self._threads: list[threading.Thread] = []
        self.bad_input_total = 0
        self.reports_total = 0
        self.last_report_error: str | None = None
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{urllib.parse.quote(namespace)}/{PLURAL}"
        self._object_path = f"{base}/{urllib.parse.quote(name)}"
        self._watch_base = base

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._threads:
            return
        if self._endpoint is None:
            self._endpoint = endpoint_from_environment()
        self._client = ApiClient(self._endpoint)
        self._last_contact = time.monotonic()
        # No trading before the switch has been read once: a pod that (re)starts while the
        # switch is on must not send a single order. The first successful GET releases this.
        self.state_machine.engage(
            KillSwitchSource.CRD, f"TradingShard {self.namespace}/{self.name} not read yet"
        )
        if self._ownership is not None:  # and no code is this pod's before status.sharding is read
            self._ownership.hold_all(f"TradingShard {self.namespace}/{self.name} not read yet")
        self.state_machine.subscribe(self._on_state_change)
        loops = (
            (self._watch_loop, "watch"),
            (self._report_loop, "report"),
            (self._grace_loop, "grace"),
        )
        for target, label in loops:
            t = threading.Thread(target=target, name=f"shijim-k8s-{label}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._first_read.set()
        if self._client is not None:
            self._client.abort_stream()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    @property
    def api_reachable(self) -> bool:
        return bool(self._reachable)

    @property
    def observed_generation(self) -> int | None:
        return self._generation

    # ------------------------------------------------------------------ contact bookkeeping
    def _contact(self, ok: bool) -> None:
        if ok:
            self._last_contact = time.monotonic()
        if ok != self._reachable:
            self._reachable = ok
            if self._metrics is not None:
                self._metrics.k8s_api_reachable(ok)
            if self._on_reachability is not None:
                self._on_reachability(ok)

    def _check_grace(self) -> None:
        silent = time.monotonic() - self._last_contact
        if silent > self.grace_seconds:
            self._contact(False)
            with self._lock:
                if self._grace_engaged:
                    return
                self._grace_engaged = True
            reason = f"Kubernetes API unreachable for {silent:.1f}s > grace {self.grace_seconds:g}s"
            log.error("%s: trading state -> %s", reason, self.grace_policy.name)
            self.state_machine.demand(KillSwitchSource.API_GRACE, self.grace_policy, reason)

    def _release_grace(self) -> None:
        with self._lock:
            if not self._grace_engaged:
                return
            self._grace_engaged = False
        log.warning("Kubernetes API reachable again: API-grace demand released")
        self.state_machine.release(KillSwitchSource.API_GRACE, "Kubernetes API reachable again")

    # ------------------------------------------------------------------ applying the object
    def _apply(self, obj: object) -> ShardDemand:
        demand = read_demand(obj, self.name)
        for problem in demand.problems:
            self.bad_input_total += 1
            log.error("bad TradingShard input (counted; failing safe): %s", problem)
        if demand.grace_seconds is not None:
            self.grace_seconds = demand.grace_seconds
        if demand.grace_policy is not None and demand.grace_policy is not TradingState.ACTIVE:
            self.grace_policy = demand.grace_policy
        with self._lock:  # before the state change, whose listener triggers the report
            changed = demand.kill != self._demanded or (
                demand.generation is not None and demand.generation != self._generation
            )
            self._demanded = demand.kill
            if demand.generation is not None:
                self._generation = demand.generation
        # Resharding holds before the CRD demand is released: the first read never lets a code
        # trade that the published layouts give to nobody (or to another pod).
        if self._ownership is not None and isinstance(obj, Mapping):
            changed = self._ownership.apply(obj.get("status")) or changed
        if demand.kill:
            self.state_machine.engage(KillSwitchSource.CRD, demand.reason)
        else:
            self.state_machine.release(KillSwitchSource.CRD, demand.reason)
        if changed:  # not on our own heartbeats coming back through the watch
            self._wake.set()
        return demand

    def _apply_missing(self) -> None:
        # Our TradingShard does not exist (deleted, or a wrong name): nothing authorises trading.
        reason = f"TradingShard {self.namespace}/{self.name} not found"
        self.state_machine.engage(KillSwitchSource.CRD, reason)
        with self._lock:
            self._demanded = True
        self._wake.set()

    def _on_state_change(self, change: StateChange) -> None:
        self._wake.set()  # report at once; never block the caller (maybe the trading thread)

    # ------------------------------------------------------------------ watch thread
    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _watch_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._watch_once()
                backoff = 0.1
            except ApiUnreachable as exc:
                self._contact(False)
                log.warning("TradingShard watch: %s (retry in %.1fs)", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:  # never let the watcher die: the switch must keep working
                log.exception("TradingShard watch: unexpected error (retrying)")
                self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _watch_once(self) -> None:
        assert self._client is not None
        resp = self._client.request("GET", self._object_path, timeout=self.request_timeout_seconds)
        if resp.status not in (200, 404):
            # 401/403/5xx: the server answers but we cannot see the switch: for the grace
            # policy that is the same as not reaching it.
            raise ApiUnreachable(f"GET {self._object_path}: HTTP {resp.status}")
        self._contact(True)
        if resp.status == 404:
            self._apply_missing()
            self._first_read.set()
            self._release_grace()
            self._sleep(1.0)
            return
        demand = self._apply(resp.body)
        self._first_read.set()
        self._release_grace()
        query = urllib.parse.urlencode(
            {
                "watch": "true",
                "fieldSelector": f"metadata.name={self.name}",
                "resourceVersion": demand.resource_version or "",
                "timeoutSeconds": str(self.watch_timeout_seconds),
                "allowWatchBookmarks": "true",
            }
        )
        read_timeout = self.watch_timeout_seconds + 10.0
        for event in self._client.stream(f"{self._watch_base}?{query}", read_timeout):
            if self._stop.is_set():
                return
            kind = event.get("type")
            if kind != "ERROR":
                self._contact(True)
            obj = event.get("object")
            if kind in ("ADDED", "MODIFIED"):
                name = obj.get("metadata", {}).get("name") if isinstance(obj, Mapping) else None
                if name == self.name:  # the field selector is a hint some servers ignore
                    self._apply(obj)
            elif kind == "DELETED":
                if isinstance(obj, Mapping) and obj.get("metadata", {}).get("name") == self.name:
                    self._apply_missing()
            elif kind == "BOOKMARK":
                continue
            elif kind == "ERROR":
                return  # e.g. 410 Gone: re-list
            else:
                self.bad_input_total += 1
                log.error("bad watch event from the API server (counted, dropped): %r", kind)

    # ------------------------------------------------------------------ report thread
    def shard_status(self) -> dict[str, Any]:
        state = self.state_machine.state
        with self._lock:
            demanded, generation = self._demanded, self._generation
        entry: dict[str, Any] = {
            "pod": self.pod_name,
            "tradingState": state.name,
            "killSwitchAcknowledged": demanded and state is TradingState.HALTED,
            "lastHeartbeat": _utc_now(),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        if self._ownership is not None:
            entry.update(self._ownership.report())
        return entry

    def _report(self) -> bool:
        """One status patch; False if it did not land (then it is retried soon)."""
        assert self._client is not None
        body = {"status": {"shards": {str(self.shard_id): self.shard_status()}}}
        try:
            resp = self._client.request(
                "PATCH",
                f"{self._object_path}/status",
                body,
                MERGE_PATCH,
                timeout=self.request_timeout_seconds,
            )
        except ApiUnreachable as exc:
            self.last_report_error = str(exc)
            self._contact(False)
            return False
        if resp.status >= 300:
            self.last_report_error = f"HTTP {resp.status}"
            log.warning("TradingShard status report: HTTP %s", resp.status)
            self._contact(False)
            return False
        self._contact(True)
        self.reports_total += 1
        self.last_report_error = None
        return True

    def _report_loop(self) -> None:
        # The first report carries what the TradingShard says, not the start-up hold.
        self._first_read.wait(self.heartbeat_seconds)
        next_beat = 0.0
        retry = REPORT_RETRY_SECONDS
        while not self._stop.is_set():
            woken = self._wake.wait(0.05)
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()  # before reading the state, so no change is missed
            if woken or time.monotonic() >= next_beat:
                if self._report():
                    retry = REPORT_RETRY_SECONDS
                    next_beat = time.monotonic() + self.heartbeat_seconds
                    if self._ownership is not None and self._ownership.settling():
                        # Released codes still have working orders: report again as soon as
                        # their cancels are confirmed, the operator waits for exactly that.
                        next_beat = time.monotonic() + REPORT_RETRY_SECONDS
                else:
                    # An acknowledgement must not wait for the next heartbeat.
                    next_beat = time.monotonic() + retry
                    retry = min(retry * 2, self.heartbeat_seconds)

    def _grace_loop(self) -> None:
        # Its own thread: a request hanging on a black-holed connection must not delay this.
        while not self._stop.wait(min(0.1, self.grace_seconds / 10)):
            self._check_grace()


def watcher_from_environment(
    state_machine: TradingStateMachine,
    tradingshard: str | None = None,
    grace_seconds: float = 30.0,
    grace_policy: TradingState | str = TradingState.HALTED,
    metrics: ReachabilityGauge | None = None,
    env: Mapping[str, str] | None = None,
) -> TradingShardWatcher:
    """Build the watcher for this pod (identity from SHIJIM_TRADINGSHARD, POD_NAMESPACE, SHARD_ID,
    POD_NAME; credentials in-cluster or from $KUBECONFIG)."""
    env = os.environ if env is None else env
    ident = shard_identity(env, tradingshard)
    return TradingShardWatcher(
        state_machine,
        ident.tradingshard,
        ident.namespace,
        ident.shard_id,
        ident.pod_name,
        grace_seconds,
        grace_policy,
        endpoint=endpoint_from_environment(env),
        metrics=metrics,
    )
