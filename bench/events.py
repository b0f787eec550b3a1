"""Raw-record speed (JSON lines, docs/contracts.md). Run: `.venv/bin/python bench/events.py
[--quick]`.

One file of canonical JSONL lines, half ticks and half five-level quotes (prices on a few
hundred levels around 23000, as a day of TXF has), read and converted in several ways; every
figure has a baseline measured in the same run on the same lines.

- events.read_records: `shijim.events.read_records` (core fast path), lines/s; baseline:
  `json.loads` of the same lines (parsing alone, no checks). Target >= 100k lines/s.
- events.read_records.reference: the reference reader alone (`parse_line_reference`: json +
  `record_from_dict`), lines/s; baseline: `json.loads`. Informative (what every line cost before
  the fast path; it still reads every line the fast path leaves).
- events.write_records: `write_records` (canonical lines), lines/s; baseline: `json.dumps` of the
  same records as plain dicts. Informative.
- events.sbe_tool.encode / events.sbe_tool.decode: `python -m shijim.tools.sbe encode|decode`
  (`encode_file` / `decode_file`, files on disk), records/s; baselines: `json.loads` /
  `json.dumps` of the same lines. Target >= 200k records/s each.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from figure import emit
from shijim.events import (
    BidAskRecord,
    MarketRecord,
    TickRecord,
    TickType,
    read_records,
    write_records,
)
from shijim.events.jsonl import parse_line_reference
from shijim.tools.sbe import decode_file, encode_file

START = 1_767_574_800_000_000_000  # Monday 09:00 Asia/Taipei


def day_records(n: int, seed: int = 1) -> list[MarketRecord]:
    rng = random.Random(seed)
    out: list[MarketRecord] = []
    mid = 23000 * 2
    for i in range(n):
        mid = min(max(mid + rng.choice((-1, 0, 0, 1)), 45_600), 46_400)  # half-point levels
        ts = START + i * 1_000_000
        if i % 2:
            bid = tuple(Decimal(mid - 1 - k) / 2 for k in range(5))
            ask = tuple(Decimal(mid + 1 + k) / 2 for k in range(5))
            vols = tuple(rng.randint(1, 50) for _ in range(5))
            out.append(BidAskRecord("TXFL6", ts, ts + 50_000, i, bid, vols, ask, vols, False))
        else:
            out.append(
                TickRecord(
                    "TXFL6",
                    ts,
                    ts + 40_000,
                    i,
                    Decimal(mid) / 2,
                    rng.randint(1, 20),
                    i,
                    TickType(rng.randint(0, 2)),
                    False,
                )
            )
    return out


def rate(n: int, fn: Callable[[], object], repeats: int) -> float:
    """Median items/s of `fn` over `repeats` runs (after one warm-up)."""
    fn()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="few samples (checks the bench runs)")
    args = p.parse_args(argv)
    repeats = 2 if args.quick else 7
    n = 20_000 if args.quick else 200_000
    records = day_records(n)
    with tempfile.TemporaryDirectory() as tmp:
        src, sbe, out = Path(tmp) / "day.jsonl", Path(tmp) / "day.sbe", Path(tmp) / "back.jsonl"
        write_records(src, records)
        lines = src.read_bytes().splitlines()
        dicts = [json.loads(line) for line in lines]

        def loads() -> None:
            for line in lines:
                json.loads(line)

        def dumps() -> None:
            for d in dicts:
                json.dumps(d, separators=(",", ":"))

        base_loads = rate(n, loads, repeats)
        base_dumps = rate(n, dumps, repeats)
        loads_base = ("json.loads of the same lines", base_loads)
        dumps_base = ("json.dumps of the same lines as dicts", base_dumps)

        got = rate(n, lambda: sum(1 for _ in read_records(src)), repeats)
        emit("events.read_records", "lines/s", got, repeats, loads_base, ">= 100000 lines/s",
             got >= 100_000, higher_is_better=True)  # fmt: skip
        m = n // 10
        ref = rate(m, lambda: [parse_line_reference(line) for line in lines[:m]], repeats)
        emit("events.read_records.reference", "lines/s", ref, repeats, loads_base, None, None,
             higher_is_better=True)  # fmt: skip
        got = rate(n, lambda: write_records(out, records), repeats)
        emit("events.write_records", "lines/s", got, repeats, dumps_base, None, None,
             higher_is_better=True)  # fmt: skip
        got = rate(n, lambda: encode_file(src, sbe, skip_bad=False), repeats)
        emit("events.sbe_tool.encode", "records/s", got, repeats, loads_base,
             ">= 200000 records/s", got >= 200_000, higher_is_better=True)  # fmt: skip

        def decode() -> None:
            with out.open("w", encoding="ascii") as f:
                decode_file(sbe, f, skip_bad=False)

        got = rate(n, decode, repeats)
        emit("events.sbe_tool.decode", "records/s", got, repeats, dumps_base,
             ">= 200000 records/s", got >= 200_000, higher_is_better=True)  # fmt: skip
        if out.read_bytes() != src.read_bytes():
            print("events: decode did not give the source bytes back", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
