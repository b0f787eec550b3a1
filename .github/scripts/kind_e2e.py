"""End-to-end checks on a real cluster (the CI `e2e` job, kind), run after the chart is installed,
examples/shard.yaml applied and its kill switch engaged by the operator. Each phase is the
cluster twin of an emulator test in tests/k8s, which runs on every `make test`:

  release-kill-switch           killSwitch false: every shard trades again (ACTIVE at the new
                                generation) and KillSwitchEngaged turns False.
  reshard                       spec.shards 2 -> 3 -> 2 (test_resharding.py): every runtime pod's
                                /metrics is sampled through the API server throughout, and no code
                                may be owned (shijim_code_owned 1) by two pods in any sample; at
                                the end every code of the universe has exactly one owner.
  invalid-spec                  duplicate codes and more shards than codes (test_operator_kopf.py):
                                InvalidSpec True naming the fields, phase Invalid, a Warning event,
                                the StatefulSet untouched; the valid spec back clears it.
  kill-switch-without-operator  the operator scaled to 0, then killSwitch true: the documented
                                check (docs/kubernetes.md#kill-switch-check, run as written) passes
                                from the shards' own acknowledgements (test_kill_switch_check.py)
                                while the operator's condition cannot; the operator back, the
                                condition follows; the kill switch released again.
  delete                        kubectl delete (test_operator_kopf.py): the finalizer waits until
                                every live shard halted, no DrainTimeout, the children go.

    python3 .github/scripts/kind_e2e.py PHASE [PHASE ...]

Standard library and kubectl only (the runner's python3). Exit 1 with the reason on the first
failed check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
NAME = os.environ.get("SHARD_NAME", "sim-demo")
NAMESPACE = os.environ.get("SHARD_NAMESPACE", "default")
OPERATOR = os.environ.get("OPERATOR_DEPLOYMENT", "shijim-operator")
POD_SELECTOR = f"shijim.io/tradingshard={NAME}"
PROXY_PORT = 8011
OWNED = re.compile(r'^shijim_code_owned\{[^}]*code="([^"]+)"[^}]*\} (\S+)$', re.M)
T = TypeVar("T")


class CheckFailed(Exception):
    """A check of this script did not hold; the message says which and what was seen."""


# ------------------------------------------------------------------------------ kubectl
def kubectl(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["kubectl", "-n", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise CheckFailed(f"kubectl {' '.join(args)}: rc {done.returncode}\n{done.stderr}")
    return done


def get(kind: str, name: str) -> dict[str, Any] | None:
    done = kubectl("get", kind, name, "-o", "json", check=False)
    if done.returncode != 0:
        if "NotFound" in done.stderr or "not found" in done.stderr:
            return None
        raise CheckFailed(f"kubectl get {kind} {name}: {done.stderr}")
    return json.loads(done.stdout)


def shard() -> dict[str, Any]:
    obj = get("tradingshard", NAME)
    if obj is None:
        raise CheckFailed(f"tradingshard {NAME} is gone")
    return obj


def patch_spec(spec: dict[str, Any]) -> None:
    kubectl("patch", "tradingshard", NAME, "--type", "merge", "-p", json.dumps({"spec": spec}))
    print(f"patched spec: {json.dumps(spec)}", flush=True)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return {}


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 180) -> T:
    """Poll `probe` until it returns a true value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def shards_report(state: str, acknowledged: bool | None = None) -> Callable[[], bool]:
    """Every shard 0..spec.shards-1 reported `state` at the current generation."""

    def probe() -> bool:
        obj = shard()
        generation = obj["metadata"]["generation"]
        reports = (obj.get("status") or {}).get("shards") or {}
        for i in range(obj["spec"].get("shards", 1)):
            r = reports.get(str(i)) or {}
            if r.get("observedGeneration") != generation or r.get("tradingState") != state:
                return False
            if acknowledged is not None and r.get("killSwitchAcknowledged") is not acknowledged:
                return False
        return True

    return probe


def operator_settled() -> bool:
    obj = shard()
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]


# ------------------------------------------------------------------------------ ownership
def owned_codes(metrics: str) -> set[str]:
    """Codes a runtime's /metrics says it owns (`shijim_code_owned{code=...} 1`)."""
    return {code for code, value in OWNED.findall(metrics) if float(value) == 1.0}


def double_owned(samples: list[dict[str, set[str]]]) -> list[tuple[int, str, list[str]]]:
    """(sample index, code, pods) for every code owned by more than one pod in one sample."""
    bad = []
    for n, sample in enumerate(samples):
        owners: dict[str, list[str]] = {}
        for pod, codes in sample.items():
            for code in codes:
                owners.setdefault(code, []).append(pod)
        bad += [(n, code, sorted(pods)) for code, pods in owners.items() if len(pods) > 1]
    return bad


@contextmanager
def api_proxy() -> Iterator[str]:
    """`kubectl proxy` on loopback: one HTTP request per pod scrape instead of one process."""
    proc = subprocess.Popen(
        ["kubectl", "proxy", f"--port={PROXY_PORT}", "--address=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{PROXY_PORT}"
    try:
        wait_for("kubectl proxy", lambda: http_get(f"{base}/version") is not None, 30)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def http_get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback proxy)
            return r.read().decode()
    except OSError:
        return None


class OwnershipSampler(threading.Thread):
    """Samples every running runtime pod's owned codes through the API server's pod proxy."""

    def __init__(self, base: str, port: int) -> None:
        super().__init__(daemon=True)
        self.base, self.port = base, port
        self.samples: list[dict[str, set[str]]] = []
        self._stop = threading.Event()

    def sample(self) -> dict[str, set[str]]:
        pods_url = f"{self.base}/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={POD_SELECTOR}"
        listing = http_get(pods_url)
        out: dict[str, set[str]] = {}
        for pod in json.loads(listing)["items"] if listing else []:
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            name = pod["metadata"]["name"]
            path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}:{self.port}/proxy/metrics"
            metrics = http_get(self.base + path)
            if metrics is not None:
                out[name] = owned_codes(metrics)
        return out

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self.join(30)


# ------------------------------------------------------------------------------ phases
def release_kill_switch() -> None:
    patch_spec({"killSwitch": False})
    wait_for("every shard ACTIVE at the new generation", shards_report("ACTIVE"))
    wait_for(
        "KillSwitchEngaged False",
        lambda: (
            operator_settled() and condition(shard(), "KillSwitchEngaged").get("status") == "False"
        ),
    )
    print("kill switch released: every shard ACTIVE", flush=True)


def settle(shards: int) -> None:
    """The transition to `shards` is over: the operator scaled the StatefulSet (it does so only
    once the old pods released, Rolling), the rollout finished, Resharding is back to Stable,
    and exactly shards 0..shards-1 report, trading, at the current generation."""
    wait_for(f"the StatefulSet spec at {shards} replicas", lambda: sts_field("spec") == shards, 300)
    wait_for(
        "Resharding False (Stable)",
        lambda: operator_settled() and condition(shard(), "Resharding").get("status") == "False",
        300,
    )
    kubectl("rollout", "status", f"statefulset/{NAME}", "--timeout=300s", timeout=320)
    wait_for(f"{shards} ready replicas", lambda: sts_field("ready") == shards)
    wait_for(
        f"status.shards to be exactly 0..{shards - 1}",
        lambda: (
            sorted((shard().get("status") or {}).get("shards") or {})
            == sorted(map(str, range(shards)))
        ),
        120,
    )
    wait_for(f"{shards} shards ACTIVE", shards_report("ACTIVE"))


def sts_field(which: str) -> int | None:
    """The StatefulSet's spec.replicas ("spec") or status.readyReplicas ("ready")."""
    sts = get("statefulset", NAME)
    if sts is None:
        return None
    if which == "spec":
        return sts["spec"].get("replicas")
    return (sts.get("status") or {}).get("readyReplicas")


def reshard() -> None:
    spec = shard()["spec"]
    universe = set(spec["universe"]["codes"])
    start = spec.get("shards", 1)
    port = (spec.get("metrics") or {}).get("port", 9100)
    with api_proxy() as base:
        sampler = OwnershipSampler(base, port)
        sampler.start()
        try:
            for total in (start + 1, start):
                t0 = time.monotonic()
                patch_spec({"shards": total})
                settle(total)
                print(f"resharded to {total} in {time.monotonic() - t0:.0f}s", flush=True)
            final = wait_for(
                "a sample in which every code has one owner",
                lambda: (
                    (s := sampler.sample())
                    and set().union(*s.values()) == universe
                    and not double_owned([s])
                    and s
                ),
                60,
            )
        finally:
            sampler.stop()
    samples = sampler.samples
    doubles = double_owned(samples)
    print(
        f"{len(samples)} samples of every running pod's owned codes; codes owned by two pods:"
        f" {len(doubles)}; final owners: {len(final)} pods, {len(universe)} codes",
        flush=True,
    )
    if doubles:
        raise CheckFailed(f"codes owned by two pods at once: {doubles[:10]}")
    if len(samples) < 20 or sum(1 for s in samples if len(s) > start) == 0:
        raise CheckFailed(f"too few samples to mean anything ({len(samples)}), or never 3 pods")


def invalid_spec() -> None:
    before = shard()["spec"]
    sts = get("statefulset", NAME)
    if sts is None:
        raise CheckFailed(f"no statefulset/{NAME} to compare against")
    sts_generation = sts["metadata"]["generation"]
    patch_spec({"shards": 5, "universe": {"codes": ["TXFL6", "TXFL6", "2330"]}})
    invalid = wait_for(
        "InvalidSpec True",
        lambda: (c := condition(shard(), "InvalidSpec")).get("status") == "True" and c,
    )
    for expected in (
        "spec.universe.codes[1]: duplicate code 'TXFL6'",
        "spec.shards: 5 shards but only 2 codes",
    ):
        if expected not in invalid.get("message", ""):
            raise CheckFailed(f"InvalidSpec message lacks {expected!r}: {invalid}")
    wait_for("phase Invalid", lambda: (shard().get("status") or {}).get("phase") == "Invalid")
    events = kubectl(
        "get", "events", "-o", "json",
        "--field-selector", f"involvedObject.name={NAME},type=Warning,reason=InvalidSpec",
    )  # fmt: skip
    if not json.loads(events.stdout)["items"]:
        raise CheckFailed("no InvalidSpec Warning event on the TradingShard")
    after = get("statefulset", NAME)
    if after is None or after["metadata"]["generation"] != sts_generation:
        raise CheckFailed("the StatefulSet changed under an invalid spec")
    patch_spec({"shards": before.get("shards", 1), "universe": before["universe"]})
    wait_for(
        "InvalidSpec False after the valid spec came back",
        lambda: operator_settled() and condition(shard(), "InvalidSpec").get("status") == "False",
    )
    print("invalid spec reported (fields named, Warning event), children untouched", flush=True)


def documented_check() -> str:
    """The kill-switch check of docs/kubernetes.md, as users copy it."""
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    marker = text.index("<!-- kill-switch-check:")
    block = re.search(r"```sh\n(.*?)```", text[marker:], re.DOTALL)
    if block is None:
        raise CheckFailed("docs/kubernetes.md lost its kill-switch check")
    return block.group(1)


def operator_pods() -> list[str]:
    done = kubectl(
        "get", "pods", "-l", "app.kubernetes.io/component=operator", "-o", "name"
    )  # fmt: skip
    return done.stdout.split()


def kill_switch_without_operator() -> None:
    kubectl("scale", f"deployment/{OPERATOR}", "--replicas=0")
    wait_for("the operator pod to be gone", lambda: not operator_pods(), 180)
    print("operator stopped", flush=True)
    try:
        patch_spec({"killSwitch": True})
        check = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", documented_check()],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "NAME": NAME},
        )
        print(check.stdout, check.stderr, flush=True)
        if check.returncode != 0 or "shards halted and acknowledged" not in check.stdout:
            raise CheckFailed(f"the documented kill-switch check failed (rc {check.returncode})")
        engaged = condition(shard(), "KillSwitchEngaged")
        if engaged.get("status") == "True":
            raise CheckFailed(f"KillSwitchEngaged True with no operator running: {engaged}")
    finally:
        kubectl("scale", f"deployment/{OPERATOR}", "--replicas=1")
        kubectl("rollout", "status", f"deployment/{OPERATOR}", "--timeout=180s", timeout=200)
    wait_for(
        "KillSwitchEngaged True once the operator is back",
        lambda: (
            operator_settled() and condition(shard(), "KillSwitchEngaged").get("status") == "True"
        ),
    )
    print("kill switch held with the operator stopped; the condition followed", flush=True)
    release_kill_switch()


def delete() -> None:
    obj = shard()
    if "shijim.io/kill-switch" not in (obj["metadata"].get("finalizers") or []):
        raise CheckFailed(f"no kill-switch finalizer: {obj['metadata'].get('finalizers')}")
    if not shards_report("ACTIVE")():
        raise CheckFailed("delete must start from trading shards (run release-kill-switch)")
    t0 = time.monotonic()
    kubectl("delete", "tradingshard", NAME, "--timeout=180s", timeout=200)
    print(f"deleted in {time.monotonic() - t0:.0f}s", flush=True)
    logs = kubectl("logs", f"deployment/{OPERATOR}", "--tail=2000").stdout
    if "all live shards halted" not in logs:
        raise CheckFailed("the operator did not report every live shard halted before deletion")
    events = kubectl(
        "get", "events", "-o", "json", "--field-selector", "reason=DrainTimeout"
    )  # fmt: skip
    if json.loads(events.stdout)["items"]:
        raise CheckFailed("DrainTimeout: a shard did not acknowledge within the bound")
    children = [("statefulset", NAME), ("service", NAME), ("poddisruptionbudget", NAME),
                ("configmap", f"{NAME}-config"), ("serviceaccount", f"{NAME}-runtime"),
                ("role", f"{NAME}-runtime"), ("rolebinding", f"{NAME}-runtime")]  # fmt: skip
    for kind, name in children:
        wait_for(f"{kind}/{name} garbage-collected", lambda k=kind, n=name: get(k, n) is None)
    wait_for(
        "the runtime pods to be gone",
        lambda: not kubectl("get", "pods", "-l", POD_SELECTOR, "-o", "name").stdout.strip(),
        180,
    )
    print("deletion halted every shard before the children went", flush=True)


PHASES: dict[str, Callable[[], None]] = {
    "release-kill-switch": release_kill_switch,
    "reshard": reshard,
    "invalid-spec": invalid_spec,
    "kill-switch-without-operator": kill_switch_without_operator,
    "delete": delete,
}


def main(argv: list[str]) -> int:
    unknown = [p for p in argv if p not in PHASES]
    if not argv or unknown:
        print(f"usage: kind_e2e.py PHASE...; phases: {', '.join(PHASES)}", file=sys.stderr)
        return 2
    for phase in argv:
        print(f"== {phase}", flush=True)
        try:
            PHASES[phase]()
        except CheckFailed as failure:
            print(f"FAILED {phase}: {failure}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
