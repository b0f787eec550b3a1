"""Where /metrics listens (issue 7, item 10): loopback by default, the pod IP when the operator
renders SHIJIM_METRICS_BIND from the downward API (the environment wins over the file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shijim.app.cli import main
from shijim.app.config import parse_config


def test_the_default_bind_is_loopback() -> None:
    assert parse_config({}).metrics.bind == "127.0.0.1"


def test_the_environment_wins_over_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("metrics: {port: 9100, bind: 127.0.0.1}\n")
    env = {"SHIJIM_METRICS_BIND": "10.244.1.17"}
    assert main(["run", "--config", str(f), "--print-config"], env=env) == 0
    assert "bind: 10.244.1.17" in capsys.readouterr().out
    env = {"SHIJIM_METRICS_BIND": "fd00:10:244::17"}  # an IPv6 pod IP
    assert main(["run", "--config", str(f), "--print-config"], env=env) == 0
    assert "bind: fd00:10:244::17" in capsys.readouterr().out


def test_a_bad_bind_is_a_config_error_naming_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["run", "--print-config"], env={"SHIJIM_METRICS_BIND": "pod-ip"}) == 2
    assert 'env SHIJIM_METRICS_BIND: expected an IP address, got "pod-ip"' in (
        capsys.readouterr().err
    )
    f = tmp_path / "c.yaml"
    f.write_text("metrics: {bind: everywhere}\n")
    assert main(["run", "--config", str(f), "--print-config"], env={}) == 2
    assert 'metrics.bind: expected an IP address, got "everywhere"' in capsys.readouterr().err
