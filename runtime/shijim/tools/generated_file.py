"""The ``--write`` / ``--check`` command line of the generators whose output the operator ships
(``strategy_schema``, ``universe_rules``, ``risk_schema``): the runtime stays the one source of a
rule, the operator reads the generated copy, and a stale copy fails ``--check`` (and a test)."""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence


def main(prog: str, description: str, text: str, argv: Sequence[str] | None = None) -> int:
    """Print ``text``, write it to a path, or exit 1 if a path differs from it."""
    p = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="write the output to PATH")
    group.add_argument("--check", metavar="PATH", help="exit 1 if PATH differs from the output")
    args = p.parse_args(argv)
    if args.write:
        pathlib.Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        path = pathlib.Path(args.check)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(
                f"{path}: stale; regenerate with python -m {prog} --write {path}", file=sys.stderr
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0
