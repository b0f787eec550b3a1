"""Run every benchmark of the project and collect their JSON lines (`make bench`).

    .venv/bin/python bench/run.py --out .bench/latest.json --doc docs/benchmarks.md [--only NAME]

Runs `cargo bench -p shijim_core --bench <name>` for each [[bench]] in shijim_core/Cargo.toml
and `<this python> bench/<name>.py` for every other bench/*.py, one after another (parallel runs
would disturb each other's timings). Every stdout line that is a JSON object with a "bench" key
is a result (docs/contracts.md); other lines are ignored. Prints the combined document on
stdout, writes it to --out and regenerates --doc (docs/benchmarks.md).

Exit status: 0 when every bench ran and printed results; 1 when any failed (crash, timeout or
no results), reported in the document without stopping the others; with --fail-on-miss also 1
when a result reports "pass": false.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CRATE = "shijim_core"
CARGO_TOML = REPO / CRATE / "Cargo.toml"
BENCH_DIR = REPO / "bench"
STDERR_TAIL = 20


@dataclass(frozen=True)
class BenchTarget:
    """One benchmark program: its name (for --only) and the command that runs it."""

    name: str
    kind: str  # "rust" | "python"
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


@dataclass
class BenchRun:
    target: BenchTarget
    results: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def rust_bench_names(cargo_toml: str) -> list[str]:
    """The [[bench]] names declared in a Cargo.toml, in order."""
    data = tomllib.loads(cargo_toml)
    return [b["name"] for b in data.get("bench", []) if isinstance(b.get("name"), str)]


# Modules of bench/ that are not benchmarks: this runner and the shared figure printer.
NOT_BENCHES = {"run.py", "figure.py"}


def python_bench_names(bench_dir: Path) -> list[str]:
    return sorted(p.stem for p in bench_dir.glob("*.py") if p.name not in NOT_BENCHES)


def discover(python: str) -> list[BenchTarget]:
    rust = [
        BenchTarget(n, "rust", ("cargo", "bench", "-p", CRATE, "--bench", n))
        for n in rust_bench_names(CARGO_TOML.read_text())
    ]
    py = [
        BenchTarget(n, "python", (python, f"bench/{n}.py")) for n in python_bench_names(BENCH_DIR)
    ]
    return rust + py


def parse_results(stdout: str, target: BenchTarget) -> list[dict]:
    """JSON objects with a "bench" key, one per line; anything else is build or log noise."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("bench"), str):
            obj["source"] = target.command
            out.append(obj)
    return out


def run_target(target: BenchTarget, timeout: float) -> BenchRun:
    print(f"[bench] {target.command}", file=sys.stderr, flush=True)
    run = BenchRun(target)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            target.argv,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        run.error = f"timed out after {timeout:.0f} s"
    except OSError as e:
        run.error = f"could not start: {e}"
    else:
        run.results = parse_results(proc.stdout, target)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-STDERR_TAIL:])
            run.error = f"exit status {proc.returncode}: {tail}"
        elif not run.results:
            run.error = "printed no JSON result lines"
    run.seconds = round(time.monotonic() - t0, 1)
    status = "ok" if run.ok else f"FAILED ({run.error})"
    print(f"[bench] {target.name}: {status}, {run.seconds} s", file=sys.stderr, flush=True)
    return run


_CPU_IDS = (("cpu family", "family"), ("model", "model"), ("stepping", "stepping"))


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's name and, from /proc/cpuinfo, its family, model, stepping and clock: a VM's
    name can stay "AMD EPYC" across hosts of different generations (stop 29: the same name,
    every figure 20-40 % apart), which these tell apart."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    info: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:  # the first CPU's
            info[key.strip()] = value.strip()
    name = info.get("model name") or platform.processor() or "unknown"
    ids = [f"{label} {info[k]}" for k, label in _CPU_IDS if k in info]
    mhz = info.get("cpu MHz")
    detail = ", ".join(ids + ([f"{float(mhz):.0f} MHz"] if mhz else []))
    return f"{name} ({detail})" if detail else name


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    return f"{commit} (with uncommitted changes)" if git("status", "--porcelain") else commit


def interpreter() -> str:
    """The Python every bench runs on, and the build facts that move its speed
    (scripts/python_build.py, the one definition setup.sh picks the venv's interpreter by)."""
    p = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "python_build.py")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return p.stdout.strip() or f"{platform.python_version()} (build not known: {p.stderr[-200:]})"


def machine() -> dict:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": interpreter(),
    }


def document(runs: list[BenchRun], command: str, only: list[str]) -> dict:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "command": command,
        "only": only,
        "machine": machine(),
        "benches": [
            {
                "name": r.target.name,
                "kind": r.target.kind,
                "command": r.target.command,
                "ok": r.ok,
                "error": r.error,
                "seconds": r.seconds,
            }
            for r in runs
        ],
        "results": [res for r in runs for res in r.results],
    }


def fmt_num(x: object) -> str:
    if isinstance(x, bool) or x is None:
        return "-"
    if isinstance(x, int):
        return str(x)  # counts (decisions, orders, fills) exactly
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.0f}"
    return str(x)


def fmt_pass(x: object) -> str:
    return {True: "yes", False: "**no**"}.get(x, "-") if isinstance(x, bool) else "-"


def cell(x: object) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


# Fields every result line has; anything else (percentiles, rates, counts) goes to "more".
_STANDARD = {"bench", "unit", "median", "samples", "baseline", "ratio", "target", "pass", "source"}


def extra_fields(r: dict) -> str:
    parts = [f"samples {r['samples']}"] if isinstance(r.get("samples"), int) else []
    for k, v in r.items():
        if k not in _STANDARD and v is not None:
            parts.append(f"{k} {fmt_num(v) if isinstance(v, int | float) else v}")
    return ", ".join(parts) or "-"


def render_markdown(doc: dict) -> str:
    m = doc["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py` (`make bench`); do not edit by hand. Every figure sits beside",
        "a baseline measured in the same process run; `ratio` = median / baseline median (baseline",
        "/ median for rates), so a ratio above 1 always means slower than the baseline.",
        "Medians over repeated runs. Numbers from a shared or busy machine are indicative only",
        "(the runtime figures print the load average beside them).",
        "",
        "A rate means nothing without the work done per event: the runtime figures (`runtime.*`,",
        "bench/runtime.py) print the decision policy and count, orders, amends, fills, rejects,",
        "events dropped and ring messages lost beside every figure, in `more`.",
        "",
        f"- Date: {doc['date']}",
        f"- Commit: `{doc['commit']}`",
        f"- Command: `{doc['command']}`",
        f"- Machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}",
        f"- Python: {m.get('python', 'not recorded')}",
    ]
    if doc["only"]:
        lines.append(f"- Subset: only {', '.join(doc['only'])} (run `make bench` for all)")
    lines += [
        "",
        "| bench | median | unit | baseline | baseline median | ratio | target | pass | more |",
        "|---|---:|---|---|---:|---:|---|---|---|",
    ]
    for r in doc["results"]:
        base = r.get("baseline") if isinstance(r.get("baseline"), dict) else {}
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{cell(r['bench'])}`",
                    fmt_num(r.get("median")),
                    cell(r.get("unit", "-")),
                    cell(base.get("name", "-")),
                    fmt_num(base.get("median")),
                    fmt_num(r.get("ratio")),
                    cell(r.get("target") or "-"),
                    fmt_pass(r.get("pass")),
                    cell(extra_fields(r)),
                ]
            )
            + " |"
        )
    lines += ["", "## Runs", "", "| program | command | status | seconds |", "|---|---|---|---:|"]
    for b in doc["benches"]:
        status = "ok" if b["ok"] else f"**failed**: {cell(b['error'])[:300]}"
        lines.append(
            f"| {b['name']} ({b['kind']}) | `{b['command']}` | {status} | {b['seconds']} |"
        )
    lines += [
        "",
        "Targets and what each figure measures are described by the benchmark programs themselves",
        "(shijim_core/benches/*.rs, bench/*.py), in docs/signals.md for OFI/MLOFI and in",
        "docs/engine.md for the engine.",
        "",
    ]
    return "\n".join(lines)


def repo_relative(path: str) -> str:
    """A path as typed from the repository root when it lies inside it (e.g. .venv/bin/python)."""
    p = Path(path)
    try:
        return str(p.absolute().relative_to(REPO))
    except ValueError:
        return path


def invocation(argv: list[str]) -> str:
    """The command that made this document, as run from the repository root."""
    return shlex.join([repo_relative(sys.executable), "bench/run.py", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write the combined JSON document here")
    ap.add_argument("--doc", type=Path, help="regenerate this markdown page (docs/benchmarks.md)")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this bench program (Rust [[bench]] name or bench/NAME.py); repeatable",
    )
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per bench program")
    ap.add_argument("--list", action="store_true", help="list bench programs and exit")
    ap.add_argument(
        "--fail-on-miss", action="store_true", help='exit 1 also when a result has "pass": false'
    )
    args = ap.parse_args(argv)

    targets = discover(repo_relative(sys.executable or "python3"))
    if args.list:
        for t in targets:
            print(f"{t.name}\t{t.kind}\t{t.command}")
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {t.name for t in targets})
        if unknown:
            names = ", ".join(sorted({t.name for t in targets}))
            print(f"--only: unknown bench {', '.join(unknown)} (known: {names})", file=sys.stderr)
            return 2
        targets = [t for t in targets if t.name in args.only]

    runs = [run_target(t, args.timeout) for t in targets]
    doc = document(runs, invocation(argv), args.only)
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(render_markdown(doc))

    failed = [r.target.name for r in runs if not r.ok]
    missed = [res["bench"] for res in doc["results"] if res.get("pass") is False]
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
    if missed:
        print(f"[bench] targets missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if failed or (args.fail_on_miss and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
