"""Replay from SBE files (`python -m shijim.tools.sbe encode` output): the same ring and the same
drop counts as replaying the JSONL they were encoded from (both paces, files and directories,
mixed directories); bad frames (flipped bytes, a torn tail, a broken frame header) named by file
and byte offset, counted, dropped, never a crash."""

from __future__ import annotations

import itertools
import logging
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shijim.events.frames
from ring_fixture import records_of
from shijim.bus import Ingestor
from shijim.events import SessionState, format_record, raw_file_name, read_records
from shijim.events.frames import FrameError, is_sbe_file
from shijim.events.rows import read_row_batches, read_sbe_row_batches
from shijim.gateway.replay import ReplayFeed, ReplayPace
from shijim.tools import sbe as tool
from test_replay_rows import NOW, T0, S, book, session, snapshot, tick

import shijim_core

CODES = ["TXFL6", "2330", "MXFL6", "2317"]
INGEST_ONLY = ("bad_json", "malformed")  # record rules: refused at encode time instead


def replay(
    path: Path, pace: ReplayPace = ReplayPace.FAST, batch: int = 4096, universe: Any = None
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    bad: dict[str, int] = {}

    def fill(writer: Any) -> None:
        ing = Ingestor(writer, universe=universe, clock_ns=lambda: NOW)
        wall = itertools.count(0.0, 3600.0)  # realtime: every entry is due when asked
        feed = ReplayFeed(path, pace, batch=batch, monotonic=lambda: next(wall))
        feed.start(ing)
        feed.run_for()
        assert feed.finished
        bad.update(ing.bad.counts)

    return records_of(fill), bad


def encode(src: Path, dst: Path) -> int:
    """`sbe encode --skip-bad` of one file; returns how many lines it skipped."""
    n, dropped = tool.encode_file(src, dst, skip_bad=True)
    assert n + dropped.count == sum(1 for line in src.read_text().splitlines() if line.strip())
    return dropped.count


def random_lines(rng: random.Random, code: str) -> list[str]:
    """Records the ingestor drops (times back, duplicates, crossed and bad books, prices <= 0,
    codes outside the shard) beside good ones, events, snapshots, escaped lines (the reference
    reader's) and lines that are not valid records."""
    lines = []
    ts = T0
    for _ in range(rng.randint(20, 150)):
        ts += rng.choice([0, 0, 1, 2, 5]) * S
        r = rng.random()
        if r < 0.35:
            line = format_record(tick(code, ts, price=f"{rng.randint(1, 99)}.5"))
        elif r < 0.7:
            line = format_record(book(code, ts, top=str(rng.randint(50, 99))))
        elif r < 0.74:
            line = format_record(session(code, ts, SessionState.OPEN))
        elif r < 0.77:
            line = format_record(snapshot(code, ts))
        elif r < 0.81:
            line = format_record(tick(code, ts - 3 * S))  # back in time
        elif r < 0.84 and lines:
            line = lines[-1]  # duplicate
        elif r < 0.86:
            line = format_record(tick(code, ts)).replace('"code":"', '"code":"\\u0020')
        elif r < 0.88:
            line = format_record(book(code, ts)).replace('"ask_price":[101.25', '"ask_price":[99')
        elif r < 0.90:
            line = format_record(tick(code, ts, price="-1"))
        elif r < 0.92:
            line = format_record(tick("OTHER", ts))
        elif r < 0.94:
            line = format_record(tick(code, ts + 86_400 * S))  # a day after the replay's now
        elif r < 0.96:
            line = format_record(book(code, ts)).replace('"bid_volume":[1', '"bid_volume":[-1')
        elif r < 0.98:
            line = format_record(tick(code, ts)).replace('"price":23000.5', '"price":"23000.5"')
        else:
            line = "{bad"
        lines.append(line)
    return lines


def write_day(rng: random.Random, root: Path) -> tuple[Path, Path, int]:
    """A JSONL day directory and its SBE encoding; returns both and the lines skipped."""
    jsonl, sbe = root / "jsonl", root / "sbe"
    jsonl.mkdir()
    sbe.mkdir()
    skipped = 0
    for code in CODES[: rng.randint(1, 4)]:
        src = jsonl / raw_file_name("20261124", code)
        src.write_text("\n".join(random_lines(rng, code)) + "\n")
        skipped += encode(src, (sbe / src.name).with_suffix(".sbe"))
    return jsonl, sbe, skipped


def without_record_errors(bad: dict[str, int]) -> tuple[dict[str, int], int]:
    rest = {k: v for k, v in bad.items() if k not in INGEST_ONLY}
    return rest, sum(bad.get(k, 0) for k in INGEST_ONLY)


@pytest.mark.parametrize("pace", [ReplayPace.FAST, ReplayPace.REALTIME])
@pytest.mark.parametrize("seed", range(5))
def test_sbe_directory_same_ring_and_drops_as_jsonl(
    tmp_path: Path, seed: int, pace: ReplayPace
) -> None:
    rng = random.Random(seed)
    jsonl, sbe, skipped = write_day(rng, tmp_path)
    batch = rng.choice([1, 3, 16, 4096])
    universe = set(CODES)
    from_jsonl, jsonl_bad = replay(jsonl, pace, batch, universe)
    from_sbe, sbe_bad = replay(sbe, pace, batch, universe)
    assert from_sbe == from_jsonl  # every field, seq and local_ts included
    rest, record_errors = without_record_errors(jsonl_bad)
    assert sbe_bad == rest  # the ingestor drops the same records for the same causes
    assert record_errors == skipped  # what JSONL replay refuses, encode refused
    # A directory mixing both formats (half the codes each) merges the same way.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for k, f in enumerate(sorted(jsonl.iterdir())):
        g = f if k % 2 else (sbe / f.name).with_suffix(".sbe")
        (mixed / g.name).write_bytes(g.read_bytes())
    assert replay(mixed, pace, batch, universe)[0] == from_jsonl


def test_sim_recorded_day_same_ring(tmp_path: Path) -> None:
    from shijim.events import record_from_dict, write_records
    from test_replay_rows import sim_records

    recs = [record_from_dict(r) for r in sim_records()]
    src = tmp_path / "20261124_ALL.jsonl"
    write_records(src, recs)
    dst = tmp_path / "x" / "20261124_ALL.sbe"
    dst.parent.mkdir()
    assert encode(src, dst) == 0
    codes = {r.code for r in recs}
    a, a_bad = replay(src, universe=codes)
    b, b_bad = replay(dst, universe=codes)
    assert len(a) > 500 and a == b and a_bad == b_bad == {}


# -- hand-corrupted SBE files ----------------------------------------------------------------


def frames_of(n: int) -> tuple[bytearray, list[int]]:
    """n tick frames of TXFL6, one second apart, and the byte offset of each."""
    recs = [tick("TXFL6", T0 + i * S) for i in range(n)]
    data = bytearray()
    offsets = []
    for r in recs:
        offsets.append(len(data))
        data += shijim_core.sbe_encode_stream([shijim.events.record_to_dict(r)])
    return data, offsets


def test_flipped_bytes_are_bad_frames_named_by_byte_offset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, at = frames_of(20)
    data[at[3] + 6 + 2 : at[3] + 6 + 4] = struct.pack("<H", 42)  # templateId 42
    data[at[7] + 6 + 8 + 64] = 9  # tickType 9: not in the schema
    data[at[11] + 6 + 8 + 24] = 0x07  # code starts with a control byte
    data[at[13] + 6 + 8 : at[13] + 6 + 8 + 24] = bytes(24)  # seq, exch_ts 0...: still a record
    data[at[15] + 6 + 8 + 24 : at[15] + 6 + 8 + 40] = bytes(16)  # empty code: not a record
    f = tmp_path / "20261124_TXFL6.sbe"
    f.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        recs, bad = replay(f, universe={"TXFL6"})
    # 4 bad frames (malformed) and the frame dated 1970 behind its code's watermark.
    assert bad == {"malformed": 4, "time_backwards": 1}
    assert [r["exch_ts"] for r in recs] == [
        T0 + i * S for i in range(20) if i not in (3, 7, 11, 13, 15)
    ]
    (msg,) = [r.getMessage() for r in caplog.records if "(malformed)" in r.getMessage()]
    assert f"{f}: byte {at[3] + 6 + 2}" in msg and "unknown templateId 42" in msg
    (msg,) = [r.getMessage() for r in caplog.records if "(time_backwards)" in r.getMessage()]
    assert f"{f}: byte {at[13]}:" in msg
    seen: list[FrameError] = []
    list(read_sbe_row_batches(f, on_bad=seen.append))
    assert [(e.offset, e.field) for e in seen] == [
        (at[3] + 6 + 2, "(frame)"),
        (at[7] + 6 + 8 + 64, "(frame)"),
        (at[11] + 6 + 8 + 24, "(frame)"),
        (at[15], "code"),
    ]
    with pytest.raises(FrameError, match=rf"byte {at[3] + 6 + 2}: unknown templateId 42"):
        list(read_sbe_row_batches(f))


@pytest.mark.parametrize("cut", [1, 5, 6, 40, 73])
def test_torn_last_frame_is_reported_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: int
) -> None:
    data, at = frames_of(10)
    f = tmp_path / "20261124_TXFL6.sbe"
    f.write_bytes(data[: at[9] + cut])
    with caplog.at_level(logging.WARNING):
        recs, bad = replay(f, universe={"TXFL6"})
    assert [r["exch_ts"] for r in recs] == [T0 + i * S for i in range(9)]
    assert bad == {"malformed": 1}
    (msg,) = [r.getMessage() for r in caplog.records]
    assert f"{f}: byte {at[9]}" in msg and "truncated" in msg


def test_broken_frame_header_ends_that_file_only(tmp_path: Path) -> None:
    data, at = frames_of(10)
    data[at[4] + 4] ^= 0xFF  # encoding type: the next frame cannot be found
    (tmp_path / "20261124_TXFL6.sbe").write_bytes(data)
    other = [book("2330", T0 + i * S) for i in range(5)]
    (tmp_path / "20261124_2330.jsonl").write_text("".join(format_record(r) + "\n" for r in other))
    recs, bad = replay(tmp_path, batch=3, universe={"TXFL6", "2330"})
    assert bad == {"malformed": 1}
    assert sorted(r["exch_ts"] for r in recs if r["code"] == "TXFL6") == [
        T0 + i * S for i in range(4)
    ]
    assert sum(r["code"] == "2330" for r in recs) == 5


def test_frames_across_read_chunks_and_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "a.jsonl"
    recs = [tick("TXFL6", T0 + i) if i % 3 else book("TXFL6", T0 + i) for i in range(50)]
    recs[20] = session("TXFL6", T0 + 20, SessionState.OPEN)
    src.write_text("".join(format_record(r) + "\n" for r in recs))
    dst = tmp_path / "a.sbe"
    encode(src, dst)
    monkeypatch.setattr(shijim.events.frames, "READ_CHUNK", 37)  # frames straddle chunks
    for limit in (1, 7, 4096):
        got = list(read_sbe_row_batches(dst, limit=limit))
        want = list(read_row_batches(src, limit=limit))
        assert all(len(b) <= limit for b in got)
        for field in ("kinds", "ticks", "books"):  # the same rows, every field
            x = np.concatenate([getattr(b, field) for b in got])
            y = np.concatenate([getattr(b, field) for b in want])
            for name in x.dtype.names or [None]:
                assert np.array_equal(
                    x if name is None else x[name], y if name is None else y[name]
                )
        assert [r for b in got for r in b.records] == list(read_records(src))[20:21]
        sizes = [len(shijim_core.sbe_encode_stream([shijim.events.record_to_dict(r)]))
                 for r in read_records(src)]  # fmt: skip
        assert [int(o) for b in got for o in b.lines] == list(
            itertools.accumulate([0, *sizes[:-1]])
        )


def test_format_detected_by_content_or_name(tmp_path: Path) -> None:
    data, _ = frames_of(3)
    (tmp_path / "day.bin").write_bytes(data)
    assert is_sbe_file(tmp_path / "day.bin")
    assert replay(tmp_path / "day.bin")[1] == {}
    assert len(replay(tmp_path / "day.bin")[0]) == 3
    (tmp_path / "a.jsonl").write_text(format_record(tick("TXFL6", T0)) + "\n")
    assert not is_sbe_file(tmp_path / "a.jsonl")
    (tmp_path / "empty.sbe").write_bytes(b"")
    assert is_sbe_file(tmp_path / "empty.sbe") and replay(tmp_path / "empty.sbe") == ([], {})
    with pytest.raises(ValueError, match="JSONL only"):
        ReplayFeed(tmp_path / "day.bin", by_rows=False)


def test_a_recording_in_both_formats_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "20261124_TXFL6.jsonl"
    src.write_text(format_record(tick("TXFL6", T0)) + "\n")
    encode(src, src.with_suffix(".sbe"))
    with pytest.raises(ValueError, match=r"both the \.jsonl and the \.sbe file of 20261124_TXFL6"):
        ReplayFeed(tmp_path)
    assert [f.name for f in ReplayFeed(tmp_path / src.name).files] == [src.name]  # one file: fine
    (tmp_path / "20261124_2330.sbe").write_bytes(frames_of(1)[0])
    assert [f.name for f in ReplayFeed(tmp_path, codes=["2330"]).files] == ["20261124_2330.sbe"]
