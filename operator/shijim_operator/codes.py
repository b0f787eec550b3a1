"""Checking a TradingShard's universe codes with the runtime's own admission rules (pure).

The rules come from ``universe_rules.json``, generated from the runtime
(``python -m shijim.tools.universe_rules --write``; a test keeps it in sync): the code syntax
the runtime's config check applies, and the codes the simulated market has (all that
``feed: sim`` can serve). A code the runtime would refuse becomes condition InvalidSpec
naming ``spec.universe.codes[i]``, instead of pods that exit at start in a crash loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

RULES_FILE = "universe_rules.json"


@cache
def universe_rules() -> Mapping[str, Any]:
    text = resources.files("shijim_operator").joinpath(RULES_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def code_problem(code: object) -> str | None:
    """Why ``code`` is not an instrument code (the runtime's words), or None."""
    pattern = universe_rules()["codePattern"]
    if not isinstance(code, str) or re.fullmatch(pattern, code) is None:
        return f"{code!r} is not an instrument code (expected {pattern})"
    return None


def simulation_problem(code: str) -> str | None:
    """Why ``feed: sim`` cannot serve ``code`` (the runtime's words), or None."""
    simulated = universe_rules()["simulatedCodes"]
    if code not in simulated:
        return f"{code!r} is not simulated (the sim has: {', '.join(simulated)})"
    return None
