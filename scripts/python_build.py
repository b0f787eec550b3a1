"""The build of the CPython running this script, in the two facts that move the trading path's
speed (docs/decisions.md, "The venv is built from an optimized CPython 3.11"): whether its core
is linked into the executable or is a shared libpython, and whether it was configured
``--enable-optimizations``. One definition for both users:

    python3.11 scripts/python_build.py           # "CPython 3.11.2 (core in the executable)"
    python3.11 scripts/python_build.py --venv-ok # exit 0: a 3.11 with ensurepip, optimized

``scripts/setup.sh`` asks ``--venv-ok`` of each candidate for the venv; ``bench/run.py`` prints
the description in docs/benchmarks.md. Standard library only: it runs on bare interpreters.
"""

from __future__ import annotations

import platform
import sys
import sysconfig


def shared_libpython() -> bool:
    """True when the interpreter's core is a shared libpython mapped beside the executable."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return "libpython" in maps.read()
    except OSError:  # not Linux: what the build says (Debian's static binary says 1 too)
        return bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))


def configured_optimized() -> bool:
    return "--enable-optimizations" in (sysconfig.get_config_var("CONFIG_ARGS") or "")


def describe() -> str:
    shared, pgo = shared_libpython(), configured_optimized()
    build = "shared libpython" if shared else "core in the executable"
    build += ", --enable-optimizations" if pgo else ""
    return f"{platform.python_implementation()} {platform.python_version()} ({build})"


def venv_ok() -> bool:
    """A CPython 3.11 that can make a venv with pip (ensurepip) and is an optimized build."""
    try:
        import ensurepip  # noqa: F401  (`-m venv` installs pip with it)
    except ImportError:
        return False
    optimized = not shared_libpython() or configured_optimized()
    return sys.version_info[:2] == (3, 11) and optimized


if __name__ == "__main__":
    if sys.argv[1:] == ["--venv-ok"]:
        sys.exit(0 if venv_ok() else 1)
    print(describe())
