"""Shijim (Micro Alpha): the Python control layer over the Rust core ``shijim_core``."""

from __future__ import annotations

__version__ = "0.1.0"
