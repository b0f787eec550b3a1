"""Shijim's compiled core (Rust, PyO3): SBE codec, shared-memory ring, OFI/MLOFI.

The extension module is ``shijim_core._shijim_core``; this package re-exports its public API.
"""

from __future__ import annotations

from shijim_core._shijim_core import *  # noqa: F403
from shijim_core._shijim_core import __version__  # noqa: F401
