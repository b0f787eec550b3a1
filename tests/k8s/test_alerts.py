"""The Prometheus alerts: `promtool check rules` and the `promtool test rules` unit tests in
tests/k8s/promtool/, run with the real promtool (Debian package prometheus; these tests fail, not
skip, when it is missing), plus consistency checks: only documented metric names, every alert
tested firing and not firing, documented in docs/alerts.md, and the session-window edges kept."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "charts" / "shijim" / "files" / "shijim-alerts.rules.yaml"
PROMTOOL_DIR = Path(__file__).resolve().parent / "promtool"
ALERTS_DOC = ROOT / "docs" / "alerts.md"

METRICS_DOC = ROOT / "docs" / "metrics.md"
# Prometheus' own series the alerts may use besides the runtime's.
PROMETHEUS_SERIES = {"up"}


def documented_metrics() -> set[str]:
    """docs/contracts.md "Metric names": the only series the alerts may use are the rows of
    docs/metrics.md's table (read from it, not copied); a histogram's series add their
    suffixes."""
    names: set[str] = set()
    for line in METRICS_DOC.read_text().splitlines():
        m = re.match(r"\| `(shijim_[a-z0-9_]+)` \| (\w+) \|", line)
        if m is None:
            continue
        name, kind = m.groups()
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            names.add(name)
    assert len(names) > 20, f"{METRICS_DOC}: its metrics table was not found"
    return names | PROMETHEUS_SERIES


PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "without",
    "by",
    "on",
    "ignoring",
    "and",
    "or",
    "unless",
    "rate",
    "increase",
    "time",
    "day_of_week",
    "hour",
    "minute",
    "histogram_quantile",
    "vector",
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus package (scripts/setup.sh does)"
    return path


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def all_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def unit_test_files() -> list[Path]:
    files = sorted(PROMTOOL_DIR.glob("*_test.yaml"))
    assert files, f"no promtool unit tests in {PROMTOOL_DIR}"
    return files


def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", *map(str, unit_test_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr


def test_unit_tests_fail_when_the_session_window_is_wrong(tmp_path: Path) -> None:
    """The session tests can fail: with Saturday counted as a trading day they must."""
    rules = RULES_FILE.read_text()
    assert "day_of_week() <= 5" in rules
    mutated = tmp_path / "charts" / "shijim" / "files" / RULES_FILE.name
    mutated.parent.mkdir(parents=True)
    mutated.write_text(rules.replace("day_of_week() <= 5", "day_of_week() <= 6"))
    tests_dir = tmp_path / "tests" / "k8s" / "promtool"
    tests_dir.mkdir(parents=True)
    shutil.copy(PROMTOOL_DIR / "session_window_test.yaml", tests_dir)
    result = run_promtool("test", "rules", "session_window_test.yaml", cwd=tests_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "time: 2d19h" in result.stdout + result.stderr  # Sunday 03:00 Taipei fired


def test_rules_use_only_documented_metrics() -> None:
    # Recording rules may only be used after they are defined; their names start with "shijim:".
    allowed = documented_metrics() | recorded_names()
    assert all(name.startswith("shijim:") for name in recorded_names())
    for rule in all_rules():
        expr = re.sub(r"\{[^}]*\}", "", rule["expr"])  # label matchers
        expr = re.sub(r"\b(without|by|on|ignoring)\s*\([^)]*\)", " ", expr)  # label lists
        expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
        names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)) - PROMQL_WORDS
        what = rule.get("alert") or rule["record"]
        unknown = names - allowed
        assert not unknown, f"{what} uses undocumented names {sorted(unknown)}"
        assert names or "record" in rule, f"{what} uses no metric"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in unit_test_files():
        spec = yaml.safe_load(path.read_text())
        assert spec["rule_files"] == ["../../../charts/shijim/files/shijim-alerts.rules.yaml"]
        for test in spec["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_session_window_edges_are_covered() -> None:
    spec = yaml.safe_load((PROMTOOL_DIR / "session_window_test.yaml").read_text())
    cases = {
        case["eval_time"]: bool(case["exp_alerts"])
        for test in spec["tests"]
        for case in test["alert_rule_test"]
        if case["alertname"] == "ShijimMarketDataStale"
    }
    # (promtool's clock starts Thursday 1970-01-01 00:00 UTC = 08:00 Taipei)
    required = {
        "19h": True,  # Friday 03:00 Taipei: weekday night session
        "1d19h": True,  # Saturday 03:00 Taipei: Friday's night session
        "2d19h": False,  # Sunday 03:00 Taipei
        "6h": False,  # Thursday 14:00 Taipei: between sessions
        "44m": False,  # 08:44, before the day session
        "46m": True,  # 08:46
        "5h45m": False,  # 13:45, day session closed
        "7h1m": True,  # 15:01, night session
        "21h": False,  # 05:00, night session closed
    }
    for eval_time, fires in required.items():
        assert cases.get(eval_time) is fires, eval_time


def test_every_alert_is_documented_with_a_runbook() -> None:
    doc = ALERTS_DOC.read_text()
    headings = set(re.findall(r"^## (\w+)$", doc, flags=re.MULTILINE))
    for rule in alert_rules():
        name = rule["alert"]
        assert name in headings, f"docs/alerts.md has no section '## {name}'"
        assert rule["annotations"]["runbook"] == f"docs/alerts.md#{name.lower()}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        section = doc.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert "Runbook" in section, f"{name}: no runbook step in docs/alerts.md"


def test_rendered_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    """What the chart deploys (the PrometheusRule's spec after Helm) is a valid rule file."""
    rendered = helm_python.Chart.load(ROOT / "charts" / "shijim").render(
        {"monitoring": {"prometheusRule": {"enabled": True}}}, name="shijim", namespace="trading"
    )
    rule = yaml.safe_load(rendered["shijim/templates/prometheusrule.yaml"])
    assert rule["kind"] == "PrometheusRule"
    rule_file = tmp_path / "rendered.rules.yaml"
    rule_file.write_text(yaml.safe_dump(rule["spec"]))
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in result.stdout


def test_alert_metrics_are_in_the_runtime_metrics_doc() -> None:
    """The runtime's own list (docs/metrics.md) still has every metric the alerts use."""
    documented = set(re.findall(r"shijim_[a-z0-9_]+", (ROOT / "docs" / "metrics.md").read_text()))
    used: set[str] = set()
    for rule in all_rules():
        used |= set(re.findall(r"shijim_[a-z0-9_]+", rule["expr"]))
    histogram_parts = re.compile(r"_(bucket|count|sum)$")
    missing = {name for name in used if histogram_parts.sub("", name) not in documented}
    assert missing == set(), f"not in docs/metrics.md: {sorted(missing)}"
