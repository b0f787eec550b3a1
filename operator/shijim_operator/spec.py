"""Reading and checking a TradingShard spec (pure).

The API server already enforces the CRD's OpenAPI schema. This module re-checks types anyway
(an old CRD, a test emulator, a hand-edited object must never crash the operator) and adds the
rules a schema cannot express: duplicate codes, more shards than codes, a replay feed without a
path, real trading without broker keys, a universe code the runtime would refuse (codes.py),
an unknown strategy or a parameter it would refuse (strategies.py), a decision policy or a risk
limit it would refuse (risk_limits.py). Every problem names the field; the operator reports them
in condition InvalidSpec and leaves running pods alone. A referenced Secret that does not exist
is found from the pods' status (`secret_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shijim_operator import recording
from shijim_operator.codes import code_problem, simulation_problem
from shijim_operator.risk_limits import risk_problems, runtime_risk
from shijim_operator.sharding import empty_shards
from shijim_operator.strategies import strategy_problems

FEEDS = ("sim", "shioaji", "replay")
GRACE_POLICIES = ("REDUCING", "HALTED")
PACES = ("realtime", "fast")
MAX_SHARDS = 64
# When the strategy decides (docs/engine.md); the CRD's pattern, and the range of N the runtime's
# parser (shijim_core DecisionPolicy) accepts. tests/k8s/test_operator_builders.py checks both
# agree with the runtime.
DEFAULT_DECISION = "on_touch_change"
DECISION_PATTERN = r"^(every_event|on_touch_change|interval_ms:[1-9][0-9]{0,7})$"
MAX_INTERVAL_MS = 86_400_000
# The runtime's rule for recorder.clickhouse.database (shijim.recorder.settings).
CLICKHOUSE_DATABASE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"


@dataclass(frozen=True)
class SpecProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"spec.{self.field}: {self.message}"


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class BrokerSecret:
    name: str
    api_key_key: str = "api-key"
    secret_key_key: str = "secret-key"  # noqa: S105 - the name of a key, not a secret
    ca_password_key: str | None = None
    person_id_key: str | None = None
    # Key holding the CA certificate file (.pfx bytes): mounted read-only, never an env value.
    ca_file_key: str | None = None


@dataclass(frozen=True)
class ShardSpec:
    """A checked spec; only built when there are no problems."""

    image: str
    shards: int
    codes: tuple[str, ...]
    feed: str
    strategy_name: str
    strategy_parameters: Mapping[str, Any]
    decision: str = DEFAULT_DECISION
    image_pull_policy: str = "IfNotPresent"
    simulation: bool = True
    seed: int = 7
    replay_path: str = ""
    replay_pace: str = "realtime"
    broker: BrokerSecret | None = None
    # The runtime config's risk section (config names, every limit; risk_limits.py).
    risk: Mapping[str, Any] = field(default_factory=lambda: runtime_risk({}))
    kill_switch: bool = False
    recorder_enabled: bool = True
    raw_dir: str = "/var/lib/shijim/raw"
    fallback_dir: str = "/var/lib/shijim/fallback"
    fsync: str = "interval"
    fsync_interval_ms: int = 200
    storage_size: str | None = None
    storage_class: str | None = None
    # The recorder's ClickHouse sink, as the runtime's recorder.clickhouse: on by default, the
    # embedded engine on the pod's volume unless dsnSecretRef names a server.
    clickhouse_enabled: bool = True
    clickhouse_dsn: SecretKeyRef | None = None
    clickhouse_database: str = "shijim"
    resources: Mapping[str, Any] = field(default_factory=dict)
    metrics_port: int = 9100
    grace_seconds: int = 30
    grace_policy: str = "HALTED"
    shutdown_timeout_seconds: int = 30

    @property
    def clickhouse_server(self) -> SecretKeyRef | None:
        """The Secret key holding the DSN of the ClickHouse server the pods send to; None when
        nothing uses it (recorder or sink off: the pod then never depends on that Secret)."""
        if self.recorder_enabled and self.clickhouse_enabled:
            return self.clickhouse_dsn
        return None

    def secret_names(self) -> set[str]:
        names = set()
        if self.broker is not None:
            names.add(self.broker.name)
        if self.clickhouse_server is not None:
            names.add(self.clickhouse_server.name)
        return names


class _Reader:
    """Typed field access that records a problem instead of raising."""

    def __init__(self, spec: object) -> None:
        self.problems: list[SpecProblem] = []
        self.root = spec if isinstance(spec, Mapping) else {}
        if not isinstance(spec, Mapping):
            self.problems.append(SpecProblem("", "expected a mapping"))

    def _get(self, path: str) -> Any:
        node: Any = self.root
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    def mapping(self, path: str) -> Mapping[str, Any]:
        value = self._get(path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problems.append(SpecProblem(path, f"expected a mapping, got {value!r}"))
            return {}
        return value

    def string(self, path: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self._get(path)
        if value is None:
            if required:
                self.problems.append(SpecProblem(path, "required field is missing"))
            return default
        if not isinstance(value, str) or (required and not value):
            self.problems.append(SpecProblem(path, f"expected a non-empty string, got {value!r}"))
            return default
        return value

    def choice(self, path: str, allowed: tuple[str, ...], default: str | None) -> Any:
        value = self.string(path, default, required=default is None)
        if value is not None and value not in allowed:
            self.problems.append(
                SpecProblem(path, f"expected one of {list(allowed)}, got {value!r}")
            )
            return default
        return value

    def boolean(self, path: str, default: bool) -> bool:
        value = self._get(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(SpecProblem(path, f"expected true or false, got {value!r}"))
            return default
        return value

    def integer(self, path: str, default: int, lo: int, hi: int | None = None) -> int:
        value = self._get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(SpecProblem(path, f"expected an integer, got {value!r}"))
            return default
        if value < lo or (hi is not None and value > hi):
            bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            self.problems.append(SpecProblem(path, f"must be in {bound}, got {value}"))
            return default
        return value

    def positive(self, path: str, default: float) -> float:
        value = self._get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.problems.append(SpecProblem(path, f"expected a number > 0, got {value!r}"))
            return default
        if value == float("inf"):
            self.problems.append(SpecProblem(path, "must be finite"))
            return default
        return float(value)


def _codes(r: _Reader, feed: str | None) -> tuple[str, ...]:
    raw = r._get("universe.codes")
    if raw is None:
        r.problems.append(SpecProblem("universe.codes", "required field is missing"))
        return ()
    if not isinstance(raw, list) or not raw:
        r.problems.append(SpecProblem("universe.codes", f"expected a non-empty list, got {raw!r}"))
        return ()
    codes: list[str] = []
    seen: dict[str, int] = {}
    for i, code in enumerate(raw):
        # The runtime's own admission rules (codes.py): what it would refuse at start.
        problem = code_problem(code) or (simulation_problem(code) if feed == "sim" else None)
        if problem is not None:
            r.problems.append(SpecProblem(f"universe.codes[{i}]", problem))
            continue
        if code in seen:
            r.problems.append(
                SpecProblem(
                    f"universe.codes[{i}]", f"duplicate code {code!r} (first at [{seen[code]}])"
                )
            )
            continue
        seen[code] = i
        codes.append(code)
    return tuple(codes)


def decision_problem(text: str) -> str | None:
    if re.match(DECISION_PATTERN, text) is None:
        return f"expected every_event, on_touch_change or interval_ms:N, got {text!r}"
    if text.startswith("interval_ms:") and int(text.split(":")[1]) > MAX_INTERVAL_MS:
        return f"interval_ms: N must be in [1, {MAX_INTERVAL_MS}], got {text!r}"
    return None


def _risk(r: _Reader) -> dict[str, Any]:
    risk = r.mapping("risk")
    problems = risk_problems(risk)
    for path, message in problems:
        r.problems.append(SpecProblem(path, message))
    return runtime_risk(risk) if not problems else runtime_risk({})


def read_spec(spec: object) -> tuple[ShardSpec | None, list[SpecProblem]]:
    """Check `spec`; return (ShardSpec, []) or (None, problems)."""
    r = _Reader(spec)
    image = r.string("image", required=True)
    shards = r.integer("shards", 1, 1, MAX_SHARDS)
    feed = r.choice("feed", FEEDS, None)
    codes = _codes(r, feed)
    simulation = r.boolean("simulation", True)
    strategy_name = r.string("strategy.name", required=True)
    parameters = r.mapping("strategy.parameters")
    decision = r.string("strategy.decision", DEFAULT_DECISION)
    if (problem := decision_problem(decision)) is not None:
        r.problems.append(SpecProblem("strategy.decision", problem))
    if strategy_name:
        for path, message in strategy_problems(strategy_name, parameters):
            r.problems.append(SpecProblem(path, message))

    broker: BrokerSecret | None = None
    if r._get("brokerSecretRef") is not None:
        broker = BrokerSecret(
            name=r.string("brokerSecretRef.name", required=True) or "",
            api_key_key=r.string("brokerSecretRef.apiKeyKey", "api-key"),
            secret_key_key=r.string("brokerSecretRef.secretKeyKey", "secret-key"),
            ca_password_key=r.string("brokerSecretRef.caPasswordKey"),
            person_id_key=r.string("brokerSecretRef.personIdKey"),
            ca_file_key=r.string("brokerSecretRef.caFileKey"),
        )
    if feed == "shioaji" and broker is None:
        r.problems.append(SpecProblem("brokerSecretRef", "required when feed is shioaji"))
    if not simulation and broker is None:
        r.problems.append(SpecProblem("brokerSecretRef", "required when simulation is false"))
    if not simulation and broker is not None and feed == "shioaji":
        # Production orders are signed with the person's CA; the runtime refuses to start
        # without it, so say so here instead of crash-looping pods.
        for key, value in (
            ("caFileKey", broker.ca_file_key),
            ("caPasswordKey", broker.ca_password_key),
        ):
            if not value:
                r.problems.append(
                    SpecProblem(f"brokerSecretRef.{key}", "required for production orders (CA)")
                )

    replay_path = r.string("replay.path", "")
    if feed == "replay" and not replay_path:
        r.problems.append(SpecProblem("replay.path", "required when feed is replay"))

    if codes and shards > len(codes):
        r.problems.append(
            SpecProblem(
                "shards", f"{shards} shards but only {len(codes)} codes: a shard would be empty"
            )
        )
    elif codes:
        empty = empty_shards(codes, shards)
        if empty:
            r.problems.append(
                SpecProblem(
                    "shards",
                    f"shards {','.join(map(str, empty))} of {shards} would own no code of "
                    "universe.codes (rendezvous hashing): use fewer shards or more codes",
                )
            )

    ch_dsn: SecretKeyRef | None = None
    if r._get("clickhouse.dsnSecretRef") is not None:
        ch_dsn = SecretKeyRef(
            name=r.string("clickhouse.dsnSecretRef.name", required=True) or "",
            key=r.string("clickhouse.dsnSecretRef.key", "dsn"),
        )
        if not ch_dsn.key:
            r.problems.append(SpecProblem("clickhouse.dsnSecretRef.key", "must name a key"))
    raw_dir = r.string("recorder.rawDir", "/var/lib/shijim/raw")
    fallback_dir = r.string("recorder.fallbackDir", "/var/lib/shijim/fallback")
    for path, message in recording.dir_problems(raw_dir, fallback_dir):
        r.problems.append(SpecProblem(path, message))
    storage_size = r.string("recorder.storageSize")
    if storage_size is not None and not (recording.quantity_bytes(storage_size) or 0) > 0:
        r.problems.append(
            SpecProblem(
                "recorder.storageSize",
                f"expected a storage quantity > 0 such as 20Gi or 500M, got {storage_size!r}",
            )
        )
    database = r.string("clickhouse.database", "shijim")
    if re.fullmatch(CLICKHOUSE_DATABASE_PATTERN, database) is None:
        r.problems.append(
            SpecProblem(
                "clickhouse.database",
                f"expected a ClickHouse identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64), "
                f"got {database[:70]!r}",
            )
        )

    resources = r.mapping("resources")
    for part, value in resources.items():
        if part not in ("limits", "requests") or not isinstance(value, Mapping):
            r.problems.append(SpecProblem(f"resources.{part}", "expected limits/requests mappings"))

    shard_spec = ShardSpec(
        image=image or "",
        shards=shards,
        codes=codes,
        feed=feed or "sim",
        strategy_name=strategy_name or "",
        strategy_parameters=dict(parameters),
        decision=decision,
        image_pull_policy=r.choice(
            "imagePullPolicy", ("Always", "IfNotPresent", "Never"), "IfNotPresent"
        ),
        simulation=simulation,
        seed=r.integer("sim.seed", 7, 0, 2**32 - 1),
        replay_path=replay_path or "",
        replay_pace=r.choice("replay.pace", PACES, "realtime"),
        broker=broker,
        risk=_risk(r),
        kill_switch=r.boolean("killSwitch", False),
        recorder_enabled=r.boolean("recorder.enabled", True),
        raw_dir=raw_dir,
        fallback_dir=fallback_dir,
        fsync=r.choice("recorder.fsync", recording.FSYNC_POLICIES, "interval"),
        fsync_interval_ms=r.integer(
            "recorder.fsyncIntervalMs", 200, 1, recording.MAX_FSYNC_INTERVAL_MS
        ),
        storage_size=storage_size,
        storage_class=r.string("recorder.storageClassName"),
        clickhouse_enabled=r.boolean("clickhouse.enabled", True),
        clickhouse_dsn=ch_dsn,
        clickhouse_database=database,
        resources=dict(resources),
        metrics_port=r.integer("metrics.port", 9100, 1024, 65535),
        grace_seconds=r.integer("apiServer.gracePeriodSeconds", 30, 1, 3600),
        grace_policy=r.choice("apiServer.policy", GRACE_POLICIES, "HALTED"),
        shutdown_timeout_seconds=r.integer("shutdownTimeoutSeconds", 30, 1, 600),
    )
    if r.problems:
        return None, r.problems
    return shard_spec, []


# What the kubelet writes into a container's waiting state when the pod's environment names a
# Secret, or a key of one, that does not exist: the container never starts (no order at risk).
CONFIG_ERROR_REASON = "CreateContainerConfigError"
_MISSING_SECRET = re.compile(r'secret "(?P<name>[^"]+)" not found')
_MISSING_KEY = re.compile(r"couldn't find key (?P<key>\S+) in Secret [^/\s]+/(?P<name>\S+)")


def _secret_fields(spec: ShardSpec) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """The spec fields naming each referenced Secret, and each (Secret, key)."""
    names: dict[str, str] = {}
    keys: dict[tuple[str, str], str] = {}
    if spec.clickhouse_server is not None:
        d = spec.clickhouse_server
        names[d.name] = "clickhouse.dsnSecretRef.name"
        keys[(d.name, d.key)] = "clickhouse.dsnSecretRef.key"
    if spec.broker is not None:
        b = spec.broker
        names[b.name] = "brokerSecretRef.name"
        for field_name, key in (
            ("apiKeyKey", b.api_key_key),
            ("secretKeyKey", b.secret_key_key),
            ("caPasswordKey", b.ca_password_key),
            ("personIdKey", b.person_id_key),
            ("caFileKey", b.ca_file_key),
        ):
            if key:
                keys[(b.name, key)] = f"brokerSecretRef.{field_name}"
    return names, keys


def secret_problems(spec: ShardSpec, pods: Iterable[Mapping[str, Any]]) -> list[SpecProblem]:
    """The referenced Secrets (or keys) that the kubelet reported missing in the status of the
    TradingShard's pods (plain Pod objects). The operator never reads Secrets itself
    (docs/decisions.md); one problem per field, naming the first pod that showed it."""
    names, keys = _secret_fields(spec)
    found: dict[str, SpecProblem] = {}
    for pod in pods:
        pod_name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            waiting = ((cs or {}).get("state") or {}).get("waiting") or {}
            if waiting.get("reason") != CONFIG_ERROR_REASON:
                continue
            message = str(waiting.get("message", ""))
            where = f"(pod {pod_name}: {CONFIG_ERROR_REASON}: {message})"
            if (m := _MISSING_SECRET.search(message)) and m["name"] in names:
                field_path = names[m["name"]]
                problem = f"Secret {m['name']!r} not found in the namespace {where}"
            elif (m := _MISSING_KEY.search(message)) and (m["name"], m["key"]) in keys:
                field_path = keys[(m["name"], m["key"])]
                problem = f"key {m['key']!r} not found in Secret {m['name']!r} {where}"
            else:
                continue
            found.setdefault(field_path, SpecProblem(field_path, problem))
    return [found[k] for k in sorted(found)]
