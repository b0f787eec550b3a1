"""Numeric bounds of a typed parameter, stated in its dataclass field's metadata.

``field(default=1, metadata={"ge": 1})`` (keys ``ge``, ``gt``, ``le``): a params or limits class
states its own ranges without importing the config reader, and the one ``bound_problem`` below
serves the config reader (``shijim.app.schema``), the JSON-schema export the operator ships and a
class's own ``__post_init__`` (``shijim.risk.limits.RiskLimits``). On a mapping field the bounds
apply to each value (per-code limits). Imports nothing from shijim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BOUND_KEYS = ("ge", "gt", "le")


def _show(value: object) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def bound_problem(metadata: Mapping[str, Any], value: object) -> str | None:
    """What is wrong with number ``value`` under the bounds in ``metadata``; None if nothing (or
    if ``value`` is not a number: its type is checked elsewhere)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    ge, gt, le = (metadata.get(k) for k in BOUND_KEYS)
    if ge is not None and not value >= ge:  # `not >=`: NaN fails every bound
        return f"must be >= {ge}, got {_show(value)}"
    if gt is not None and not value > gt:
        return f"must be > {gt}, got {_show(value)}"
    if le is not None and not value <= le:
        return f"must be <= {le}, got {_show(value)}"
    return None
