"""Universe sharding: which shard owns which instrument code.

Rendezvous (highest-random-weight) hashing over a fixed hash (blake2b-64 of ``"shard|code"``):
every shard scores every code and the highest score wins. The assignment depends only on the code
and the number of shards, is the same in every process and Python version (never the randomised
built-in ``hash()``), and adding an (N+1)-th shard moves only the ~1/(N+1) codes that the new
shard wins. docs/sharding.md explains the choice and the login-jitter helper.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)

# The Kubernetes operator sets these in every pod (pod ordinal = SHARD_ID).
ENV_SHARD_ID = "SHARD_ID"
ENV_TOTAL_SHARDS = "TOTAL_SHARDS"
# Shioaji: at most 5 connections per person ID; more shards than that cannot log in at once.
SHIOAJI_MAX_CONNECTIONS = 5
# What an instrument code looks like (TAIFEX and TWSE codes: upper-case letters and digits). One
# rule for the runtime's config check, the CRD's schema pattern and the operator (exported by
# ``python -m shijim.tools.universe_rules``; tests keep all three equal).
CODE_PATTERN = "^[A-Z0-9]{1,16}$"
_CODE = re.compile(CODE_PATTERN)


def code_problem(code: object) -> str | None:
    """Why ``code`` is not an instrument code, or None when it is one."""
    if not isinstance(code, str) or _CODE.fullmatch(code) is None:
        return f"{code!r} is not an instrument code (expected {CODE_PATTERN})"
    return None


class ShardConfigError(ValueError):
    """A shard id / shard count that cannot be used (names the input and the field)."""


def _score(shard: int, code: str) -> int:
    digest = hashlib.blake2b(f"{shard}|{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(code: str, total_shards: int) -> int:
    """The shard (0-based) that owns ``code`` among ``total_shards`` shards."""
    _check_total(total_shards, "total_shards")
    if not isinstance(code, str) or not code.strip():
        raise ShardConfigError(f"code: expected a non-empty instrument code, got {code!r}")
    best_shard, best_score = 0, -1
    for shard in range(total_shards):
        score = _score(shard, code)
        # Ties (probability ~2^-64) go to the lower shard id so the result stays deterministic.
        if score > best_score:
            best_shard, best_score = shard, score
    return best_shard


def assign(codes: Iterable[str], total_shards: int) -> dict[str, int]:
    """Shard of every code (duplicates collapse)."""
    return {code: shard_of(code, total_shards) for code in codes}


def universe_digest(codes: Iterable[str]) -> str:
    """A short fixed name of a universe (a set of codes): order and duplicates do not matter."""
    joined = "\n".join(sorted(set(codes)))
    return hashlib.blake2b(joined.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Layout:
    """One split of a universe: ``shards`` pods over ``codes``. During a resharding transition
    two layouts may have running pods (docs/sharding.md)."""

    shards: int
    codes: frozenset[str]

    @property
    def universe(self) -> str:
        return universe_digest(self.codes)


def may_trade(code: str, shard_id: int, own: Layout, layouts: Iterable[Layout]) -> bool:
    """The ownership rule: a pod (shard ``shard_id``, running with layout ``own``) may trade
    ``code`` iff its own layout is one of ``layouts`` and ``code`` belongs to shard ``shard_id``
    under EVERY one of them. With one layout that is plain rendezvous hashing; with two (a
    transition) a code that moves belongs to nobody, and a code that stays belongs to the same
    ordinal, of which a StatefulSet runs at most one pod: no code ever has two trading pods."""
    current = list(layouts)
    if own not in current:
        return False
    return all(code in lay.codes and shard_of(code, lay.shards) == shard_id for lay in current)


def _check_total(total_shards: object, field: str) -> int:
    if isinstance(total_shards, bool) or not isinstance(total_shards, int) or total_shards < 1:
        raise ShardConfigError(f"{field}: expected an integer >= 1, got {total_shards!r}")
    return total_shards


@dataclass(frozen=True)
class ShardSpec:
    """This process's place in the universe: shard ``shard_id`` of ``total_shards``."""

    shard_id: int
    total_shards: int

    def __post_init__(self) -> None:
        _check_total(self.total_shards, "total_shards")
        sid = self.shard_id
        if isinstance(sid, bool) or not isinstance(sid, int) or not 0 <= sid < self.total_shards:
            raise ShardConfigError(
                f"shard_id: expected an integer in [0, {self.total_shards - 1}], got {sid!r}"
            )

    @classmethod
    def parse(cls, shard_id: str | int, total_shards: str | int, source: str = "args") -> ShardSpec:
        """Build from strings (flags or env), naming ``source`` in errors."""
        return cls(
            shard_id=_parse_int(shard_id, f"{source}: shard id"),
            total_shards=_parse_int(total_shards, f"{source}: total shards"),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShardSpec:
        """SHARD_ID / TOTAL_SHARDS from the environment; a single shard (0 of 1) when unset."""
        e = os.environ if env is None else env
        return cls.parse(
            e.get(ENV_SHARD_ID, "0"), e.get(ENV_TOTAL_SHARDS, "1"), source="environment"
        )

    def owns(self, code: str) -> bool:
        return shard_of(code, self.total_shards) == self.shard_id

    def select(self, codes: Iterable[str]) -> list[str]:
        """The codes this shard owns, in input order, without duplicates."""
        seen: set[str] = set()
        out: list[str] = []
        for code in codes:
            if code not in seen and self.owns(code):
                seen.add(code)
                out.append(code)
        return out


def _parse_int(value: str | int, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip(), 10)
    except ValueError:
        raise ShardConfigError(f"{field}: expected an integer, got {value!r}") from None


class JitterMode(Enum):
    """How the startup jitter is chosen (docs/sharding.md)."""

    # Shard k of N waits k/N of the window: pods never log in at the same moment and restarts
    # are reproducible.
    SHARD = "shard"
    # Uniform in the window: for many deployments sharing one person ID, where per-shard slots
    # of different deployments would collide.
    RANDOM = "random"


def startup_jitter_seconds(
    spec: ShardSpec,
    max_seconds: float,
    mode: JitterMode = JitterMode.SHARD,
    rng: random.Random | None = None,
) -> float:
    """Seconds this shard should wait before its broker login."""
    if not max_seconds >= 0 or max_seconds == float("inf"):
        raise ShardConfigError(
            f"startup_jitter_seconds: expected a finite number >= 0, got {max_seconds!r}"
        )
    if mode is JitterMode.SHARD:
        return max_seconds * spec.shard_id / spec.total_shards
    r = rng if rng is not None else random.SystemRandom()
    return r.uniform(0.0, max_seconds)


def wait_startup_jitter(
    spec: ShardSpec,
    max_seconds: float,
    mode: JitterMode = JitterMode.SHARD,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep this shard's startup jitter before the broker login; returns the seconds waited."""
    delay = startup_jitter_seconds(spec, max_seconds, mode)
    if delay > 0:
        log.info(
            "shard %d/%d: waiting %.1f s before login (startup jitter, %s)",
            spec.shard_id, spec.total_shards, delay, mode.value,
        )  # fmt: skip
        sleep(delay)
    return delay
