"""Raw Shioaji market data (JSONL or SBE) to hftbacktest event files.

    python -m shijim.tools.hft_converter IN... OUT.npz    # one code
    python -m shijim.tools.hft_converter IN... OUTDIR     # one file per code + manifest.json

IN is a raw JSONL file, an SBE file (`python -m shijim.tools.sbe encode`) or a directory of
them (`<trading day>_<code>.jsonl` / `.sbe`, read in name order). Trades and five-level books
become rows of `hftbacktest.types.event_dtype` (docs/backtest.md, "Converter", states every
rule): the first book as a clear and snapshot rows per side, then per-level changes between
consecutive books, trades with their aggressor side, the trade first at equal exchange time,
`local_ts > exch_ts` on every row. Trial-match (simtrade) records, malformed or crossed books
and other unusable records are dropped and counted by cause; bad lines are named file:line
(file: byte N for SBE), counted and dropped; none of them stops the run. Every output is
checked with hftbacktest's own `validate_event_order` before it is written (atomically).

The work is done in the core (`shijim_core.HftConverter`, Rust `shijim_core::hftconv`): the
core reads plain lines and well-formed frames itself, and each line or frame it leaves goes to
the reference reader of `shijim.events`, which accepts it (then the record goes back to the
core) or names the bad field.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

import shijim_core
from shijim.domain import InstrumentKind, instrument_for
from shijim.events import BadLineCounter, RecordError, record_to_dict
from shijim.events.frames import FastFrames, FrameError, is_sbe_file, judge_frame, scan_frames
from shijim.events.jsonl import FastRun, parse_line_reference, scan_lines

EVENT_DTYPE = np.dtype(shijim_core.HFT_EVENT_DTYPE)  # == hftbacktest.types.event_dtype
DROP_CAUSES: tuple[str, ...] = tuple(shijim_core.HFT_DROP_CAUSES)
MANIFEST = "manifest.json"
# `<trading day>_<code>.<ext>`, the recorder's file names (shijim.events.raw_file_name).
_DAY_FILE = re.compile(r"(?P<day>\d{4}-?\d{2}-?\d{2})_(?P<code>[^/]+)\.(?:jsonl|sbe)")


class ConversionError(Exception):
    """Input or output that stops the run (the message names the file)."""


def default_threads() -> int:
    """Parsing scales to a few threads; the rest of the work is one pass per code."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


@dataclass(frozen=True)
class ConvertOptions:
    """Choices of a conversion; the defaults are what docs/backtest.md describes."""

    # Smallest feed latency after hftbacktest's local-time correction (ns, >= 1).
    base_latency_ns: int = 1
    # Records whose local clock is further behind the exchange's are dropped (clock_skew).
    max_clock_skew_ns: int = 1_000_000_000
    # Only these codes (empty: every code).
    codes: tuple[str, ...] = ()
    # Dropped records named per code and cause (counts are always complete).
    examples: int = 5
    # Threads parsing JSONL in the core (the rows do not depend on it).
    threads: int = field(default_factory=default_threads)


@dataclass(frozen=True)
class InputFile:
    path: Path
    sbe: bool

    def where(self, at: int) -> str:
        """A record's place as the shijim.events readers name it."""
        return f"{self.path}: byte {at}" if self.sbe else f"{self.path}:{at}"


@dataclass(frozen=True)
class CodeRows:
    """One code's rows and what happened on the way."""

    code: str
    rows: np.ndarray  # EVENT_DTYPE
    stats: dict[str, Any]  # counts by name (shijim_core.hftconv Stats), drops by cause
    dropped: list[str]  # "file:line: cause: detail", the first few per cause

    @property
    def drops(self) -> dict[str, int]:
        return {cause: int(self.stats[cause]) for cause in DROP_CAUSES}


@dataclass
class Conversion:
    inputs: list[InputFile]
    codes: dict[str, CodeRows]
    bad_lines: BadLineCounter
    skipped: dict[str, int]
    local_ts_shift_ns: int
    min_feed_latency_ns: int | None
    options: ConvertOptions = field(default_factory=ConvertOptions)


def input_files(paths: Sequence[str | Path]) -> list[InputFile]:
    """The files to read: each file as given, each directory's .jsonl/.sbe files in name order;
    a file named twice is read once."""
    out: list[InputFile] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix in (".jsonl", ".sbe") and q.is_file())
            if not found:
                raise ConversionError(f"{p}: no .jsonl or .sbe files in this directory")
        elif p.is_file():
            found = [p]
        else:
            raise ConversionError(f"{p}: no such file or directory")
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                out.append(InputFile(q, is_sbe_file(q)))
    return out


def _read_jsonl(conv: Any, no: int, f: InputFile, on_bad: BadLineCounter) -> None:
    source = str(f.path)
    line = 0  # lines of the file consumed so far

    def fast(data: bytes, pos: int, last: bool) -> tuple[None, int, int]:
        nonlocal line
        stop, lines = conv.read_jsonl(data, pos, last, no, line + 1)
        line += lines
        return None, stop, lines

    with f.path.open("rb") as stream:
        for item in scan_lines(stream, fast):
            if isinstance(item, FastRun):
                continue
            line = item.line_no
            try:
                rec = parse_line_reference(item.line, source=source, line_no=item.line_no)
            except RecordError as exc:
                on_bad(exc)
                continue
            conv.push_record(record_to_dict(rec), no, item.line_no)


def _read_sbe(conv: Any, no: int, f: InputFile, on_bad: BadLineCounter) -> None:
    source = str(f.path)
    with f.path.open("rb") as stream:

        def fast(data: bytes, pos: int) -> tuple[None, int]:
            # scan_frames keeps `data` starting at this file offset (it seeks back to the
            # unfinished frame), so the core can name each frame by its byte in the file.
            base = stream.tell() - len(data)
            return None, conv.read_frames(data, pos, no, base)

        try:
            for item in scan_frames(stream, fast, source=source):
                if isinstance(item, FastFrames):
                    continue
                try:
                    rec = judge_frame(source, item.offset, item.frame)
                except FrameError as exc:
                    on_bad(exc)
                    continue
                conv.push_record(record_to_dict(rec), no, item.offset)
        except FrameError as exc:
            on_bad(exc)  # a broken frame header or a torn last frame: the rest is unreadable


def check_rows(rows: np.ndarray, name: str) -> None:
    """hftbacktest's own order check (`validate_event_order`) and what it does not check:
    the dtype, the exchange and local flags on every row, `local_ts > exch_ts`. Raises
    ConversionError."""
    try:
        from hftbacktest.data import validate_event_order
        from hftbacktest.types import EXCH_EVENT, LOCAL_EVENT, event_dtype
    except ImportError:
        raise ConversionError(
            "hftbacktest is not installed: pip install 'shijim[backtest]' (hftbacktest 2.4.4)"
        ) from None

    if rows.dtype != event_dtype:
        raise ConversionError(f"{name}: rows of dtype {rows.dtype}, not hftbacktest's event_dtype")
    try:
        validate_event_order(rows)
    except ValueError as exc:
        raise ConversionError(f"{name}: hftbacktest validate_event_order: {exc}") from None
    both = EXCH_EVENT | LOCAL_EVENT
    if np.any(rows["ev"] & both != both):
        raise ConversionError(f"{name}: a row is not flagged for both exchange and local side")
    if np.any(rows["local_ts"] <= rows["exch_ts"]):
        raise ConversionError(f"{name}: a row has local_ts <= exch_ts")


def convert(paths: Sequence[str | Path], options: ConvertOptions | None = None) -> Conversion:
    """Reads every input and converts each code; rows are checked, not yet written."""
    options = options or ConvertOptions()
    files = input_files(paths)
    try:
        conv = shijim_core.HftConverter(
            options.base_latency_ns,
            options.max_clock_skew_ns,
            options.examples,
            list(options.codes) or None,
            options.threads,
        )
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    bad = BadLineCounter()
    for no, f in enumerate(files):
        (_read_sbe if f.sbe else _read_jsonl)(conv, no, f, bad)
    try:
        out = conv.finish()
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    codes: dict[str, CodeRows] = {}
    for c in out["codes"]:
        check_rows(c["rows"], c["code"])
        dropped = [
            f"{files[no].where(at)}: {cause}: {detail}" for cause, no, at, detail in c["dropped"]
        ]
        codes[c["code"]] = CodeRows(c["code"], c["rows"], c["stats"], dropped)
    return Conversion(
        files,
        codes,
        bad,
        out["skipped"],
        out["local_ts_shift_ns"],
        out["min_feed_latency_ns"],
        options,
    )


# -- output ------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Writes through a temporary file beside `path`, renamed over it only on success: no
    partial file on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("xb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_npz(path: Path, rows: np.ndarray, *, compress: bool = False) -> None:
    """`rows` under the key hftbacktest reads (`data`)."""
    save = np.savez_compressed if compress else np.savez
    _atomic_write(path, lambda f: save(f, data=rows))


def trading_day(files: Sequence[InputFile]) -> str | None:
    """The one trading day of recorder-named inputs (`<day>_<code>.jsonl`), else None."""
    days = {m["day"] if (m := _DAY_FILE.fullmatch(f.path.name)) else None for f in files}
    return days.pop() if len(days) == 1 else None


def instrument_facts(code: str, rows: np.ndarray) -> dict[str, Any]:
    """Tick size, lot size and multiplier from shijim.domain (None when the code is unknown),
    and the prices that are off that tick (hftbacktest rounds them without a word). A stock's
    tick is the finest of the TWSE ladder over its traded range (each coarser tick is a
    multiple of it)."""
    try:
        inst = instrument_for(code)
    except ValueError:
        return {"tick_size": None, "lot_size": None, "multiplier": None, "off_tick_prices": None}
    px = rows["px"][rows["qty"] > 0]  # levels and trades (clear rows carry no price level)
    low = float(px.min()) if px.size else 0.0
    tick = inst.tick_size(low) if inst.kind is InstrumentKind.STOCK else inst.tick
    steps = px / tick
    off = int(np.count_nonzero(np.abs(steps - np.rint(steps)) > 1e-6))
    return {
        "tick_size": tick,
        "lot_size": 1.0,  # volumes are in order units (contracts, board lots)
        "multiplier": inst.multiplier,
        "off_tick_prices": off,
    }


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="microseconds")


def manifest(conv: Conversion, files: dict[str, Path | None]) -> dict[str, Any]:
    """What was converted, for whoever runs the backtest (docs/backtest.md, "Manifest")."""
    codes: dict[str, Any] = {}
    for code, c in conv.codes.items():
        s = c.stats
        out = files.get(code)
        codes[code] = {
            "file": out.name if out is not None else None,
            "rows": int(c.rows.size),
            "time_range": {
                "first_exch_ts": s["first_exch_ts"],
                "last_exch_ts": s["last_exch_ts"],
                "first": _iso(s["first_exch_ts"]),
                "last": _iso(s["last_exch_ts"]),
            },
            **instrument_facts(code, c.rows),
            "counts": {k: v for k, v in s.items() if k not in DROP_CAUSES and "exch_ts" not in k},
            "drops": c.drops,
            "dropped_first": c.dropped,
        }
    return {
        "format": "hftbacktest event_dtype rows (hftbacktest 2.4.4), npz key 'data'",
        "inputs": [str(f.path) for f in conv.inputs],
        "options": {
            "base_latency_ns": conv.options.base_latency_ns,
            "max_clock_skew_ns": conv.options.max_clock_skew_ns,
            "codes": list(conv.options.codes),
        },
        "local_ts_shift_ns": conv.local_ts_shift_ns,
        "min_feed_latency_ns": conv.min_feed_latency_ns,
        "bad_lines": {
            "count": conv.bad_lines.count,
            "first": [str(e) for e in conv.bad_lines.first],
        },
        "skipped": conv.skipped,
        "codes": codes,
    }


def write(conv: Conversion, out: Path, *, compress: bool = False) -> dict[str, Path | None]:
    """`out` ending in .npz: that one file (the conversion must hold exactly one code with
    rows). Otherwise a directory: one `<code>.npz` per code with rows (`<day>_<code>.npz` when
    the inputs are of one trading day) and `manifest.json`. Returns the file of each code."""
    with_rows = [c for c in conv.codes.values() if c.rows.size]
    if out.suffix == ".npz":
        if len(with_rows) != 1:
            held = ", ".join(c.code for c in with_rows) or "none"
            raise ConversionError(
                f"{out}: one output file needs exactly one code with trades or books, the input "
                f"has {len(with_rows)} ({held}); give a directory, or --code"
            )
        write_npz(out, with_rows[0].rows, compress=compress)
        return {with_rows[0].code: out}
    day = trading_day(conv.inputs)
    files: dict[str, Path | None] = dict.fromkeys(conv.codes)
    for c in with_rows:
        path = out / (f"{day}_{c.code}.npz" if day else f"{c.code}.npz")
        write_npz(path, c.rows, compress=compress)
        files[c.code] = path
    write_manifest(out / MANIFEST, manifest(conv, files))
    return files


def write_manifest(path: Path, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, indent=2) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def summary(conv: Conversion, files: dict[str, Path | None]) -> list[str]:
    """The run in a few lines (stderr)."""
    lines = []
    for code, c in conv.codes.items():
        s = c.stats
        trades = f"{s['trades_buy']} buy / {s['trades_sell']} sell / {s['trades_unknown_side']} ?"
        drops = ", ".join(f"{k} {v}" for k, v in c.drops.items() if v) or "none"
        dest = files.get(code)
        lines.append(
            f"{code}: {c.rows.size} rows -> {dest if dest else '(not written: no rows)'}; "
            f"trades {trades}; books {s['books']} ({s['books_unchanged']} unchanged); "
            f"dropped: {drops}"
        )
        lines.extend(f"  {d}" for d in c.dropped[:5])
    if conv.local_ts_shift_ns:
        lines.append(
            f"local_ts shifted by {conv.local_ts_shift_ns} ns (smallest feed latency was "
            f"{conv.min_feed_latency_ns} ns)"
        )
    if conv.bad_lines.count:
        lines.append(f"skipped {conv.bad_lines.count} bad lines")
        lines.extend(f"  {e}" for e in conv.bad_lines.first[:5])
    other = ", ".join(f"{k} {v}" for k, v in conv.skipped.items() if v)
    if other:
        lines.append(f"not converted: {other}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shijim.tools.hft_converter",
        description="Raw market data (JSONL/SBE) -> hftbacktest event files (docs/backtest.md).",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="IN... OUT")
    parser.add_argument(
        "--code", action="append", default=[], help="convert only this code (repeatable)"
    )
    parser.add_argument(
        "--base-latency-ns",
        type=int,
        default=ConvertOptions.base_latency_ns,
        help="smallest feed latency after the local-time correction (default %(default)s)",
    )
    parser.add_argument(
        "--max-clock-skew-ns",
        type=int,
        default=ConvertOptions.max_clock_skew_ns,
        help="drop records whose local_ts is this far before exch_ts (default %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="threads parsing JSONL (default %(default)s; the rows do not depend on it)",
    )
    parser.add_argument("--compress", action="store_true", help="np.savez_compressed")
    parser.add_argument("--manifest", type=Path, help="also write the manifest here (JSON)")
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("give at least one input and the output")
    *inputs, out = args.paths
    options = ConvertOptions(
        base_latency_ns=args.base_latency_ns,
        max_clock_skew_ns=args.max_clock_skew_ns,
        codes=tuple(args.code),
        threads=args.threads,
    )
    try:
        conv = convert(inputs, options)
        files = write(conv, out, compress=args.compress)
        if args.manifest is not None:
            write_manifest(args.manifest, manifest(conv, files))
    except (ConversionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in summary(conv, files):
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
