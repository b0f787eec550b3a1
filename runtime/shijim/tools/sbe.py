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
the reference path (`shijim.events` reader, `shijim.events.frames.judge_frame`), which gives the
same bytes for what it accepts and the error message for what it refuses.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import shijim_core
from shijim.events import RecordError, format_record, record_to_dict
from shijim.events.frames import FastFrames, FrameError, judge_frame, scan_frames
from shijim.events.jsonl import FastRun, parse_line_reference, scan_lines


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


def _decode_frames(data: bytes, pos: int) -> tuple[tuple[bytes, int], int]:
    text, pos, records = shijim_core.sbe_decode_jsonl(data, pos)
    return (text, records), pos


def iter_jsonl(src: Path, dropped: Dropped | None) -> Iterator[str]:
    """Canonical JSONL text of a SOFH-framed SBE file's records, in file order, read in chunks:
    runs of frames converted in the core, and each frame it stops at judged one by one."""
    name = str(src)
    with src.open("rb") as f:
        try:
            for item in scan_frames(f, _decode_frames, source=name):
                if isinstance(item, FastFrames):
                    text, n = item.result
                    if n:
                        yield text.decode("ascii")
                    continue
                try:
                    record = judge_frame(name, item.offset, item.frame)
                except FrameError as exc:
                    if dropped is None:
                        raise ConversionError(str(exc)) from None
                    dropped.add(str(exc))
                    continue
                yield format_record(record) + "\n"
        except FrameError as exc:
            # A torn last frame is one bad frame; a broken frame header cannot be skipped.
            if dropped is None or not exc.truncated:
                raise ConversionError(str(exc)) from None
            dropped.add(str(exc))


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
