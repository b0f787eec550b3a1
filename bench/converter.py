"""hftbacktest converter speed (JSON lines, docs/contracts.md). Run: `.venv/bin/python
bench/converter.py [--quick]`.

A simulated TAIFEX morning (TXFL6 and MXFL6 from `shijim.gateway.sim_market`: trades and
five-level books, a few seconds of pre-open trial matching first) written as one raw JSONL
file and as its SBE encoding, converted by `shijim.tools.hft_converter` end to end: read,
convert, check with hftbacktest's `validate_event_order`, write the .npz (uncompressed, the
default). Every figure beside `json.loads` of the same lines, medians over several runs, with
the load average before them (other work on the machine takes the second parsing thread's core).

- converter.jsonl: lines/s from the JSONL file (default threads); target >= 1M lines/s
  (issue 10). Prints the rows written and the records dropped by cause.
- converter.jsonl.one_thread: the same with one parsing thread (what the split buys).
- converter.sbe: records/s from the SBE file (informative).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from figure import emit
from shijim.events import EventRecord, MarketRecord, write_records
from shijim.gateway.sim_market import NS, SimulatedMarket, default_instruments, recorded
from shijim.tools import hft_converter as hc
from shijim.tools.sbe import encode_file

# Tuesday 2026-11-24 08:44:57 Asia/Taipei: three seconds of pre-open, then the day session.
START = 1_795_481_097_000_000_000
LATENCY_NS = 200_000


def sim_lines(seconds: float) -> list[MarketRecord]:
    """Trades and books of TXFL6 and MXFL6 in publication order, local = exchange + 200 us."""
    market = SimulatedMarket(
        [i for i in default_instruments() if i.code in ("TXFL6", "MXFL6")], 11, START
    )
    records = recorded(market, START + int(seconds * NS), LATENCY_NS)
    return [r for r in records if not isinstance(r, EventRecord)]  # market data only


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
    records = sim_lines(20 if args.quick else 240)
    n = len(records)
    with tempfile.TemporaryDirectory() as tmp:
        src, sbe, out = Path(tmp) / "day.jsonl", Path(tmp) / "day.sbe", Path(tmp) / "out"
        write_records(src, records)
        del records  # millions of Python objects the garbage collector would walk while timed
        gc.collect()
        encode_file(src, sbe, skip_bad=False)
        lines = src.read_bytes().splitlines()

        def loads() -> None:
            for line in lines:
                json.loads(line)

        base = ("json.loads of the same lines", rate(n, loads, repeats))
        result: list[hc.Conversion] = []

        def run(path: Path, options: hc.ConvertOptions) -> None:
            conv = hc.convert([path], options)
            hc.write(conv, out)
            result[:] = [conv]

        default = hc.ConvertOptions()
        load = round(os.getloadavg()[0], 2)  # other work on the machine shares its cores
        got = rate(n, lambda: run(src, default), repeats)
        conv = result[0]
        rows = {code: int(c.rows.size) for code, c in conv.codes.items()}
        drops: dict[str, int] = {}
        for c in conv.codes.values():
            for cause, k in c.drops.items():
                drops[cause] = drops.get(cause, 0) + k
        emit("converter.jsonl", "lines/s", got, repeats, base, ">= 1000000 lines/s",
             got >= 1_000_000, higher_is_better=True, lines=n, threads=default.threads,
             rows_out=sum(rows.values()), rows_by_code=rows, drops=drops,
             bad_lines=conv.bad_lines.count, load_avg=load)  # fmt: skip
        one = hc.ConvertOptions(threads=1)
        got = rate(n, lambda: run(src, one), repeats)
        emit("converter.jsonl.one_thread", "lines/s", got, repeats, base, None, None,
             higher_is_better=True, lines=n, threads=1, load_avg=load)  # fmt: skip
        got = rate(n, lambda: run(sbe, default), repeats)
        same = all((result[0].codes[code].rows == c.rows).all() for code, c in conv.codes.items())
        emit("converter.sbe", "records/s", got, repeats, base, None, None,
             higher_is_better=True, records=n, same_rows_as_jsonl=same)  # fmt: skip
        if not same:
            print("converter: SBE input gave other rows than JSONL input", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
