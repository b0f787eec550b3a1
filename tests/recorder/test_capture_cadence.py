"""The capture's sleep between ring reads: long enough to read in batches, never long enough for
the fastest writer to lap the recorder (shijim.recorder.recording.capture_idle_s)."""

from __future__ import annotations

import pytest
from shijim.recorder.recording import CAPTURE_IDLE_MAX_S, RING_PUBLISH_CEILING, capture_idle_s


@pytest.mark.parametrize("slots", [1024, 4096, 16384, 65536, 1 << 20])
def test_a_writer_at_the_ceiling_fills_at_most_half_the_ring_in_one_sleep(slots: int) -> None:
    idle = capture_idle_s(slots)
    assert 0 < idle <= CAPTURE_IDLE_MAX_S
    assert idle * RING_PUBLISH_CEILING <= slots / 2


def test_the_default_ring_is_read_every_few_milliseconds_not_every_one() -> None:
    from shijim.app.config import RingConfig

    assert capture_idle_s(RingConfig.slots) == CAPTURE_IDLE_MAX_S > 0.001
    assert capture_idle_s(1024) < capture_idle_s(4096) < capture_idle_s(16384)
