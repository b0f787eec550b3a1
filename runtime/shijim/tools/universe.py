"""``python -m shijim.tools.universe``: print which shard owns each instrument code.

    python -m shijim.tools.universe --total-shards 4 TXFL6 MXFL6 2330 2317
    python -m shijim.tools.universe --total-shards 4 --shard-id 1 --codes-file codes.txt

Output: one ``CODE<TAB>SHARD`` line per code (input order), or JSON with ``--json``.
Exit status 2 with a message naming the argument on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from shijim.universe import ShardConfigError, ShardSpec, shard_of


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m shijim.tools.universe",
        description="Rendezvous-hash assignment of instrument codes to shards.",
    )
    p.add_argument("codes", nargs="*", metavar="CODE", help="instrument codes")
    p.add_argument("--total-shards", required=True, help="number of shards (>= 1)")
    p.add_argument("--shard-id", help="print only the codes of this shard (0-based)")
    p.add_argument("--codes-file", help="file with more codes, one per line (# comments)")
    p.add_argument("--json", action="store_true", help="print a JSON object code -> shard")
    return p


def _read_codes_file(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        total = ShardSpec.parse(0, args.total_shards, "--total-shards").total_shards
    except ShardConfigError as exc:
        parser.error(
            str(exc)
            .replace("--total-shards: total shards:", "--total-shards:")
            .replace("total_shards:", "--total-shards:")
        )
    shard_id: int | None = None
    if args.shard_id is not None:
        try:
            shard_id = ShardSpec.parse(args.shard_id, total, "--shard-id").shard_id
        except ShardConfigError as exc:
            parser.error(
                str(exc)
                .replace("--shard-id: shard id:", "--shard-id:")
                .replace("shard_id:", "--shard-id:")
            )
    codes = list(args.codes)
    if args.codes_file:
        try:
            codes += _read_codes_file(args.codes_file)
        except OSError as exc:
            parser.error(f"--codes-file: cannot read {args.codes_file!r}: {exc.strerror}")
    if not codes:
        parser.error("no codes: give CODE arguments or --codes-file")
    rows: dict[str, int] = {}
    for code in codes:
        if not code.strip():
            parser.error(f"CODE: empty code at position {codes.index(code) + 1}")
        rows[code] = shard_of(code, total)
    if shard_id is not None:
        rows = {c: s for c, s in rows.items() if s == shard_id}
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for code, shard in rows.items():
            print(f"{code}\t{shard}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
