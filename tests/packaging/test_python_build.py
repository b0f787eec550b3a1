"""The interpreter the venv is built from (docs/decisions.md, "The venv is built from an
optimized CPython 3.11"): ``scripts/python_build.py`` says what a build is, and
``scripts/setup.sh``'s ``pick_python`` takes the first candidate it accepts. The facts are
checked against independent evidence (the dynamic linker's view of the executable), the rule
against each kind of build, and the picker by running its own shell function."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "python_build.py"
SETUP = ROOT / "scripts" / "setup.sh"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_build", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


python_build = _load()


@pytest.mark.skipif(not shutil.which("ldd"), reason="ldd: the dynamic linker's view")
def test_shared_libpython_agrees_with_the_dynamic_linker() -> None:
    # The interpreter running the tests: the venv's, a symlink to the picked executable.
    exe = os.path.realpath(sys.executable)
    linked = subprocess.run(["ldd", exe], capture_output=True, text=True, check=False).stdout
    assert python_build.shared_libpython() == ("libpython" in linked)


def test_describe_names_this_interpreter_and_its_build() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = ".".join(map(str, sys.version_info[:3]))
    m = re.fullmatch(r"CPython (\S+) \((shared libpython|core in the executable)(.*)\)", out)
    assert m is not None, out
    assert m.group(1) == version
    assert (m.group(2) == "shared libpython") == python_build.shared_libpython()
    assert (m.group(3) == ", --enable-optimizations") == python_build.configured_optimized()


@pytest.mark.parametrize(
    ("version", "shared", "pgo", "ok"),
    [
        ((3, 11, 2), False, False, True),  # Debian's python3.11: core in the executable
        ((3, 11, 9), True, True, True),  # the python:3.11 image: shared, but PGO + LTO
        ((3, 11, 7), True, False, False),  # pyenv's default build: shared, unoptimized
        ((3, 12, 1), False, False, False),  # not the 3.11 the project pins
        ((3, 10, 12), False, True, False),
    ],
)
def test_venv_ok_accepts_only_an_optimized_3_11(
    monkeypatch: pytest.MonkeyPatch,
    version: tuple[int, int, int],
    shared: bool,
    pgo: bool,
    ok: bool,
) -> None:
    monkeypatch.setattr(python_build, "shared_libpython", lambda: shared)
    monkeypatch.setattr(python_build, "configured_optimized", lambda: pgo)
    monkeypatch.setattr(python_build.sys, "version_info", version)
    assert python_build.venv_ok() is ok


def _pick(path: str, env_python: str | None = None) -> str:
    """Runs setup.sh's own ``pick_python`` (extracted from the script, not a copy) from the
    checkout's root, with ``PATH`` limited to ``path``; returns what it echoes."""
    text = SETUP.read_text()
    m = re.search(r"^pick_python\(\) \{\n.*?^\}\n", text, re.S | re.M)
    assert m is not None, "setup.sh has no pick_python function"
    line = re.search(r"^PY=.*$", text, re.M)
    assert line is not None
    body = f'{m.group(0)}{line.group(0)}\necho "$PY"\n'
    env = {"PATH": path}
    if env_python is not None:
        env["PYTHON"] = env_python
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run(
        [bash, "-c", body], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _fake(bindir: Path, name: str, accepts: bool) -> None:
    """A candidate whose only answer is to ``scripts/python_build.py --venv-ok``."""
    p = bindir / name
    p.write_text(f"#!/bin/sh\nexit {0 if accepts else 1}\n")
    p.chmod(0o755)


def _accepted(exe: str) -> bool:
    if not os.access(exe, os.X_OK):
        return False
    r = subprocess.run([exe, str(SCRIPT), "--venv-ok"], capture_output=True, check=False)
    return r.returncode == 0


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def test_pick_python_takes_an_accepted_python3_11_on_path(bindir: Path) -> None:
    _fake(bindir, "python3.11", accepts=True)
    assert _pick(f"{bindir}:/usr/bin:/bin") == "python3.11"


def test_pick_python_skips_a_refused_candidate(bindir: Path) -> None:
    # The first candidate refuses (a pyenv shim to a shared, unoptimized build): the absolute
    # candidates are asked next, in order, and python3 is the last resort.
    _fake(bindir, "python3.11", accepts=False)
    expected = next(
        (c for c in ("/usr/bin/python3.11", "/usr/local/bin/python3.11") if _accepted(c)),
        "python3",
    )
    assert _pick(f"{bindir}:/usr/bin:/bin") == expected


def test_pick_python_yields_to_the_python_variable(bindir: Path) -> None:
    _fake(bindir, "python3.11", accepts=True)
    assert _pick(f"{bindir}:/usr/bin:/bin", env_python="/opt/py/bin/python3") == (
        "/opt/py/bin/python3"
    )
