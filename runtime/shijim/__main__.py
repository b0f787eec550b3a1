"""``python -m shijim run ...`` (docs/runtime.md), ``python -m shijim backtest|reconcile ...``
(docs/backtest.md).

The two command families are two composition roots: ``shijim.app`` runs a shard, and
``shijim.backtest`` builds on it. The dispatch lives here, above both, so that ``shijim.app``
never imports the backtest (the packages import downward, tests/runtime/test_layering.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shijim.app.cli import main as app_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("backtest", "reconcile"):  # their own flags: shijim.backtest.cli
        from shijim.backtest.cli import main as backtest_main

        return backtest_main(args)
    return app_main(args)


if __name__ == "__main__":
    sys.exit(main())
