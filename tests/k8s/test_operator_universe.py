"""The operator refuses the universe codes the runtime refuses, from one generated rule file, and
the shipped example scales over several shards on the simulated feed."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from emulator import CRD_PATH
from shijim.app.config import parse_config
from shijim.app.feeds import VirtualClock, _sim_feed
from shijim.app.schema import ConfigError
from shijim.gateway.sim_market import default_instruments
from shijim.tools import universe_rules
from shijim.universe import CODE_PATTERN, ShardSpec
from shijim_operator import codes
from shijim_operator.spec import read_spec
from test_operator_builders import example_spec

RULES_FILE = pathlib.Path(codes.__file__).with_name(codes.RULES_FILE)


def test_operator_rule_file_is_generated_from_the_runtime() -> None:
    assert RULES_FILE.read_text(encoding="utf-8") == universe_rules.render(), (
        "stale: python -m shijim.tools.universe_rules --write " + str(RULES_FILE)
    )
    assert universe_rules.main(["--check", str(RULES_FILE)]) == 0
    assert codes.universe_rules()["simulatedCodes"] == [i.code for i in default_instruments()]


def test_check_mode_reports_a_stale_file(tmp_path: pathlib.Path) -> None:
    stale = tmp_path / "u.json"
    stale.write_text("{}\n")
    assert universe_rules.main(["--check", str(stale)]) == 1
    assert universe_rules.main(["--write", str(stale)]) == 0
    assert universe_rules.main(["--check", str(stale)]) == 0


def test_the_crd_pattern_is_the_runtime_code_rule() -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    items = schema["properties"]["spec"]["properties"]["universe"]["properties"]["codes"]["items"]
    assert items["pattern"] == CODE_PATTERN


def test_a_code_the_sim_does_not_know_is_invalid_spec_naming_its_position() -> None:
    spec = example_spec()
    spec["universe"]["codes"] = ["TXFL6", "MXFL6", "2330", "2317", "2207"]
    result, problems = read_spec(spec)
    assert result is None
    (problem,) = [str(p) for p in problems if p.field.startswith("universe.")]
    assert problem.startswith("spec.universe.codes[4]: '2207' is not simulated (the sim has: ")
    # Another feed serves any well-formed code: only the sim has a fixed instrument list.
    spec.update(feed="replay", replay={"path": "/data/raw"})
    assert read_spec(spec)[0] is not None


# Codes around every rule: simulated, well-formed but not simulated, malformed.
PROBES = ["TXFL6", "2330", "2888", "2002", "MXFB7", "2207", "TXFC7", "0050", "txfl6", "TXF L6",
          "A" * 17, "", "TX-F"]  # fmt: skip


def runtime_refuses(code: str, feed: str) -> str | None:
    """The runtime's own verdict: its config check, then (sim) the sim feed's instrument list."""
    raw = {"universe": {"codes": ["TXFL6", code]}, "feed": {"kind": feed, "replay_path": "/r"}}
    try:
        cfg = parse_config(raw)
        if feed == "sim":
            _sim_feed(cfg, list(cfg.universe.codes), VirtualClock())
    except ConfigError as exc:
        return exc.path
    return None


def operator_refuses(code: str, feed: str) -> str | None:
    spec = example_spec()
    spec.update(shards=1, feed=feed, universe={"codes": ["TXFL6", code]})
    if feed == "replay":
        spec["replay"] = {"path": "/r"}
    _, problems = read_spec(spec)
    fields = [p.field for p in problems]
    return fields[0] if fields else None


@pytest.mark.parametrize("feed", ["sim", "replay"])
@pytest.mark.parametrize("code", PROBES)
def test_operator_and_runtime_refuse_the_same_codes(code: str, feed: str) -> None:
    refused = runtime_refuses(code, feed)
    assert operator_refuses(code, feed) == refused
    if refused is not None:
        assert refused == "universe.codes[1]"


@pytest.mark.parametrize("shards", range(1, 9))
def test_the_example_scales_to_eight_shards_without_an_empty_one(shards: int) -> None:
    spec = example_spec()
    spec["shards"] = shards
    result, problems = read_spec(spec)
    assert result is not None, [str(p) for p in problems]
    cfg = parse_config({"universe": {"codes": list(result.codes)}, "feed": {"kind": "sim"}})
    for shard_id in range(shards):
        owned = ShardSpec(shard_id, shards).select(cfg.universe.codes)
        assert owned, f"shard {shard_id} of {shards} owns no code"
        # Each pod's sim feed accepts its codes (the check that crash-looped pods before).
        feed = _sim_feed(cfg, owned, VirtualClock())
        assert feed is not None
