"""The runtime's layering, read from the source: shared vocabulary in shijim.domain (which
imports nothing from shijim), and no import cycle between the packages that trade (strategy,
algo, execution, risk, app) nor between the modules of the composition root (shijim.app).

Every import counts, including those inside functions and under TYPE_CHECKING: a cycle hidden
in a function is still a cycle of responsibilities."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "runtime"
PACKAGES = (
    "algo", "app", "backtest", "dashboard", "domain", "execution", "recorder", "risk",
    "strategy",
)  # fmt: skip
LEAVES = ("shijim.domain", "shijim.bounds", "shijim.trading_day")


def module_imports() -> dict[str, set[str]]:
    """shijim module -> the shijim modules (or names in them) it imports."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "shijim").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        out[module] = {t for t in targets if t == "shijim" or t.startswith("shijim.")}
    return out


def graph(unit: int, keep: tuple[str, ...]) -> dict[str, set[str]]:
    """Edges between units (the first ``unit`` dotted parts after shijim) named in ``keep``."""

    def unit_of(name: str) -> str:
        return ".".join(name.split(".")[1 : 1 + unit])

    def kept(name: str) -> bool:  # "app." keeps every module of shijim.app
        return any(name == k or (k.endswith(".") and name.startswith(k)) for k in keep)

    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in module_imports().items():
        a = unit_of(module)
        for target in targets:
            b = unit_of(target)
            if a != b and kept(a) and kept(b):
                edges[a].add(b)
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` (as a path), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for node in sorted(edges):
        found = visit(node, [])
        if found:
            return found
    return None


def test_domain_imports_nothing_from_shijim() -> None:
    imports = module_imports()
    for leaf in LEAVES:
        assert imports[leaf] == set(), f"{leaf} imports {sorted(imports[leaf])}"


def test_the_trading_packages_form_no_cycle() -> None:
    edges = graph(1, PACKAGES)
    assert edges["strategy"] and edges["risk"], "the scan found no imports"
    assert cycle(edges) is None, " -> ".join(cycle(edges) or [])


def test_the_composition_root_modules_form_no_cycle() -> None:
    edges = graph(2, ("app.",))
    assert edges["app.runtime"], "the scan found no imports"
    assert cycle(edges) is None, " -> ".join(cycle(edges) or [])


def test_strategies_and_venues_do_not_reach_into_risk() -> None:
    """The cycles issue 8 named: a strategy, an execution algo or a venue speaks the domain's
    words (TradingState, Rejection, CodeHold, SignalSnapshot), not the risk package's."""
    edges = graph(1, PACKAGES)
    for a, b in itertools.product(("strategy", "algo", "execution"), ("risk", "app")):
        assert b not in edges[a], f"shijim.{a} imports shijim.{b}"
    assert "strategy" not in edges["algo"], "shijim.algo imports shijim.strategy"


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None
