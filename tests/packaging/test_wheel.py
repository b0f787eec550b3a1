"""The published wheel: built the way the release builds it (`maturin build --release --locked`),
one wheel for CPython 3.11 and later (PyO3's stable ABI, tag cp311-abi3-<platform>), installed
alone into fresh virtual environments with numpy only, where the compiled core is imported and
used (a ring round trip: PyO3 lists in, numpy structured arrays out). The sdist carries what a
source build needs (docs/packaging.md).

Every interpreter of 3.11, 3.12 and 3.13 found on this machine gets its own venv; one that is not
here is skipped with a reason (CI's test matrix runs each). The build reuses cargo's cache:
$CARGO_TARGET_DIR if set, else the repository's target/ where scripts/setup.sh builds the same
features and profile, so the build is mostly packaging."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import numpy
import pytest
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

pytestmark = pytest.mark.slow  # a release build and fresh venvs

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PYTHONS = ("3.11", "3.12", "3.13")
# Run inside the fresh venv, from a directory outside the repository (runtime/ must not be on
# sys.path): where the modules come from, and the core doing real work through numpy.
PROBE = """
import json, os, sys
import shijim, shijim_core
name = f"pkgtest-{os.getpid()}"
shijim_core.ring_unlink(name)
writer = shijim_core.RingWriter(name, slots=1024, create=True)
reader = shijim_core.RingReader(name, start="oldest")
writer.publish_bidask("TXFL6", 1, 2, [23000.0, 22999.0], [1, 2], [23001.0], [3], False)
rows = reader.read(16).bidasks
writer.close()
shijim_core.ring_unlink(name)
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "core_file": shijim_core._shijim_core.__file__,
    "shijim_file": shijim.__file__,
    "core_version": shijim_core.__version__,
    "row": [rows["code"][0].decode(), rows["bid_px"][0].tolist(), rows["ask_qty"][0].tolist()],
}))
"""


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload]


def find_python(minor: str) -> str | None:
    """An interpreter of `minor` (3.12, ...): the running one, one on PATH, or a pyenv build."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == minor:
        return sys.executable
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [
        shutil.which(f"python{minor}"),
        *sorted(pyenv.glob(f"{minor}*/bin/python{minor}")),
    ]
    for candidate in candidates:
        if candidate is None:
            continue
        probe = run(candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
        if probe.returncode == 0 and probe.stdout.strip() == minor:  # not a dead pyenv shim
            return str(candidate)
    return None


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    maturin = Path(sys.executable).parent / "maturin"
    env = {
        **os.environ,
        "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")),
    }
    built = run(
        maturin, "build", "--release", "--locked", "--out", out, "--interpreter", sys.executable,
        cwd=ROOT, env=env, timeout=1200,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    sdist = run(maturin, "sdist", "--out", out, cwd=ROOT, env=env, timeout=300)
    assert sdist.returncode == 0, sdist.stdout + sdist.stderr
    return out


def the_wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_one_abi3_wheel_for_311_and_later(dist: Path) -> None:
    wheel = the_wheel(dist)
    name, version, _build, tags = parse_wheel_filename(wheel.name)
    assert (name, str(version)) == ("shijim", VERSION)
    (tag,) = tags
    assert (tag.interpreter, tag.abi) == ("cp311", "abi3"), wheel.name
    assert tag.platform.endswith("x86_64") or tag.platform.endswith("aarch64"), wheel.name
    print(f"\nwheel: {wheel.name}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(f"shijim-{VERSION}.dist-info/METADATA").decode()
        wheel_info = z.read(f"shijim-{VERSION}.dist-info/WHEEL").decode()
    extensions = [n for n in names if n.endswith(".so")]
    assert extensions == ["shijim_core/_shijim_core.abi3.so"], extensions
    assert "shijim/__init__.py" in names and "shijim/app/cli.py" in names
    assert "Requires-Python: >=3.11" in metadata
    assert f"Tag: {Tag('cp311', 'abi3', tag.platform)}" in wheel_info


def test_sdist_builds_from_its_own_files(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    assert sdist.name == f"shijim-{VERSION}.tar.gz"
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    needed = {
        "pyproject.toml",
        "Cargo.toml",
        "Cargo.lock",  # --locked source builds
        "shijim_core/Cargo.toml",
        "shijim_core/src/lib.rs",
        "shijim_core/schema/shijim.xml",
        "runtime/shijim/__init__.py",
        "runtime/shijim_core/__init__.py",
        "README.md",
    }
    assert needed <= names, needed - names
    assert not [n for n in names if n.endswith(".so")], "a built extension leaked into the sdist"


@pytest.mark.parametrize("minor", PYTHONS)
def test_wheel_installs_alone_and_its_core_works(dist: Path, tmp_path: Path, minor: str) -> None:
    python = find_python(minor)
    if python is None:
        pytest.skip(f"no Python {minor} on this machine: CI's test matrix runs it")
    venv = tmp_path / "venv"
    created = run(python, "-m", "venv", "--without-pip", venv, timeout=120)
    assert created.returncode == 0, created.stderr
    venv_python = venv / "bin" / "python"
    # This environment's pip installs into the venv (no ensurepip: faster), the wheel with no
    # dependencies but numpy, which the core needs at import.
    installed = run(
        sys.executable, "-m", "pip", "--python", venv_python, "install", "--quiet",
        "--disable-pip-version-check", "--no-deps", the_wheel(dist), f"numpy=={numpy.__version__}",
        timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = run(venv_python, "-c", PROBE, cwd=tmp_path, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    site = str(venv / "lib")
    assert seen["python"] == minor
    assert seen["core_file"].startswith(site) and seen["core_file"].endswith(".abi3.so"), seen
    assert seen["shijim_file"].startswith(site), seen
    assert seen["core_version"] == VERSION
    assert seen["row"] == ["TXFL6", [23000.0, 22999.0, 0.0, 0.0, 0.0], [3, 0, 0, 0, 0]]
