"""SOFH-framed SBE files (the `python -m shijim.tools.sbe encode` output), read in chunks.

One reader of `.sbe` files for the sbe tool and the replay feed: `scan_frames` runs a core
function over runs of well-formed frames (many per call) and hands every frame it stops at to
`judge_frame`, the reference path (`sbe_decode` + `record_from_dict`), which accepts the frame
or names the file, byte offset, field and reason (`FrameError`). A bad message inside a frame
can be skipped (its length is known); a broken frame header (another encoding type, an
impossible length) or a torn last frame ends the file: the next frame cannot be found.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import shijim_core
from shijim.events.record import MarketRecord, RecordError, record_from_dict

SOFH = struct.Struct(">IH")  # frame length (header included), encoding type; big-endian
SBE_LE_ENCODING = 0x5BE0  # SBE 1.0 little-endian
READ_CHUNK = 1 << 22
_MIN_FRAME = SOFH.size + 8  # frame header + SBE message header
_MAX_FRAME = SOFH.size + shijim_core.MAX_MESSAGE_LEN
_FRAME = "(frame)"  # the field of an error in the framing or the SBE header, not in a field


class FrameError(RecordError):
    """A bad frame of an SBE file: names the file, the byte offset and (for a record rule) the
    field. `ends_file`: the rest of the file cannot be read (broken frame header, torn last
    frame); `truncated`: that is because the file ends inside a frame."""

    def __init__(
        self,
        source: str,
        offset: int,
        field: str,
        reason: str,
        *,
        ends_file: bool = False,
        truncated: bool = False,
    ) -> None:
        super().__init__(source, 0, field, reason)
        self.offset = offset
        self.ends_file = ends_file
        self.truncated = truncated
        self.where = f"{source}: byte {offset}"
        detail = reason if field == _FRAME else f"field {field!r}: {reason}"
        self.args = (f"{self.where}: {detail}",)


@dataclass(frozen=True, slots=True)
class FastFrames:
    """What the core function returned for a run of frames; `base` is the file offset of the
    data it was given (its offsets are relative to that)."""

    base: int
    result: Any


@dataclass(frozen=True, slots=True)
class SlowFrame:
    """One whole frame (header included) the core function stopped at, and its file offset."""

    offset: int
    frame: bytes


# fast(data, pos) -> (result, position of the first frame it did not take)
FastFramesFn = Callable[[bytes, int], tuple[Any, int]]


def is_sbe_file(path: str | Path) -> bool:
    """A file starting with a SOFH frame header of SBE 1.0 little-endian (JSONL is ASCII, and
    the encoding type's 0xE0 byte is not), or named `.sbe`."""
    p = Path(path)
    if p.suffix == ".sbe":
        return True
    with p.open("rb") as f:
        head = f.read(SOFH.size)
    return len(head) == SOFH.size and SOFH.unpack(head)[1] == SBE_LE_ENCODING


def frame_length(data: bytes, pos: int, source: str, offset: int) -> int:
    """The length of the frame whose header is at `data[pos:]` (file offset `offset`), after
    the checks without which the next frame could not be found."""
    length, encoding = SOFH.unpack_from(data, pos)
    if encoding != SBE_LE_ENCODING:
        raise FrameError(
            source, offset + 4, _FRAME,
            f"bad SOFH frame: encoding type 0x{encoding:04X} is not SBE 1.0 little-endian "
            "(0x5BE0); cannot resynchronise",
            ends_file=True,
        )  # fmt: skip
    if length < _MIN_FRAME:
        raise FrameError(
            source, offset, _FRAME,
            f"bad SOFH frame: length {length} is shorter than a frame header and message "
            "header; cannot resynchronise",
            ends_file=True,
        )  # fmt: skip
    if length > _MAX_FRAME:
        # Bounds memory too: never buffer a whole file for one corrupt length.
        raise FrameError(
            source, offset, _FRAME,
            f"bad SOFH frame: length {length} is longer than any message of this schema; "
            "cannot resynchronise",
            ends_file=True,
        )  # fmt: skip
    return int(length)


def scan_frames(
    f: IO[bytes], fast: FastFramesFn, *, source: str, full: Callable[[Any], bool] | None = None
) -> Iterator[FastFrames | SlowFrame]:
    """Runs `fast` over a seekable binary SBE file read in chunks: yields each of its results as
    `FastFrames` and, in order between them, every whole frame it stopped at as a `SlowFrame`.
    `full(result)` true: `fast` stopped at a limit of its own (a batch size), so it goes on from
    there. Raises FrameError (`ends_file`) at a broken frame header or a torn last frame, after
    everything before it."""
    data = b""
    base = 0  # file offset of data[0]
    while chunk := f.read(READ_CHUNK):
        data = data + chunk if data else chunk
        pos = 0
        while True:
            result, pos = fast(data, pos)
            yield FastFrames(base, result)
            if full is not None and full(result):
                continue
            if pos + SOFH.size > len(data):
                break
            length = frame_length(data, pos, source, base + pos)
            if pos + length > len(data):
                break  # the rest of this frame is in the next chunk
            yield SlowFrame(base + pos, data[pos : pos + length])
            pos += length
        if pos:
            # Read the unfinished frame again with the next chunk rather than copy every
            # chunk behind it; without a whole frame yet (a tiny chunk), keep adding.
            base += pos
            if pos < len(data):
                f.seek(base)
            data = b""
    if data:
        raise FrameError(
            source, base, _FRAME,
            f"truncated: the last frame needs more bytes than the file has ({len(data)} left)",
            ends_file=True, truncated=True,
        )  # fmt: skip


def judge_frame(source: str, offset: int, frame: bytes) -> MarketRecord:
    """The record of one whole frame at file offset `offset`, or FrameError naming the byte
    (SBE rules) or the field (record rules)."""
    body = frame[SOFH.size :]
    try:
        obj, used = shijim_core.sbe_decode(body)
    except shijim_core.SbeError as exc:
        at = offset + SOFH.size + (exc.offset or 0)  # type: ignore[attr-defined]
        raise FrameError(source, at, _FRAME, exc.reason) from None  # type: ignore[attr-defined]
    if used != len(body):
        raise FrameError(
            source, offset, _FRAME,
            f"frame length {len(frame)} but the message is {used + SOFH.size} bytes",
        )  # fmt: skip
    try:
        return record_from_dict(obj, source=source)
    except RecordError as exc:
        raise FrameError(source, offset, exc.field, exc.reason) from None
