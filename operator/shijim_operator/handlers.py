"""Kopf handlers: thin wrappers over reconcile.py (I/O) and conditions.py (pure).

Writes to the TradingShard itself go only to the operator's status fields (phase, readyShards,
observedGeneration, conditions, sharding) through Kopf's patch; `status.shards` belongs to the
pods (the operator only removes entries of shards that no longer exist after a scale-down).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from typing import Any

import kopf

from shijim_operator import conditions, reconcile, resharding
from shijim_operator.builders import GROUP, PLURAL, VERSION
from shijim_operator.spec import ShardSpec, read_spec

FINALIZER = "shijim.io/kill-switch"
DRAIN_POLL_SECONDS = 0.2

_api_lock = threading.Lock()
_api: Any = None

# The last spec check per TradingShard uid: (generation, problems). Only the reconcile handler
# checks a spec (it may read Secrets); status refreshes reuse its verdict for that generation and
# write nothing for a generation not yet checked (e.g. a stale event), so a refresh can never
# overwrite a newer InvalidSpec verdict.
_checked_lock = threading.Lock()
_checked: dict[str, tuple[Any, list[str]]] = {}
# Per TradingShard uid: what its pods show (a referenced Secret or key the kubelet could not
# find), re-read by the timer and added to the spec's verdict in every status computation. The
# operator never reads Secrets itself (docs/decisions.md).
_pod_problems: dict[str, list[str]] = {}
# TradingShard uids whose last verdict came from the StatefulSet as it is (volume claims it cannot
# get in place, recording.py): the timer checks again, so recreating the StatefulSet clears it
# without a spec change.
_cluster_bound: set[str] = set()


def _record_verdict(uid: str, generation: Any, result: reconcile.ReconcileResult) -> None:
    with _checked_lock:
        _checked[uid] = (generation, result.problems)
        if result.cluster_bound:
            _cluster_bound.add(uid)
        else:
            _cluster_bound.discard(uid)


def _recheck_claims(body: kopf.Body, logger: Any) -> None:
    """Reconcile again a spec blocked only by the StatefulSet as it is (its volume claims): once
    someone recreated it (docs/kubernetes.md#recorder-storage), the children are written and
    InvalidSpec clears within a timer period."""
    meta = body.get("metadata", {})
    uid = str(meta.get("uid"))
    with _checked_lock:
        checked = _checked.get(uid)
        bound = uid in _cluster_bound
    if not bound or checked is None or checked[0] != meta.get("generation"):
        return
    try:
        result = reconcile.reconcile(api(), body)
    except reconcile.ChildConflict as exc:
        logger.warning("cannot reconcile: %s", exc)
        return
    _record_verdict(uid, meta.get("generation"), result)
    if not result.problems:
        changed = [a for a in result.actions if not a.startswith("unchanged")]
        if changed:
            logger.info("reconciled after the StatefulSet changed: %s", ", ".join(changed))
    elif result.problems != checked[1]:
        kopf.warn(body, reason="InvalidSpec", message="; ".join(result.problems))


def _problems(uid: str, spec_problems: list[str]) -> list[str]:
    with _checked_lock:
        return spec_problems + _pod_problems.get(uid, [])


def api() -> Any:
    global _api
    with _api_lock:
        if _api is None:
            _api = reconcile.make_api_client()
        return _api


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


class _QuietRoutineHandlers(logging.Filter):
    """Status refreshes run on every pod heartbeat: their success lines would flood the log."""

    ROUTINE = ("'refresh_status' succeeded", "'heartbeat_check' succeeded")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(r in message for r in self.ROUTINE)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The operator serves named namespaces or the cluster; it never needs to list Namespaces.
    settings.scanning.disabled = True
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage()
    # Kubernetes Events only for warnings (invalid specs, drain timeouts): fewer API writes.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    logging.getLogger("kopf.objects").addFilter(_QuietRoutineHandlers())
    api()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile_shard(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, logger: Any, **_: Any
) -> None:
    try:
        result = reconcile.reconcile(api(), body)
    except reconcile.ChildConflict as exc:
        # Retried: a leftover of a deleted namesake disappears once garbage-collected.
        raise kopf.TemporaryError(f"cannot reconcile: {exc}", delay=5) from None
    _record_verdict(str(meta.get("uid")), meta.get("generation"), result)
    if result.problems:
        message = "invalid spec, children left as they were: " + "; ".join(result.problems)
        logger.warning(message)
        kopf.warn(body, reason="InvalidSpec", message=message)  # kubectl describe shows it
    else:
        changed = [a for a in result.actions if not a.startswith("unchanged")]
        if changed:
            logger.info("reconciled: %s", ", ".join(changed))
    problems = _problems(str(meta.get("uid")), result.problems)
    current = dict(status)
    if result.plan is not None:
        _publish(result.plan, current, patch, logger)
    spec = dict(body.get("spec", {}))
    running = _running(body, current)
    computed = conditions.compute_status(
        spec, dict(meta), current, problems, _now(), running=running
    )
    patch.status.update(computed)
    patch.status["observedGeneration"] = meta.get("generation")


def _running(body: kopf.Body, status: dict[str, Any]) -> int | None:
    """Shards the children are rendered for (not spec.shards during a resharding transition)."""
    shards = body.get("spec", {}).get("shards", 1)
    if not isinstance(shards, int) or isinstance(shards, bool):
        return None
    return resharding.running_shards(status.get("sharding"), shards)


def _publish(plan: resharding.Plan, status: dict[str, Any], patch: kopf.Patch, logger: Any) -> None:
    """Write `status.sharding` when it changed; `status` (a copy) gets the new value so the
    conditions computed next see it."""
    sharding = plan.status()
    if resharding.sharding_changed(status.get("sharding"), sharding):
        patch.status["sharding"] = sharding
        before = status.get("sharding") if isinstance(status.get("sharding"), dict) else {}
        if before.get("phase") != plan.phase or before.get("layouts") != sharding["layouts"]:
            logger.info("resharding: %s", sharding["message"])
    status["sharding"] = sharding


def _advance_resharding(
    body: kopf.Body, spec: ShardSpec, status: dict[str, Any], patch: kopf.Patch, logger: Any
) -> None:
    """Move a resharding transition on (pods' acknowledgements, the StatefulSet rolling). The
    children change only when the phase becomes Rolling: then they are rendered at the new
    layout first, and Rolling is published after (a failed write is retried on the next event;
    the acknowledgements still hold)."""
    plan = reconcile.plan_sharding(api(), body, spec)
    published = resharding.read_sharding(status.get("sharding"))
    if published is None or published.render != plan.render:
        try:
            actions = reconcile.apply_children(api(), body, spec, plan.render)
        except reconcile.ClaimsFixed as exc:
            # The StatefulSet changed under a checked spec; the reconcile path reports it.
            logger.warning("resharding waits: %s", exc)
            return
        changed = [a for a in actions if not a.startswith("unchanged")]
        if changed:
            logger.info("resharding: %s", ", ".join(changed))
    _publish(plan, status, patch, logger)


def _refresh(body: kopf.Body, patch: kopf.Patch, logger: Any) -> None:
    meta = dict(body.get("metadata", {}))
    with _checked_lock:
        checked = _checked.get(str(meta.get("uid")))
    if checked is None or checked[0] != meta.get("generation"):
        return  # this generation is not checked yet: the reconcile handler writes its status
    spec = dict(body.get("spec", {}))
    status = dict(body.get("status", {}))
    problems = _problems(str(meta.get("uid")), checked[1])
    valid, _ = read_spec(spec) if not checked[1] else (None, [])
    if valid is not None and not meta.get("deletionTimestamp"):
        _advance_resharding(body, valid, status, patch, logger)
    computed = conditions.compute_status(
        spec, meta, status, problems, _now(), running=_running(body, status)
    )
    if conditions.status_changed(status, computed):
        patch.status.update(computed)
    if valid is None:
        return  # only for a valid spec: its shard count is the truth
    # During a transition the larger layout's pods may still run and report.
    keep = resharding.reporting_shards(status.get("sharding"), valid.shards)
    departed = conditions.departed_shards(spec, status, keep)
    if departed:
        patch.status["shards"] = dict.fromkeys(departed)  # merge patch: null removes the key


@kopf.on.event(GROUP, VERSION, PLURAL)
def refresh_status(
    event: kopf.RawEvent, body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any
) -> None:
    """Pods' acknowledgements and heartbeats arrive as status changes: recompute conditions."""
    meta = body.get("metadata", {})
    if event.get("type") == "DELETED":
        with _checked_lock:
            _checked.pop(str(meta.get("uid")), None)
            _pod_problems.pop(str(meta.get("uid")), None)
            _cluster_bound.discard(str(meta.get("uid")))
        return
    if FINALIZER not in (meta.get("finalizers") or []) and not meta.get("deletionTimestamp"):
        # Kopf adds the finalizer in this cycle: a second write now would make it handle a
        # stale version and postpone the create handler. The next event brings the status.
        return
    _refresh(body, patch, logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=5.0, initial_delay=5.0)
def heartbeat_check(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
    """A dead pod sends nothing: only the clock turns its heartbeat stale. A pod that cannot
    start reports nothing either: its status (a missing Secret) is read here."""
    uid = str(body.get("metadata", {}).get("uid"))
    with _checked_lock:
        before = _pod_problems.get(uid, [])
    try:
        found = reconcile.pod_problems(api(), body)
    except Exception as exc:  # never let it stop the heartbeat check below: keep the last
        logging.getLogger(__name__).warning("reading the pods' status failed: %s", exc)
        found = before
    with _checked_lock:
        _pod_problems[uid] = found
    if found and found != before:
        kopf.warn(body, reason="InvalidSpec", message="; ".join(found))
    if not body.get("metadata", {}).get("deletionTimestamp"):
        _recheck_claims(body, logger)
    _refresh(body, patch, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL)
def drain_on_delete(
    body: kopf.Body, name: str, namespace: str, spec: kopf.Spec, logger: Any, **_: Any
) -> None:
    """Every live pod sees the deletionTimestamp and halts; wait (bounded) for their
    acknowledgements before the finalizer goes and the children are garbage-collected."""
    timeout = spec.get("shutdownTimeoutSeconds", 30)
    timeout = timeout if isinstance(timeout, int) and 1 <= timeout <= 600 else 30
    deadline = time.monotonic() + timeout
    waiting: list[int] = []
    while True:
        fresh = reconcile.read_tradingshard(api(), namespace, name)
        if fresh is None:
            return
        waiting = conditions.live_unacknowledged(
            fresh.get("status"), fresh.get("metadata", {}).get("generation"), _now()
        )
        if not waiting:
            logger.info("all live shards halted; deleting children")
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(DRAIN_POLL_SECONDS)
    message = (
        f"shards {','.join(map(str, waiting))} did not acknowledge the kill switch within "
        f"{timeout}s; deleting anyway"
    )
    logger.warning(message)
    kopf.warn(body, reason="DrainTimeout", message=message)
