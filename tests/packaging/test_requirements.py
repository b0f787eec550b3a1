"""requirements.txt says what `pip install .` installs for the runtime (pyproject.toml's
[project].dependencies, same specifiers and markers) plus the build backend from
[build-system].requires, so that `pip install -r requirements.txt && maturin develop` gives the
same environment as `pip install -e .`. Both sides are read at test time: extras (dev and the
others) change freely without touching requirements.txt (docs/packaging.md#requirementstxt)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def wanted(pyproject: str) -> list[str]:
    meta = tomllib.loads(pyproject)
    return [*meta["project"]["dependencies"], *meta["build-system"]["requires"]]


def listed(requirements: str) -> list[tuple[int, str]]:
    """(line number, requirement) of each requirement line, comments and blank lines skipped."""
    out = []
    for n, line in enumerate(requirements.splitlines(), 1):
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith("#"):
            out.append((n, text))
    return out


def drift(pyproject: str, requirements: str) -> list[str]:
    """What differs, one line each, naming the package and where it is (empty: in sync)."""
    want = {canonicalize_name(Requirement(r).name): Requirement(r) for r in wanted(pyproject)}
    problems, seen = [], set()
    for n, text in listed(requirements):
        if text.startswith("-"):
            problems.append(f"requirements.txt:{n}: pip option {text!r} (only requirements)")
            continue
        have = Requirement(text)
        name = canonicalize_name(have.name)
        if name in seen:
            problems.append(f"requirements.txt:{n}: {have.name} listed twice")
        seen.add(name)
        if name not in want:
            problems.append(f"requirements.txt:{n}: {have.name} is not a runtime dependency")
            continue
        expected = want[name]
        if (have.specifier, have.marker, have.extras) != (
            expected.specifier,
            expected.marker,
            expected.extras,
        ):
            problems.append(f"requirements.txt:{n}: {text!r} but pyproject.toml says {expected}")
    problems += [
        f"requirements.txt: missing {want[name]} (pyproject.toml)"
        for name in sorted(set(want) - seen)
    ]
    return problems


def test_requirements_txt_matches_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    requirements = (ROOT / "requirements.txt").read_text()
    assert "shioaji==1.7.9" in wanted(pyproject)  # the reading found the real list
    assert drift(pyproject, requirements) == []


def test_drift_is_named() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    requirements = (ROOT / "requirements.txt").read_text()
    # A runtime dependency added to pyproject only.
    added = pyproject.replace('"PyYAML>=6",', '"PyYAML>=6",\n    "orjson>=3",', 1)
    assert drift(added, requirements) == ["requirements.txt: missing orjson>=3 (pyproject.toml)"]
    # A pin moved in one file only (names compare as pip does: case and -/_ ignored).
    moved = requirements.replace("shioaji==1.7.9", "Shioaji==1.7.10")
    (problem,) = drift(pyproject, moved)
    assert "'Shioaji==1.7.10' but pyproject.toml says shioaji==1.7.9" in problem
    # A line that is no runtime dependency, and pip options.
    extra = requirements + "chdb>=4.4\n-e .\n"
    problems = drift(pyproject, extra)
    assert any("chdb is not a runtime dependency" in p for p in problems), problems
    assert any("pip option '-e .'" in p for p in problems), problems
    # The dev extra is free to change: requirements.txt does not list it.
    dev = pyproject.replace('"pytest>=8",', '"pytest>=8",\n    "filterpy>=1.4",', 1)
    assert dev != pyproject and drift(dev, requirements) == []
