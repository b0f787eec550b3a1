"""``python -m shijim run ...`` (docs/runtime.md)."""

from __future__ import annotations

import sys

from shijim.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
