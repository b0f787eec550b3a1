"""Where a shard's recording lives: the pod's data volume, its claim, and the recorder's dirs
inside it (pure).

One volume per pod at /var/lib/shijim holds all three things the recorder writes: the raw JSONL
log (`rawDir`), the blocks ClickHouse has not taken yet (`fallbackDir`), and the embedded
ClickHouse's tables when no server is configured (the runtime puts them at
`<parent of rawDir>/chdb`, shijim.recorder.settings.chdb_dir). So both dirs must be inside it, and
apart from each other and from those tables.

A StatefulSet's `volumeClaimTemplates` cannot change after it is created (the API server refuses
the patch). `claim_verdict` decides, from the spec and the StatefulSet as it is, which claim to
render: the existing one whenever the spec allows it (disabling the recorder, or leaving the size
unset, never needs a new StatefulSet), and a problem naming the field when the spec asks for a
claim the StatefulSet cannot get (docs/kubernetes.md#recorder-storage says how to recreate it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DATA_DIR = "/var/lib/shijim"
CLAIM_NAME = "data"  # PVCs are named data-<tradingshard>-<ordinal>
# A claim per pod when the spec gives no size. The raw log of a busy shard (a TAIFEX front month
# and a few stocks, ~2-5 M book and trade messages a trading day at ~250-300 B a JSONL line) is
# ~1-1.5 GB a day, the embedded ClickHouse tables ~10 % of that: about two to three weeks of
# trading days. There is no automatic retention: docs/kubernetes.md#recorder-storage.
DEFAULT_STORAGE_SIZE = "20Gi"
FSYNC_POLICIES = ("every_batch", "interval", "off")  # shijim.recorder.settings.FsyncPolicy
MAX_FSYNC_INTERVAL_MS = 60_000
# The embedded ClickHouse's directory relative to the raw dir's parent (the runtime's rule).
CHDB_DIR_NAME = "chdb"

# Kubernetes quantities as a PVC takes them: decimal (k, M, G, T, P, E) or binary (Ki .. Ei)
# suffixes. The CRD's pattern is the same expression.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
_SUFFIX = {
    "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def quantity_bytes(text: str) -> int | None:
    """Bytes of a storage quantity ("20Gi", "500M", "1.5Ti"); None if it is not one."""
    m = re.match(QUANTITY_PATTERN, text)
    if m is None:
        return None
    whole, _, frac = m[1].partition(".")
    scale = _SUFFIX[m[3] or ""]
    # Exact integer arithmetic: "1.5Gi" is 1610612736, no float rounding.
    return (int(whole) * 10 ** len(frac) + int(frac or 0)) * scale // 10 ** len(frac)


def chdb_dir(raw_dir: str) -> str:
    """Where the runtime keeps the embedded ClickHouse's tables for this raw dir."""
    return posixpath.join(posixpath.dirname(raw_dir), CHDB_DIR_NAME)


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def dir_problems(raw_dir: str, fallback_dir: str) -> list[tuple[str, str]]:
    """(field under spec, message) for recorder dirs the pod could not use: outside the data
    volume (the root filesystem is read-only), not a plain absolute path, or overlapping."""
    out: list[tuple[str, str]] = []
    fields = (("recorder.rawDir", raw_dir), ("recorder.fallbackDir", fallback_dir))
    for field, path in fields:
        if posixpath.normpath(path) != path or not path.startswith("/"):
            out.append((field, f"expected a plain absolute path (no ., .. or //), got {path!r}"))
        elif not path.startswith(DATA_DIR + "/"):
            out.append((field, f"must be inside the pod's data volume {DATA_DIR}/, got {path!r}"))
    if out:
        return out
    tables = chdb_dir(raw_dir)
    if _inside(raw_dir, fallback_dir) or _inside(fallback_dir, raw_dir):
        out.append(("recorder.fallbackDir", f"must be apart from rawDir {raw_dir!r}"))
    for field, path in fields:
        if _inside(path, tables) or _inside(tables, path):
            out.append(
                (
                    field,
                    f"{path!r} overlaps the embedded ClickHouse's tables at {tables!r} "
                    "(<parent of rawDir>/chdb)",
                )
            )
    return out


@dataclass(frozen=True)
class Claim:
    """The data volume's claim per pod (one volumeClaimTemplate)."""

    size: str
    storage_class: str | None = None

    def template(self, labels: Mapping[str, str]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": self.size}},
        }
        if self.storage_class:
            spec["storageClassName"] = self.storage_class
        # The labels go onto every PVC, so a shard's recordings are found (and cleaned up) by
        # label after the StatefulSet is gone.
        return {"metadata": {"name": CLAIM_NAME, "labels": dict(labels)}, "spec": spec}

    def describe(self) -> str:
        return f"{self.size}, class {self.storage_class or '(cluster default)'}"


def desired_claim(
    recorder_enabled: bool, storage_size: str | None, storage_class: str | None
) -> Claim | None:
    """A claim when the recorder writes (the default size unless given), or when a size is asked
    for; otherwise the data dir is an emptyDir (nothing there outlives the pod)."""
    if storage_size:
        return Claim(storage_size, storage_class)
    if recorder_enabled:
        return Claim(DEFAULT_STORAGE_SIZE, storage_class)
    return None


def existing_claim(statefulset: Mapping[str, Any]) -> Claim | None:
    """The data claim of a StatefulSet as the API server returns it (server defaults ignored)."""
    templates = (statefulset.get("spec") or {}).get("volumeClaimTemplates") or []
    for tpl in templates:
        if not isinstance(tpl, Mapping) or (tpl.get("metadata") or {}).get("name") != CLAIM_NAME:
            continue
        spec = tpl.get("spec") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        return Claim(str(size), spec.get("storageClassName") or None)
    return None


RECREATE = "delete it with --cascade=orphan (the pods keep running) and the operator recreates it"


def claim_verdict(
    desired: Claim | None,
    size_set: bool,
    class_set: bool,
    statefulset: Mapping[str, Any] | None,
) -> tuple[Claim | None, list[tuple[str, str]]]:
    """The claim to render and the problems (field under spec, message).

    `statefulset`: the one that exists (None: not created yet, the spec decides alone). An
    existing claim is kept when the spec leaves its size or class unset or disables the recorder;
    a size or class that differs, or a claim the StatefulSet lacks, cannot be applied in place.
    """
    if statefulset is None:
        return desired, []
    name = (statefulset.get("metadata") or {}).get("name", "")
    current = existing_claim(statefulset)
    if current is None:
        if desired is None:
            return None, []
        field = "recorder.storageSize" if size_set else "recorder.enabled"
        return None, [
            (
                field,
                f"needs a volume claim per pod ({desired.describe()}), and StatefulSet {name!r} "
                "was created without one (its data dir is an emptyDir; Kubernetes cannot add a "
                f"claim to it): {RECREATE} (docs/kubernetes.md#recorder-storage)",
            )
        ]
    problems: list[tuple[str, str]] = []
    if size_set and desired is not None:
        if quantity_bytes(desired.size) != quantity_bytes(current.size):
            problems.append(
                (
                    "recorder.storageSize",
                    f"the pods' claims are {current.size} and Kubernetes cannot change a "
                    f"StatefulSet's volumeClaimTemplates: revert to {current.size}, or resize "
                    f"each PVC and {RECREATE} (docs/kubernetes.md#recorder-storage)",
                )
            )
    if class_set and desired is not None and desired.storage_class != current.storage_class:
        problems.append(
            (
                "recorder.storageClassName",
                f"the pods' claims use class {current.storage_class or '(cluster default)'} "
                "and Kubernetes cannot change a StatefulSet's volumeClaimTemplates: revert, or "
                f"{RECREATE} (docs/kubernetes.md#recorder-storage)",
            )
        )
    return current, problems
