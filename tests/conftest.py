"""Shared by every test directory: the broker SDK's own log goes to a temporary file.

Importing ``shioaji`` opens ``./shioaji.log`` unless ``SJ_LOG_PATH`` says otherwise
(docs/configuration.md); the runtime points it at its filtered stderr, but tests that build
real shioaji objects import it directly, and would leave the file in the checkout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault(
    "SJ_LOG_PATH", str(Path(tempfile.gettempdir()) / f"shijim-tests-shioaji-{os.getpid()}.log")
)
