"""Convert raw market data between canonical JSONL and SOFH-framed SBE files.

    python -m shijim.tools.sbe encode IN.jsonl OUT.sbe [--skip-bad]
    python -m shijim.tools.sbe decode IN.sbe [-o OUT.jsonl] [--skip-bad]

Strict by default: the first bad line or frame stops the run with a message naming the file,
the line (JSONL) or byte offset (SBE), the field and the reason; exit status 1, and no output
file is left behind. With --skip-bad, bad lines/frames are dropped, counted and reported on
stderr, and the run succeeds. A broken frame header (wrong encoding type, impossible length)
cannot be skipped: without a trustworthy length the next frame cannot be found.

Plain lines and well-formed frames are converted in the core, many per call
(`shijim_core.sbe_encode_jsonl` / `sbe_decode_jsonl`); every other line or frame goes through
the reference path (`shijim.events` reader, `sbe_decode` + `record_from_dict`), which gives the
same bytes for what it accepts and the error message for what it refuses.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import shijim_core
from shijim.events import (
    MarketRecord,
    RecordError,
    format_record,
    record_from_dict,
    record_to_dict,
)
from shijim.events.jsonl import FastRun, parse_line_reference, scan_lines

SOFH = struct.Struct(">IH")
SBE_LE_ENCODING = 0x5BE0
_READ_CHUNK = 1 << 22


class ConversionError(Exception):
    """Bad input that stops a strict run (the message is the whole story)."""


@dataclass
class Dropped:
    """What --skip-bad dropped: the count and the first few messages."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(message)


@contextmanager
def _atomic_output(path: Path, mode: str) -> Iterator[IO[str] | IO[bytes]]:
    """Writes to a temporary file beside `path`; renames over it only on success."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode_lines(data: bytes, pos: int, last: bool) -> tuple[tuple[bytes, int], int, int]:
    frames, pos, lines, records = shijim_core.sbe_encode_jsonl(data, pos, last)
    return (frames, records), pos, lines


def encode_file(src: Path, dst: Path, *, skip_bad: bool) -> tuple[int, Dropped]:
    """JSONL -> SBE. Every line is validated (the record rules of `shijim.events`) before it
    is encoded."""
    dropped = Dropped()
    name = str(src)
    written = 0
    try:
        with src.open("rb") as f, _atomic_output(dst, "wb") as out:
            for item in scan_lines(f, _encode_lines):
                if isinstance(item, FastRun):
                    frames, records = item.result
                    out.write(frames)  # type: ignore[arg-type]
                    written += records
                    continue
                try:
                    record = parse_line_reference(item.line, source=name, line_no=item.line_no)
                except RecordError as exc:
                    if not skip_bad:
                        raise
                    dropped.add(str(exc))
                    continue
                out.write(shijim_core.sbe_encode_stream([record_to_dict(record)]))  # type: ignore[arg-type]
                written += 1
    except RecordError as exc:
        raise ConversionError(str(exc)) from None
    return written, dropped


def iter_jsonl(src: Path, dropped: Dropped | None) -> Iterator[str]:
    """Canonical JSONL text of a SOFH-framed SBE file's records, in file order, read in chunks:
    runs of frames converted in the core, and each frame it stops at judged one by one."""
    name = str(src)
    base = 0  # file offset of data[0]
    data = b""
    with src.open("rb") as f:
        eof = False
        while not eof:
            chunk = f.read(_READ_CHUNK)
            eof = not chunk
            data += chunk
            pos = 0
            while True:
                text, pos, n = shijim_core.sbe_decode_jsonl(data, pos)
                if n:
                    yield text.decode("ascii")
                if pos + SOFH.size > len(data):
                    break
                length, encoding = SOFH.unpack_from(data, pos)
                at = base + pos
                if encoding != SBE_LE_ENCODING:
                    raise ConversionError(
                        f"{name}: byte {at + 4}: bad SOFH frame: encoding type 0x{encoding:04X} "
                        "is not SBE 1.0 little-endian (0x5BE0); cannot resynchronise"
                    )
                if length < SOFH.size + 8:
                    raise ConversionError(
                        f"{name}: byte {at}: bad SOFH frame: length {length} is shorter than "
                        "a frame header and message header; cannot resynchronise"
                    )
                if length > SOFH.size + shijim_core.MAX_MESSAGE_LEN:
                    # Bounds memory too: never buffer a whole file for one corrupt length.
                    raise ConversionError(
                        f"{name}: byte {at}: bad SOFH frame: length {length} is longer than any "
                        "message of this schema; cannot resynchronise"
                    )
                if pos + length > len(data):
                    break  # the rest of this frame is in the next chunk
                record = _decode_one(name, data, pos, length, base, dropped)
                if record is not None:
                    yield format_record(record) + "\n"
                pos += length
            data = data[pos:]
            base += pos
    if data:
        message = (
            f"{name}: byte {base}: truncated: the last frame needs more bytes than the file has "
            f"({len(data)} left)"
        )
        if dropped is None:
            raise ConversionError(message)
        dropped.add(message)


def _decode_one(
    name: str, data: bytes, pos: int, length: int, base: int, dropped: Dropped | None
) -> MarketRecord | None:
    try:
        obj, used = shijim_core.sbe_decode(data[pos + SOFH.size : pos + length])
        if used != length - SOFH.size:
            raise ConversionError(
                f"{name}: byte {base + pos}: frame length {length} but the message is "
                f"{used + SOFH.size} bytes"
            )
        return record_from_dict(obj, source=f"{name} frame at byte {base + pos}")
    except shijim_core.SbeError as exc:
        offset = base + pos + SOFH.size + (exc.offset or 0)  # type: ignore[attr-defined]
        message = f"{name}: byte {offset}: {exc.reason}"  # type: ignore[attr-defined]
    except (ConversionError, RecordError) as exc:
        message = str(exc)
    if dropped is None:
        raise ConversionError(message)
    dropped.add(message)
    return None


def decode_file(src: Path, out: IO[str], *, skip_bad: bool) -> tuple[int, Dropped]:
    dropped = Dropped()
    n = 0
    for text in iter_jsonl(src, dropped if skip_bad else None):
        out.write(text)
        n += text.count("\n")
    return n, dropped


def _report(dropped: Dropped, what: str) -> None:
    if dropped.count:
        print(f"skipped {dropped.count} bad {what}", file=sys.stderr)
        for message in dropped.first:
            print(f"  {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shijim.tools.sbe",
        description="Convert raw market data: canonical JSONL <-> SOFH-framed SBE.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="JSONL -> SBE file")
    enc.add_argument("input", type=Path)
    enc.add_argument("output", type=Path)
    dec = sub.add_parser("decode", help="SBE file -> canonical JSONL (stdout or -o)")
    dec.add_argument("input", type=Path)
    dec.add_argument("-o", "--output", type=Path, default=None)
    for p in (enc, dec):
        p.add_argument(
            "--skip-bad",
            action="store_true",
            help="drop bad lines/frames, report how many on stderr, and succeed",
        )
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            n, dropped = encode_file(args.input, args.output, skip_bad=args.skip_bad)
            _report(dropped, "lines")
            print(f"encoded {n} records to {args.output}", file=sys.stderr)
        elif args.output is None:
            _, dropped = decode_file(args.input, sys.stdout, skip_bad=args.skip_bad)
            _report(dropped, "frames")
        else:
            with _atomic_output(args.output, "w") as out:
                n, dropped = decode_file(args.input, out, skip_bad=args.skip_bad)  # type: ignore[arg-type]
            _report(dropped, "frames")
            print(f"decoded {n} records to {args.output}", file=sys.stderr)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
