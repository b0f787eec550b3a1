"""The runtime's configuration: one YAML file (rendered by the operator into a ConfigMap), then
command-line flags and environment variables on top. docs/configuration.md lists every key.

Secrets never live here: broker keys come from SHIOAJI_API_KEY / SHIOAJI_SECRET_KEY, the admin
token from SHIJIM_ADMIN_TOKEN.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from shijim.app.schema import ConfigError, read_dataclass
from shijim.recorder.settings import RecorderConfig, recorder_problems
from shijim.risk.limits import RiskLimits
from shijim.universe import code_problem


@dataclass(frozen=True)
class ShardConfig:
    id: int = 0
    total: int = 1
    tradingshard: str = ""  # the TradingShard to watch ("" = no Kubernetes watch)
    namespace: str = "default"
    pod_name: str = ""
    # Wait before the broker login, spreading the logins of many pods (Shioaji: 5 connections
    # per person ID, 1000 logins a day; docs/sharding.md). "shard": shard k of N waits k/N of it.
    startup_jitter_seconds: float = 0.0
    startup_jitter_mode: Literal["shard", "random"] = "shard"


@dataclass(frozen=True)
class UniverseConfig:
    # Codes of the whole TradingShard; this process trades only those its shard owns.
    codes: tuple[str, ...] = ("TXFL6", "MXFL6", "2330", "2317")


@dataclass(frozen=True)
class FeedConfig:
    kind: Literal["auto", "sim", "shioaji", "replay"] = "auto"  # auto: shioaji if keys are set
    simulation: bool = False  # Shioaji's simulation environment
    replay_path: str = ""
    pace: Literal["realtime", "fast"] = "realtime"
    seed: int = 7


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "market_making"
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # When the strategy decides (docs/engine.md): every_event | on_touch_change | interval_ms:N.
    decision: str = "on_touch_change"


@dataclass(frozen=True)
class PaperConfig:
    """The paper venue (sim and replay feeds; docs/execution.md). Fees and taxes are on by
    default for every instrument; ``fees`` overrides them per code (per_lot, rate,
    sell_tax_rate)."""

    latency: Literal["shioaji", "zero"] = "shioaji"
    fees: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MetricsConfig:
    port: int | None = None  # None: no HTTP endpoint (metrics still counted)
    # Loopback unless told: the series show positions and PnL. On Kubernetes the pod renders
    # SHIJIM_METRICS_BIND from its pod IP (downward API), which Prometheus scrapes.
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class HealthConfig:
    """Bounds of /livez and /readyz (served on the metrics port; shijim.app.health)."""

    liveness_seconds: float = 10.0  # trading-loop heartbeat older than this: /livez 503
    stale_data_seconds: float = 60.0  # no market data this long in session: /readyz 503


def bind_problem(value: str) -> str | None:
    """A listen address must be an IP literal (a pod IP, 127.0.0.1, 0.0.0.0, ::)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f'expected an IP address, got "{value}"'
    return None


@dataclass(frozen=True)
class AdminConfig:
    port: int | None = None  # None: admin HTTP disabled
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class KubernetesConfig:
    grace_seconds: float = 30.0
    grace_policy: Literal["REDUCING", "HALTED"] = "HALTED"


@dataclass(frozen=True)
class RingConfig:
    # "" = shijim-<tradingshard|local>-s<shard>-<pid> (unique); set a fixed name when another
    # process (dashboard, recorder) must attach by a known name.
    name: str = ""
    slots: int = 65536
    batch: int = 4096  # max messages per read


@dataclass(frozen=True)
class RunConfig:
    duration: float | None = None  # seconds; None = until SIGTERM/SIGINT
    kill_file: str = ""  # presence of this file engages the kill switch ("" = off)
    summary_json: str = ""  # also write the run summary as JSON here ("" = off)
    # Write the strategy's actions and fills here at the end (fills.jsonl, actions.jsonl, and
    # summary.json): what `python -m shijim reconcile` compares ("" = off).
    journal_dir: str = ""
    # Pin the trading thread to this CPU (None = let the scheduler move it), as a trading host
    # that isolates a core for it does; side threads (metrics, watchers) stay unpinned.
    cpu: int | None = None


# `--cpu last`: the spelling `make run` and the benchmarks use for "the trading CPU".
CPU_LAST = "last"


def last_cpu(allowed: Collection[int]) -> int | None:
    """The CPU ``--cpu last`` pins the trading thread to: the last of ``allowed`` (the process's
    CPU mask) when there are two or more, so that everything else has a CPU of its own; None
    (unpinned) with one, where a busy-polling trading thread would starve the rest."""
    return max(allowed) if len(allowed) > 1 else None


@dataclass(frozen=True)
class RuntimeConfig:
    shard: ShardConfig = field(default_factory=ShardConfig)
    universe: UniverseConfig = field(default_factory=UniverseConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    # The pre-trade limits, read as they are (one type, one name per limit: shijim.risk.limits).
    risk: RiskLimits = field(default_factory=RiskLimits)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    # The recorder (shijim.recorder.settings, read as it is; docs/recorder.md).
    recorder: RecorderConfig = field(default_factory=RecorderConfig)


def decision_problem(text: str) -> str | None:
    """The decision policy's grammar is the engine's own (one parser, in Rust)."""
    import shijim_core

    try:
        shijim_core.Engine([], text)
    except ValueError as exc:
        return str(exc).removeprefix("Engine: policy: ")
    return None


def check_ranges(cfg: RuntimeConfig) -> None:
    """Constraints types cannot express; errors name the field like type errors do."""

    def need(ok: bool, path: str, msg: str) -> None:
        if not ok:
            raise ConfigError(path, msg)

    need(cfg.shard.total >= 1, "shard.total", f"must be >= 1, got {cfg.shard.total}")
    jitter = cfg.shard.startup_jitter_seconds
    need(
        0 <= jitter < float("inf"),  # also false for NaN
        "shard.startup_jitter_seconds",
        f"must be a finite number >= 0, got {jitter}",
    )
    need(
        0 <= cfg.shard.id < cfg.shard.total,
        "shard.id",
        f"must be in [0, shard.total={cfg.shard.total}), got {cfg.shard.id}",
    )
    need(len(cfg.universe.codes) > 0, "universe.codes", "must list at least one code")
    seen: set[str] = set()
    for i, code in enumerate(cfg.universe.codes):
        problem = code_problem(code)  # the rule the operator applies too (shijim.universe)
        need(problem is None, f"universe.codes[{i}]", problem or "")
        need(code not in seen, f"universe.codes[{i}]", f'duplicate code "{code}"')
        seen.add(code)
    need(cfg.feed.seed >= 0, "feed.seed", f"must be >= 0, got {cfg.feed.seed}")
    policy = decision_problem(cfg.strategy.decision)
    need(policy is None, "strategy.decision", policy or "")
    need(
        cfg.feed.kind != "replay" or bool(cfg.feed.replay_path),
        "feed.replay_path",
        "required when feed.kind is replay",
    )
    for port_path, port in (("metrics.port", cfg.metrics.port), ("admin.port", cfg.admin.port)):
        need(port is None or 0 <= port <= 65535, port_path, f"must be in [0, 65535], got {port}")
    bind = bind_problem(cfg.metrics.bind)
    need(bind is None, "metrics.bind", bind or "")
    for name in ("liveness_seconds", "stale_data_seconds"):
        value = getattr(cfg.health, name)
        need(value > 0, f"health.{name}", f"must be > 0, got {value}")
    need(cfg.kubernetes.grace_seconds > 0, "kubernetes.grace_seconds", "must be > 0")
    need(
        cfg.ring.slots >= 1024 and cfg.ring.slots & (cfg.ring.slots - 1) == 0,
        "ring.slots",
        f"must be a power of two >= 1024, got {cfg.ring.slots}",
    )
    need(cfg.ring.batch >= 1, "ring.batch", f"must be >= 1, got {cfg.ring.batch}")
    for path, problem in recorder_problems(cfg.recorder):
        need(False, f"recorder.{path}", problem)
    cpu = cfg.run.cpu
    need(cpu is None or cpu >= 0, "run.cpu", f"must be a CPU number >= 0, got {cpu}")
    need(
        cfg.run.duration is None or cfg.run.duration > 0,
        "run.duration",
        f"must be > 0, got {cfg.run.duration}",
    )


def parse_config(data: object, source: str = "<config>") -> RuntimeConfig:
    """Validate parsed YAML; raises ConfigError naming the field path."""
    cfg = read_dataclass(RuntimeConfig, data)
    check_ranges(cfg)
    return cfg


def load_config(path: str | Path) -> RuntimeConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {p}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            "",
            f"{p}: not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}"
            f" (line {line}, byte {column} of the line)",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("", f"{p}: not valid YAML{where}") from exc
    try:
        return parse_config(data, str(p))
    except ConfigError as exc:
        raise ConfigError(exc.path, f"{exc.message} (in {p})") from None


def with_overrides(cfg: RuntimeConfig, **sections: Mapping[str, Any]) -> RuntimeConfig:
    """Apply CLI/env overrides (``section={field: value}``; ``None`` values are skipped) and
    re-check the ranges."""
    out = cfg
    for section, values in sections.items():
        changes = {k: v for k, v in values.items() if v is not None}
        if changes:
            out = dataclasses.replace(
                out, **{section: dataclasses.replace(getattr(out, section), **changes)}
            )
    check_ranges(out)
    return out
