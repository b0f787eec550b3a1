"""Universe sharding: stability, balance, ~1/N movement, CLI and bad arguments."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest
from shijim.tools.universe import main as universe_main
from shijim.universe import (
    JitterMode,
    ShardConfigError,
    ShardSpec,
    assign,
    shard_of,
    startup_jitter_seconds,
    wait_startup_jitter,
)

CODES = [f"{n:04d}" for n in range(1101, 3101)]  # 2000 stock-like codes


def test_assignment_is_stable_across_processes() -> None:
    # A fresh interpreter with a different PYTHONHASHSEED must agree: no randomised hash().
    sample = [*CODES[:50], "TXFL6", "MXFL6", "TXO23000L6"]
    here = assign(sample, 7)
    code = (
        "import json,sys; from shijim.universe import assign; "
        f"print(json.dumps(assign({sample!r}, 7)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    ).stdout
    assert json.loads(out) == here


def test_known_assignments_do_not_change() -> None:
    # Pinned values: a change here would silently move instruments between running shards.
    assert [shard_of(c, 4) for c in ("TXFL6", "MXFL6", "2330", "2317")] == [2, 2, 0, 3]


def test_every_code_in_exactly_one_shard() -> None:
    n = 5
    shards = [ShardSpec(k, n) for k in range(n)]
    selected = [s.select(CODES) for s in shards]
    flat = [c for part in selected for c in part]
    assert sorted(flat) == sorted(CODES)
    assert len(flat) == len(set(flat))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_balance(n: int) -> None:
    counts = Counter(assign(CODES, n).values())
    expected = len(CODES) / n
    assert set(counts) == set(range(n))
    # Binomial spread: 4.5 sigma bound, so a healthy hash never fails this.
    sigma = (len(CODES) * (1 / n) * (1 - 1 / n)) ** 0.5
    assert max(abs(c - expected) for c in counts.values()) < 4.5 * sigma


@pytest.mark.parametrize("n", [1, 3, 4, 8])
def test_adding_a_shard_moves_about_one_over_n_codes(n: int) -> None:
    before = assign(CODES, n)
    after = assign(CODES, n + 1)
    moved = [c for c in CODES if before[c] != after[c]]
    # Every moved code goes to the new shard (rendezvous property), none moves between old ones.
    assert all(after[c] == n for c in moved)
    frac = len(moved) / len(CODES)
    assert abs(frac - 1 / (n + 1)) < 0.04, frac


def test_select_keeps_order_and_drops_duplicates() -> None:
    spec = ShardSpec(0, 1)
    assert spec.select(["B", "A", "B"]) == ["B", "A"]


@pytest.mark.parametrize(
    ("shard_id", "total", "field"),
    [(0, 0, "total_shards"), (3, 3, "shard_id"), (-1, 2, "shard_id"), (True, 2, "shard_id")],
)
def test_bad_spec(shard_id: int, total: int, field: str) -> None:
    with pytest.raises(ShardConfigError, match=field):
        ShardSpec(shard_id, total)


def test_from_env() -> None:
    assert ShardSpec.from_env({}) == ShardSpec(0, 1)
    assert ShardSpec.from_env({"SHARD_ID": "2", "TOTAL_SHARDS": "3"}) == ShardSpec(2, 3)
    with pytest.raises(ShardConfigError, match="environment: shard id"):
        ShardSpec.from_env({"SHARD_ID": "two", "TOTAL_SHARDS": "3"})


def test_bad_code() -> None:
    with pytest.raises(ShardConfigError, match="code"):
        shard_of("  ", 3)


def test_startup_jitter() -> None:
    jit = [startup_jitter_seconds(ShardSpec(k, 4), 60.0) for k in range(4)]
    assert jit == [0.0, 15.0, 30.0, 45.0]
    r = startup_jitter_seconds(ShardSpec(1, 4), 10.0, JitterMode.RANDOM, random.Random(1))
    assert 0.0 <= r <= 10.0
    with pytest.raises(ShardConfigError, match="startup_jitter_seconds"):
        startup_jitter_seconds(ShardSpec(0, 1), float("nan"))
    with pytest.raises(ShardConfigError, match="startup_jitter_seconds"):
        startup_jitter_seconds(ShardSpec(0, 1), -1)


def test_wait_startup_jitter() -> None:
    slept: list[float] = []
    assert wait_startup_jitter(ShardSpec(3, 4), 8.0, sleep=slept.append) == 6.0
    assert wait_startup_jitter(ShardSpec(0, 4), 8.0, sleep=slept.append) == 0.0
    assert slept == [6.0]


def test_cli_prints_assignment(capsys: pytest.CaptureFixture[str]) -> None:
    assert universe_main(["--total-shards", "4", "TXFL6", "2330", "2317"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["TXFL6\t2", "2330\t0", "2317\t3"]


def test_cli_filter_and_json(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    f = tmp_path / "codes.txt"
    f.write_text("# universe\n2330\n2317  # hon hai\n\n")
    assert (
        universe_main(
            ["--total-shards", "4", "--shard-id", "3", "--json", "TXFL6", "--codes-file", str(f)]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == {"2317": 3}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--total-shards", "0", "X"], "--total-shards: expected an integer >= 1"),
        (["--total-shards", "x", "X"], "--total-shards: expected an integer, got 'x'"),
        (["--total-shards", "2", "--shard-id", "2", "X"], "--shard-id: expected an integer in"),
        (["--total-shards", "2"], "no codes"),
        (["--total-shards", "2", "--codes-file", "/nonexistent/codes"], "--codes-file"),
        (["X"], "--total-shards"),
    ],
)
def test_cli_bad_args(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        universe_main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
