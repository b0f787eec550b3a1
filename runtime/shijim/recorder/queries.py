"""The documented questions asked of the recorded tables (docs/recorder.md lists the SQL).

``python -m shijim record-query NAME [--code C] [--day YYYYMMDD]`` runs one of them against the
recorder's ClickHouse (embedded chdb by default, ``CLICKHOUSE_DSN`` for a server). Minutes are
Asia/Taipei wall time; trial-match quotes and trades (``simtrade``) are left out of bars and
spreads, as a quant reading them wants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CODE = re.compile(r"[A-Za-z0-9]{1,16}")
DAY = re.compile(r"\d{8}")


@dataclass(frozen=True)
class Query:
    name: str
    about: str
    sql: str  # {db}: the database; {where}: "AND ..." filters (code, trading day)


QUERIES = {
    q.name: q
    for q in (
        Query(
            "bars_1m",
            "1-minute OHLCV bars of trades (open/close by exchange time, then seq)",
            """SELECT code,
       formatDateTime(toStartOfMinute(exch_ts), '%Y-%m-%d %H:%i', 'Asia/Taipei') AS minute,
       argMin(price, (exch_ts, seq)) AS open,
       max(price) AS high,
       min(price) AS low,
       argMax(price, (exch_ts, seq)) AS close,
       sum(volume) AS volume,
       count() AS trades
FROM {db}.ticks
WHERE NOT simtrade {where}
GROUP BY code, minute
ORDER BY code, minute""",
        ),
        Query(
            "spread_depth_1m",
            "per minute: mean and max touch spread, mean 5-level depth per side, quotes",
            """SELECT code,
       formatDateTime(toStartOfMinute(exch_ts), '%Y-%m-%d %H:%i', 'Asia/Taipei') AS minute,
       round(avg(toFloat64(ask_price1 - bid_price1)), 6) AS avg_spread,
       max(ask_price1 - bid_price1) AS max_spread,
       round(avg(bid_volume1 + bid_volume2 + bid_volume3 + bid_volume4 + bid_volume5), 2)
           AS avg_bid_depth,
       round(avg(ask_volume1 + ask_volume2 + ask_volume3 + ask_volume4 + ask_volume5), 2)
           AS avg_ask_depth,
       count() AS quotes
FROM {db}.bidasks
WHERE NOT simtrade AND bid_price1 > 0 AND ask_price1 > 0 {where}
GROUP BY code, minute
ORDER BY code, minute""",
        ),
        Query(
            "gaps",
            "where the data has holes: feed gaps (messages lost), reconnects, session states",
            """SELECT formatDateTime(exch_ts, '%Y-%m-%d %H:%i:%S.%f', 'Asia/Taipei') AS at,
       code,
       event,
       count,
       ifNull(session_state, '') AS session_state,
       reason,
       seq
FROM {db}.events
WHERE event IN ('feed_gap', 'reconnect', 'session_state') {where}
ORDER BY exch_ts, seq""",
        ),
        Query(
            "silences",
            "quotes of a code more than 60 s apart (a quiet market, or a hole to look at)",
            """SELECT code,
       formatDateTime(previous, '%Y-%m-%d %H:%i:%S', 'Asia/Taipei') AS after,
       formatDateTime(exch_ts, '%Y-%m-%d %H:%i:%S', 'Asia/Taipei') AS until,
       dateDiff('second', previous, exch_ts) AS seconds
FROM (
    SELECT code, exch_ts,
           lagInFrame(exch_ts) OVER (PARTITION BY code ORDER BY exch_ts, seq
                                     ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous,
           row_number() OVER (PARTITION BY code ORDER BY exch_ts, seq) AS n
    FROM {db}.bidasks
    WHERE 1 {where}
)
WHERE n > 1 AND dateDiff('second', previous, exch_ts) > 60
ORDER BY code, previous""",
        ),
    )
}


def day_literal(day: str) -> str:
    """'YYYY-MM-DD' of a YYYYMMDD trading day, checked."""
    if not DAY.fullmatch(day):
        raise ValueError(f"--day: expected YYYYMMDD, got {day!r}")
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def render(name: str, database: str, code: str | None = None, day: str | None = None) -> str:
    """The SQL of query ``name`` with its filters; codes and days are checked, never quoted
    from input as they are."""
    try:
        query = QUERIES[name]
    except KeyError:
        raise ValueError(f"unknown query {name!r} (known: {', '.join(QUERIES)})") from None
    where = []
    if code is not None:
        if not CODE.fullmatch(code):
            raise ValueError(f"--code: expected 1-16 letters or digits, got {code!r}")
        where.append(f"AND code = '{code}'")
    if day is not None:
        where.append(f"AND trading_day = '{day_literal(day)}'")
    return query.sql.format(db=database, where=" ".join(where))
