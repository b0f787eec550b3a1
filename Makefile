# The two commands a newcomer needs (README): `make run` and `make test`. Both set up first.
VENV ?= .venv
PY := $(VENV)/bin/python
DURATION ?= 30
SEED ?= 7

.PHONY: setup run test lint rust-test py-test bench clean

setup:
	@bash scripts/setup.sh

# The trading thread pinned to the last CPU this process may use, as on a trading host
# (docs/runtime.md#threads-and-the-trading-path), when it may use two or more (`--cpu last`);
# `make run CPU=` runs unpinned, `make run CPU=2` pins to CPU 2.
CPU ?= last

# The main job: the runtime on the built-in simulated market, no credentials.
run: setup
	$(PY) -m shijim run --feed sim --duration $(DURATION) --seed $(SEED) $(if $(CPU),--cpu $(CPU))

lint: setup
	$(VENV)/bin/ruff check runtime operator tests bench
	$(VENV)/bin/ruff format --check runtime operator tests bench
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

rust-test:
	cargo test --workspace

py-test: setup
	$(PY) -m pytest -q

# Everything CI runs (.ci/run calls this).
test: lint rust-test py-test

# Benchmarks print JSON (each figure beside a same-run baseline) and refresh docs/benchmarks.md.
bench: setup
	$(PY) bench/run.py --out .bench/latest.json --doc docs/benchmarks.md

clean:
	cargo clean
	rm -rf $(VENV) .bench
