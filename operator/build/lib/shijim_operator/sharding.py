"""Which shard owns which code: the runtime's rendezvous hashing (shijim.universe), restated here
so the operator image does not need the runtime package. tests/k8s/test_operator_builders.py
checks that both give the same assignment.

The operator uses it only to refuse specs that would leave a shard without codes (that pod could
not start on the simulated feed and would trade nothing otherwise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


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


def empty_shards(codes: Iterable[str], total_shards: int) -> list[int]:
    owned = {shard_of(code, total_shards) for code in codes}
    return [i for i in range(total_shards) if i not in owned]
