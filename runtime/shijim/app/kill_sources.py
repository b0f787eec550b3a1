"""Start the shard's kill-switch sources; each drives the one TradingStateMachine from its own
thread (docs/risk.md, docs/kubernetes.md):

- SIGUSR1 engages / SIGUSR2 releases (always installed; signal handlers need the main thread);
- the file trigger (``run.kill_file`` / ``--kill-file``);
- admin HTTP (``admin.port`` / ``--admin-port``; needs SHIJIM_ADMIN_TOKEN, else disabled);
- the TradingShard watcher (``shard.tradingshard`` / ``--tradingshard`` / SHIJIM_TRADINGSHARD).
The loss limit is inside the risk gateway. Each started source registers its stop in
``shard.closers``. ``shard`` is anything shaped like ``ShardParts`` (the runtime's ``Shard``):
this module does not import the composition root that calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from shijim.governance.admin import AdminServer
from shijim.governance.file_trigger import FileTrigger
from shijim.governance.signals import SignalKillSwitch

if TYPE_CHECKING:
    from shijim.app.config import RuntimeConfig
    from shijim.app.feeds import FeedSetup
    from shijim.metrics import ShardMetrics
    from shijim.risk.gateway import RiskAwareGateway
    from shijim.risk.state import TradingStateMachine

log = logging.getLogger(__name__)


class ShardParts(Protocol):
    """What the kill-switch sources need of a shard."""

    cfg: RuntimeConfig
    state: TradingStateMachine
    gateway: RiskAwareGateway
    metrics: ShardMetrics
    feed_setup: FeedSetup
    codes: list[str]
    notes: list[str]
    closers: list[Callable[[], None]]
    snapshots: Any  # shijim.dashboard.channel.SnapshotChannel or None


def start_all(shard: ShardParts, env: Mapping[str, str]) -> None:
    cfg = shard.cfg
    state = shard.state
    sig = SignalKillSwitch(state)
    sig.install()
    shard.closers.append(sig.uninstall)
    if cfg.run.kill_file:
        trigger = FileTrigger(state, cfg.run.kill_file)
        trigger.start()
        shard.closers.append(trigger.stop)
    if cfg.admin.port is not None:
        admin = AdminServer.from_env(
            state,
            shard.gateway.summary,
            host=cfg.admin.bind,
            port=cfg.admin.port,
            env=env,
            snapshot=shard.snapshots,
        )
        if admin is not None:
            admin.start()
            shard.closers.append(admin.stop)
        else:
            shard.notes.append("admin HTTP disabled: SHIJIM_ADMIN_TOKEN not set")
    if cfg.shard.tradingshard:
        from shijim.governance.k8s import TradingShardWatcher
        from shijim.governance.k8s_api import endpoint_from_environment
        from shijim.governance.ownership import CodeOwnership
        from shijim.universe import Layout

        # Resharding: the codes this pod may trade follow the TradingShard's status.sharding.
        ownership = CodeOwnership(
            shard.gateway,
            cfg.shard.id,
            Layout(cfg.shard.total, frozenset(cfg.universe.codes)),
            shard.codes,
            broker_positions=shard.feed_setup.kind == "shioaji",
            metrics=shard.metrics,
        )
        watcher = TradingShardWatcher(
            state,
            cfg.shard.tradingshard,
            cfg.shard.namespace,
            cfg.shard.id,
            cfg.shard.pod_name or f"{cfg.shard.tradingshard}-{cfg.shard.id}",
            cfg.kubernetes.grace_seconds,
            cfg.kubernetes.grace_policy,
            endpoint=endpoint_from_environment(env),
            metrics=shard.metrics,
            ownership=ownership,
        )
        watcher.start()
        shard.closers.append(watcher.stop)
