"""Which shard owns which code: the runtime's rendezvous hashing (shijim.universe), restated here
so the operator image does not need the runtime package. tests/k8s/test_operator_builders.py
checks that both give the same assignment.

The operator uses it to refuse specs that would leave a shard without codes (that pod could not
start on the simulated feed and would trade nothing otherwise), and in resharding.py: the
ownership rule (`may_trade`) and the universe digest are restated here, equal to the runtime's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def _score(shard: int, code: str) -> int:
    digest = hashlib.blake2b(f"{shard}|{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(code: str, total_shards: int) -> int:
    best_shard, best_score = 0, -1
    for shard in range(total_shards):
        score = _score(shard, code)
        if score > best_score:  # ties go to the lower shard id, as in the runtime
            best_shard, best_score = shard, score
    return best_shard


def universe_digest(codes: Iterable[str]) -> str:
    """A short fixed name of a universe (a set of codes): order and duplicates do not matter."""
    joined = "\n".join(sorted(set(codes)))
    return hashlib.blake2b(joined.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Layout:
    """One split of a universe: `shards` pods over `codes`. Equal layouts have the same shard
    count and the same set of codes; `order` keeps the spec's order, so the ConfigMap rendered
    from a published layout is the one rendered from the spec (no needless pod restart)."""

    shards: int
    codes: frozenset[str]
    order: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, shards: int, codes: Iterable[str]) -> Layout:
        ordered = tuple(dict.fromkeys(codes))
        return cls(shards, frozenset(ordered), ordered)

    @property
    def universe(self) -> str:
        return universe_digest(self.codes)

    def key(self) -> dict[str, Any]:
        """How pods name a layout in their reports."""
        return {"shards": self.shards, "universe": self.universe}

    def to_status(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "universe": self.universe,
            "codes": list(self.order or sorted(self.codes)),
        }

    def describe(self) -> str:
        return f"{self.shards} shards/{self.universe[:8]}"


def may_trade(code: str, shard_id: int, own: Layout, layouts: Iterable[Layout]) -> bool:
    """The runtime's ownership rule (shijim.universe.may_trade): the pod's own layout is running
    and `code` belongs to `shard_id` under every running layout."""
    current = list(layouts)
    if own not in current:
        return False
    return all(code in lay.codes and shard_of(code, lay.shards) == shard_id for lay in current)


def empty_shards(codes: Iterable[str], total_shards: int) -> list[int]:
    owned = {shard_of(code, total_shards) for code in codes}
    return [i for i in range(total_shards) if i not in owned]
