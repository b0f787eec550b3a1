"""The pinned run's warm-up: a scratch copy of the decision path runs every acting path of each
built-in strategy, and leaves the real shard exactly as it was."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from shijim.app.config import parse_config
from shijim.app.runtime import Shard, compose, scratch_runner
from shijim.app.strategies import STRATEGIES
from shijim.app.warm_up import WARM_UP_ROUNDS, warm_up

import shijim_core


@pytest.fixture
def shard(request: pytest.FixtureRequest) -> Iterator[Shard]:
    name = getattr(request, "param", "market_making")
    cfg = parse_config(
        {
            "feed": {"kind": "sim", "seed": 3},
            "universe": {"codes": ["TXFL6", "MXFL6", "2330"]},
            "strategy": {"name": name},
            "ring": {"name": f"t-warm-{name}"[:40]},
        }
    )
    s = compose(cfg, {})
    yield s
    s.close()


def _warm(shard: Shard):
    return warm_up(
        functools.partial(scratch_runner, shard), shard.codes, shard.gateway.instruments.ladder
    )


def test_market_making_warms_its_places_amends_fills_and_news(shard: Shard) -> None:
    seen: list = []
    real = functools.partial(scratch_runner, shard)

    def runner_of(reader):
        r = real(reader)
        seen.append(r)
        return r

    w = warm_up(runner_of, shard.codes, shard.gateway.instruments.ladder)
    (r,) = seen
    assert w.decisions >= WARM_UP_ROUNDS * len(shard.codes)  # every book decided
    assert w.orders > 0 and w.fills > 0 and r.counters.amends > 0  # both acting paths, fills
    assert r.counters.rehearsals > 0 and r.counters.strategy_errors == 0
    assert r.counters.tick_to_order_ns  # orders went out through risk and the venue
    assert 0 < w.seconds < 5


@pytest.mark.parametrize("shard", sorted(STRATEGIES), indirect=True)
def test_every_strategy_warms_up_and_the_real_shard_is_untouched(shard: Shard) -> None:
    before = generate_latest(shard.metrics.registry)
    engine_before = shard.engine.counters()
    w = _warm(shard)
    assert w.decisions > 0
    assert generate_latest(shard.metrics.registry) == before
    assert shard.engine.counters() == engine_before and shard.engine.now < 0
    assert shard.runner.decisions == 0 and shard.runner.counters.places == 0
    assert shard.gateway.working_orders() == {} and shard.state.state.name == "ACTIVE"
    # Its ring is gone.
    with pytest.raises(Exception):  # noqa: B017  (the binding's own error type)
        shijim_core.RingReader(f"shijim-warmup-{os.getpid()}")
