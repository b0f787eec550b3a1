#!/usr/bin/env bash
# One-time (idempotent) setup: system packages, the virtualenv, the Rust core built by maturin,
# the Python package and the operator package. Safe to re-run; fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The interpreter: $PYTHON if set; else the first CPython 3.11 on this machine whose build is
# optimized (scripts/python_build.py: its core linked into the executable, as Debian's
# /usr/bin/python3.11, or configured with --enable-optimizations, as the runtime image's
# python:3.11), which ran the demo's trading path ~10 % faster than a shared, unoptimized
# libpython such as pyenv's default build (docs/decisions.md); else python3. Only a new venv is
# built from it.
pick_python() {
    local c
    for c in python3.11 /usr/bin/python3.11 /usr/local/bin/python3.11; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" scripts/python_build.py --venv-ok 2>/dev/null; then
            echo "$c"
            return
        fi
    done
    echo python3
}
PY=${PYTHON:-$(pick_python)}
VENV=${VENV:-.venv}

# promtool (Prometheus rule unit tests) comes from Debian's prometheus package.
if ! command -v promtool >/dev/null 2>&1; then
    echo "setup: installing promtool (Debian package prometheus)"
    export DEBIAN_FRONTEND=noninteractive
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV from $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi

stamp="$VENV/.deps-stamp"
deps_hash=$(cat pyproject.toml operator/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
    echo "setup: installing Python dependencies"
    # Runtime + dev + operator + clickhouse + backtest + dashboard extras, resolved from pyproject.toml without building the core.
    "$VENV/bin/pip" install -q "maturin>=1.7,<2"
    "$VENV/bin/python" - <<'PYEOF' > "$VENV/.requirements.txt"
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(p["dependencies"])
for extra in ("dev", "operator", "clickhouse", "backtest", "dashboard"):
    reqs += p["optional-dependencies"][extra]
print("\n".join(reqs))
PYEOF
    "$VENV/bin/pip" install -q -r "$VENV/.requirements.txt"
    "$VENV/bin/pip" install -q --no-deps -e operator/
    echo "$deps_hash" > "$stamp"
    rm -f "$VENV/.shijim-installed"
fi

# Build the Rust core in release mode into target/ (cached by cargo) and install it editable:
# runtime/ stays live on sys.path, the extension lands in runtime/shijim_core/.
echo "setup: building shijim_core (maturin develop --release)"
# The first build installs the package (editable); later ones only rebuild the extension in place.
installed="$VENV/.shijim-installed"
if [ -f "$installed" ]; then
    VIRTUAL_ENV="$PWD/$VENV" "$VENV/bin/maturin" develop --release --quiet --skip-install
else
    VIRTUAL_ENV="$PWD/$VENV" "$VENV/bin/maturin" develop --release --quiet
    touch "$installed"
fi
# The core is built for the stable ABI (_shijim_core.abi3.so). A per-interpreter build left from
# before (.cpython-3XX-*.so) would be imported first and shadow it, stale: remove it.
rm -f runtime/shijim_core/_shijim_core.cpython-*.so
"$VENV/bin/python" -c "import shijim_core, shijim; print('setup: shijim_core', shijim_core.__version__, 'ok')"
