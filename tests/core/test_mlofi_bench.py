"""bench/run.py (the `make bench` runner) on throwaway bench programs, and its pure parts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "run.py"


@pytest.fixture
def run_py():
    spec = importlib.util.spec_from_file_location("bench_run", RUNNER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("bench_run", None)


def test_rust_bench_names_parsed_from_cargo_toml(run_py) -> None:
    toml = """
[package]
name = "x"
[[bench]]
name = "sbe"
harness = false
[[bench]]
name = "ofi"
harness = false
"""
    assert run_py.rust_bench_names(toml) == ["sbe", "ofi"]
    assert run_py.rust_bench_names('[package]\nname = "x"\n') == []


def test_only_json_result_lines_are_collected(run_py) -> None:
    target = run_py.BenchTarget("x", "python", ("python", "bench/x.py"))
    out = "\n".join(
        [
            "Compiling shijim_core v0.1.0",
            '{"bench": "a", "unit": "ns", "median": 1.5}',
            "{not json",
            '{"no_bench_key": 1}',
            "[1, 2]",
            '  {"bench": "b", "median": 2}  ',
        ]
    )
    got = run_py.parse_results(out, target)
    assert [r["bench"] for r in got] == ["a", "b"]
    assert got[0]["source"] == "python bench/x.py"


def test_runs_every_program_reports_failures_and_writes_outputs(
    run_py, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "none"\n')
    line = {
        "bench": "good.one",
        "unit": "ns/op",
        "median": 12.5,
        "p99": None,
        "samples": 5,
        "baseline": {"name": "memcpy", "median": 5.0},
        "ratio": 2.5,
        "target": "<= 20 ns",
        "pass": True,
    }
    (bench_dir / "good.py").write_text(f"print('warming up')\nprint({json.dumps(line)!r})\n")
    (bench_dir / "crash.py").write_text("import sys\nsys.exit('boom')\n")
    (bench_dir / "silent.py").write_text("print('nothing measured')\n")
    (bench_dir / "run.py").write_text("raise SystemExit('the runner must not run itself')\n")
    monkeypatch.setattr(run_py, "REPO", tmp_path)
    monkeypatch.setattr(run_py, "BENCH_DIR", bench_dir)
    monkeypatch.setattr(run_py, "CARGO_TOML", tmp_path / "Cargo.toml")

    out, doc = tmp_path / "o" / "latest.json", tmp_path / "benchmarks.md"
    rc = run_py.main(["--out", str(out), "--doc", str(doc)])
    assert rc == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    status = {b["name"]: (b["ok"], b["error"]) for b in printed["benches"]}
    assert status["good"] == (True, None)
    assert status["crash"][0] is False and "exit status 1" in status["crash"][1]
    assert "boom" in status["crash"][1]
    assert status["silent"] == (False, "printed no JSON result lines")
    assert "run" not in status
    assert [r["bench"] for r in printed["results"]] == ["good.one"]
    assert printed["machine"]["nproc"] >= 1
    md = doc.read_text()
    assert "| `good.one` | 12.5 | ns/op | memcpy | 5 | 2.5 | <= 20 ns | yes |" in md
    assert "**failed**" in md and "bench/run.py --out" in md

    assert run_py.main(["--only", "good"]) == 0
    assert run_py.main(["--only", "nope"]) == 2


def test_counts_beside_a_figure_are_printed_exactly(run_py) -> None:
    # A decision or order count beside a rate must read as the number it is, not 1.974e+04.
    r = {"bench": "runtime.x", "median": 73234.4, "decisions": 19737, "orders": 229, "lost": 0}
    more = run_py.extra_fields(r)
    assert "decisions 19737" in more and "orders 229" in more and "lost 0" in more
    assert run_py.fmt_num(73234.354) == "7.323e+04" and run_py.fmt_num(True) == "-"


def test_the_machine_line_tells_hosts_of_one_cpu_name_apart(run_py) -> None:
    cpu = (
        "processor\t: {n}\nmodel name\t: AMD EPYC\ncpu family\t: {f}\nmodel\t\t: 2\nstepping\t: 1\n"
    )
    two = cpu.format(n=0, f=26) + "cpu MHz\t\t: 2596.096\n\n" + cpu.format(n=1, f=25)
    assert run_py.cpu_model(two) == "AMD EPYC (family 26, model 2, stepping 1, 2596 MHz)"
    assert run_py.cpu_model(cpu.format(n=0, f=25)) == "AMD EPYC (family 25, model 2, stepping 1)"
    assert run_py.cpu_model("") not in ("", "AMD EPYC")  # never blank: the platform's or unknown
