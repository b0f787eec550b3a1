"""Kopf operator for Shijim TradingShard resources (`kopf run -m shijim_operator`)."""

from __future__ import annotations

from shijim_operator import handlers

__all__ = ["handlers"]
