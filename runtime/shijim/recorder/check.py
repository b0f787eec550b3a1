"""``python -m shijim record-check``: rows per (table, code, minute) in the raw JSONL files and
in ClickHouse, side by side; every difference is printed (exit status 1 if any).

The files are read with the canonical reader (bad lines are counted and named, not compared);
ClickHouse is asked for the trading days the files cover only. Run it while the recorder is
stopped or idle: rows still on their way (``shijim_recorder_backlog_rows``) show as missing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shijim.events import BadLineCounter, EventRecord, SnapshotRecord
from shijim.events.rows import BIDASK, RECORD, TICK, read_row_batches
from shijim.recorder.wal import RAW_FILE

MINUTE_NS = 60 * 10**9
Key = tuple[str, str, int]  # table, code, minute (ns since the epoch // MINUTE_NS)


@dataclass
class Comparison:
    jsonl: Counter[Key] = field(default_factory=Counter)
    clickhouse: Counter[Key] = field(default_factory=Counter)
    bad_lines: BadLineCounter = field(default_factory=BadLineCounter)
    days: set[str] = field(default_factory=set)
    files: int = 0

    def differences(self) -> list[tuple[Key, int, int]]:
        keys = set(self.jsonl) | set(self.clickhouse)
        return sorted(
            (k, self.jsonl.get(k, 0), self.clickhouse.get(k, 0))
            for k in keys
            if self.jsonl.get(k, 0) != self.clickhouse.get(k, 0)
        )


def _table_of(record: Any) -> str:
    return "snapshots" if isinstance(record, SnapshotRecord) else "events"


def count_files(raw_dir: Path, days: Iterable[str] | None, code: str | None) -> Comparison:
    """Rows per (table, code, minute) of the raw files (days: YYYYMMDD, None = all)."""
    out = Comparison()
    wanted = set(days) if days is not None else None
    for path in sorted(raw_dir.glob("*.jsonl")):
        m = RAW_FILE.fullmatch(path.name)
        if m is None or (wanted is not None and m["day"] not in wanted):
            continue
        if code is not None and m["code"] != code:
            continue
        out.files += 1
        out.days.add(m["day"])
        for batch in read_row_batches(path, on_bad=out.bad_lines, keep_local_ts=True):
            rows_of = ((TICK, batch.ticks, "ticks"), (BIDASK, batch.books, "bidasks"))
            for kind, rows, table in rows_of:
                if not rows.size:
                    continue
                assert int(np.count_nonzero(batch.kinds == kind)) == rows.size
                codes, minutes = rows["code"], rows["exch_ts"] // MINUTE_NS
                pairs, n = np.unique(
                    np.rec.fromarrays([codes, minutes], names="c,m"), return_counts=True
                )
                for (c, mnt), k in zip(pairs.tolist(), n.tolist(), strict=True):
                    out.jsonl[(table, c.decode("ascii"), int(mnt))] += int(k)
            assert len(batch.records) == int(np.count_nonzero(batch.kinds == RECORD))
            for rec in batch.records:
                if isinstance(rec, SnapshotRecord | EventRecord):
                    out.jsonl[(_table_of(rec), rec.code, rec.exch_ts // MINUTE_NS)] += 1
    return out


def count_clickhouse(client: Any, database: str, comparison: Comparison, code: str | None) -> None:
    """Rows per (table, code, minute) in ClickHouse for the days the files cover."""
    if not comparison.days:
        return
    days = ", ".join(f"'{d[:4]}-{d[4:6]}-{d[6:]}'" for d in sorted(comparison.days))
    where = f"trading_day IN ({days})" + (f" AND code = '{code}'" if code is not None else "")
    for table in ("ticks", "bidasks", "snapshots", "events"):
        # The database is a checked identifier, days come from file names (8 digits) and the
        # code is checked by the caller: nothing here is free text.
        sql = (
            f"SELECT code, intDiv(toUnixTimestamp64Nano(exch_ts), {MINUTE_NS}) AS m, count()"  # noqa: S608
            f" FROM {database}.{table} WHERE {where} GROUP BY code, m"
        )
        for c, m, n in client.query(sql).result_rows:
            comparison.clickhouse[(table, str(c), int(m))] += int(n)


def minute_text(minute: int) -> str:
    """Asia/Taipei wall time of a minute number."""
    t = dt.datetime(1970, 1, 1) + dt.timedelta(minutes=minute, hours=8)
    return t.strftime("%Y-%m-%d %H:%M")


def report(comparison: Comparison, limit: int = 50) -> tuple[list[str], bool]:
    """Lines to print, and whether the two agree."""
    diffs = comparison.differences()
    total_j = sum(comparison.jsonl.values())
    total_c = sum(comparison.clickhouse.values())
    lines = [
        f"raw files: {comparison.files} ({len(comparison.days)} trading days), "
        f"{total_j} rows; ClickHouse: {total_c} rows for those days"
    ]
    if comparison.bad_lines.count:
        lines.append(f"bad lines in the files (not compared): {comparison.bad_lines.count}")
        lines += [f"  {e}" for e in comparison.bad_lines.first[:5]]
    if not diffs:
        lines.append("per (table, code, minute): identical")
        return lines, True
    lines.append(f"{len(diffs)} (table, code, minute) differ:")
    head = ("table", "code", "minute (Taipei)", "jsonl", "clickhouse")
    lines.append("  {:<10} {:<16} {:<17} {:>9} {:>10}".format(*head))
    for (table, code, minute), j, c in diffs[:limit]:
        lines.append(f"  {table:<10} {code or '-':<16} {minute_text(minute):<17} {j:>9} {c:>10}")
    if len(diffs) > limit:
        lines.append(f"  ... {len(diffs) - limit} more")
    return lines, False
