"""A Kubernetes API emulator for tests: kmock's KubernetesEmulator plus the API-server semantics
the operator, the runtime watcher and kubectl rely on (/work/shared/notes/kubernetes-testing.md).

kmock 0.8 stores objects as plain JSON and serves list/watch/create/patch/delete over HTTP. This
subclass owns the object store and adds what a real API server does and kmock doesn't:
uid/resourceVersion/generation/creationTimestamp, the status subresource (status patches change
only status; main-resource patches never change status), no-op patches that change nothing,
finalizers and deletionTimestamp, owner-reference garbage collection, field and label selectors,
watches from a resourceVersion, WatchList bookmarks (kubectl wait/delete), List kinds, a fixed
core discovery, a small OpenAPI v3 stub for kubectl apply, and JSON content type on watches.

`EmulatorThread` runs it on its own event loop in a background thread, so test code can block
(subprocess.run kubectl) without ever blocking the emulator's loop.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import os
import pathlib
import re
import secrets
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import jsonpatch
import kmock
import yaml
from kmock._internal import dicts, enums, k8s, references, rendering

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "tradingshard.yaml"
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
EXAMPLE = ROOT / "examples" / "shard.yaml"

Key = tuple[references.resource, str | None, str]


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label_match(labels: Mapping[str, str], selector: str) -> bool:
    """Equality-based label selectors (a=b, a==b, a!=b, a, !a), comma-separated."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k_, v = term.split("!=", 1)
            if labels.get(k_) == v:
                return False
        elif "=" in term:
            k_, v = term.replace("==", "=").split("=", 1)
            if labels.get(k_) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_match(obj: Mapping[str, Any], selector: str) -> bool:
    meta = obj.get("metadata", {})
    for term in filter(None, (t.strip() for t in selector.split(","))):
        neg = "!=" in term
        k_, v = term.replace("!=", "=").replace("==", "=").split("=", 1)
        actual = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        if k_ not in actual:
            continue
        if (actual[k_] == v) == neg:
            return False
    return True


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


class ShijimEmulator(k8s.KubernetesEmulator):
    """kmock's emulator with the API-server semantics listed in the module docstring."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store: dict[Key, dict[str, Any]] = {}
        self.rv = itertools.count(1000)
        self.last_rv = 1000
        self.writes: list[tuple[str, str, str | None, str]] = []  # (verb, plural, ns, name)
        # Called on the emulator's loop with (plural, object) after every write: keep it quick.
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.fail_status_patches = 0  # fault injection: answer the next N status patches with 503
        self.fallback["get /openapi/v3"] << self._serve_openapi_root
        self.fallback["get", re.compile(r"/openapi/v3/.+")] << (self._serve_openapi_gv)
        with warnings.catch_warnings():  # kmock 0.8 uses importlib.resources.read_binary
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        crd = yaml.safe_load(CRD_PATH.read_text())
        names = crd["spec"]["names"]
        version = crd["spec"]["versions"][0]
        self.printer_columns = {names["plural"]: version.get("additionalPrinterColumns", [])}
        self.resources[f"{crd['spec']['group']}/{version['name']}/{names['plural']}"] = (
            kmock.ResourceInfo(
                kind=names["kind"],
                singular=names["singular"],
                namespaced=True,
                shortnames=set(names.get("shortNames", [])),
                categories=set(names.get("categories", [])),
                subresources=set(version.get("subresources", {})),
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            )
        )

    # ---------------------------------------------------------------- discovery fixes
    async def _serve_version(self, request: rendering.Request) -> Any:
        payload = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")  # gap 4: core is "v1"
        for res in payload["resources"]:
            if "/" in res["name"]:  # gap 9: subresources have no short names or categories
                res["shortNames"] = []
                res["categories"] = []
        return payload

    async def _serve_server_version(self, request: rendering.Request) -> Any:
        payload = await super()._serve_server_version(request)
        return {**payload, "minor": "37", "gitVersion": "v1.37.0-shijim-emulator"}

    async def _serve_openapi_root(self, request: rendering.Request) -> Any:
        gvs = {(r.group, r.version) for r in self._get_resources()}
        paths = {}
        for group, version in sorted(gvs):
            path = f"api/{version}" if not group else f"apis/{group}/{version}"
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}"}
        return {"paths": paths}

    async def _serve_openapi_gv(self, request: rendering.Request) -> Any:
        # gap 5: kubectl apply reads OpenAPI v3 to learn whether the server takes the
        # fieldValidation parameter; a PATCH path per kind says so. No schemas: objects are
        # treated as unstructured (the real server validates against the CRD schema).
        parts = request.url.path.split("/")[3:]  # after /openapi/v3/
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        paths = {}
        for res in self._get_resources():
            if res.group != group or res.version != version:
                continue
            info = self.resources[res] if res in self.resources else kmock.ResourceInfo()
            prefix = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            paths[f"{prefix}/namespaces/{{namespace}}/{res.plural}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": group,
                        "version": version,
                        "kind": info.kind,
                    },
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                    ],
                }
            }
        return {"openapi": "3.0.0", "info": {"title": "emulator", "version": "v1"}, "paths": paths}

    # ---------------------------------------------------------------- store helpers
    def _info(self, resource: references.resource) -> kmock.ResourceInfo | None:
        for res in self.resources:
            if res == resource:
                return self.resources[res]
        return None

    def _gv(self, resource: references.resource) -> str:
        return resource.version if not resource.group else f"{resource.group}/{resource.version}"

    def _bump(self, obj: dict[str, Any]) -> None:
        self.last_rv = next(self.rv)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.last_rv)

    async def _emit(self, resource: references.resource, kind: str, obj: dict[str, Any]) -> None:
        await self._buses[resource].put({"type": kind, "object": copy.deepcopy(obj)})

    async def _remove(self, key: Key) -> None:
        """Physically delete, then garbage-collect dependents (background cascade)."""
        obj = self.store.pop(key)
        self._bump(obj)
        await self._emit(key[0], "DELETED", obj)
        uid = obj["metadata"].get("uid")
        for other_key, other in list(self.store.items()):
            owners = other.get("metadata", {}).get("ownerReferences", [])
            if any(o.get("uid") == uid for o in owners):
                await self._delete(other_key)

    async def _delete(self, key: Key) -> dict[str, Any]:
        obj = self.store[key]
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = _now()
                self._bump(obj)
                await self._emit(key[0], "MODIFIED", obj)
            return copy.deepcopy(obj)
        snapshot = copy.deepcopy(obj)
        await self._remove(key)
        return snapshot

    # ---------------------------------------------------------------- mutations
    async def _handle(self, request: rendering.Request) -> Any:
        if request.resource is not None and request.action in (
            enums.action.CREATE,
            enums.action.UPDATE,
            enums.action.DELETE,
        ):
            async with self._lock:
                result = await self._mutate(request)
            self.writes.append(
                (
                    str(request.action.value),
                    request.resource.plural or "",
                    request.namespace,
                    request.name or result.get("metadata", {}).get("name", ""),
                )
            )
            for observe in self.observers:
                observe(request.resource.plural or "", result)
            return await rendering.Response(payload=result)(request)
        return await super(k8s.KubernetesEmulator, self)._handle(request)

    async def _mutate(self, request: rendering.Request) -> dict[str, Any]:
        resource = request.resource
        assert resource is not None
        info = self._info(resource)
        if info is None:
            raise k8s.KubernetesResourceNotFoundError()
        status_sub = "status" in (info.subresources or set())
        if request.action == enums.action.CREATE:
            obj = copy.deepcopy(request.data or {})
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)
            ns = request.namespace or meta.get("namespace")
            key = (resource, ns, meta.get("name", ""))
            if key in self.store:
                raise k8s.KubernetesError(409, "AlreadyExists", f"{key[2]} already exists")
            if ns is not None:
                meta["namespace"] = ns
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            obj.setdefault("apiVersion", self._gv(resource))
            obj.setdefault("kind", info.kind)
            if status_sub:
                obj.pop("status", None)  # the status subresource: creation carries no status
            self._bump(obj)
            self.store[key] = obj
            await self._emit(resource, "ADDED", obj)
            return copy.deepcopy(obj)

        key = (resource, request.namespace, request.name or "")
        if key not in self.store:
            raise k8s.KubernetesObjectNotFoundError()
        if request.subresource == "status" and self.fail_status_patches > 0:
            self.fail_status_patches -= 1
            raise k8s.KubernetesError(503, "ServiceUnavailable", "injected fault")
        if request.action == enums.action.DELETE:
            return await self._delete(key)

        old = self.store[key]
        data = request.data
        if isinstance(data, Mapping):
            want_rv = data.get("metadata", {}).get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise k8s.KubernetesError(409, "Conflict", "the object has been modified")
            new = dict(dicts.merge_patch_dict(copy.deepcopy(old), data))
        elif isinstance(data, list):
            try:
                new = dict(dicts.json_patch_dict(copy.deepcopy(old), data))
            except jsonpatch.JsonPatchException as exc:  # e.g. a failed "test" of resourceVersion
                raise k8s.KubernetesError(422, "Invalid", str(exc)) from None
        else:
            raise k8s.KubernetesError(415, "UnsupportedMediaType", "patch body must be JSON")
        if request.subresource == "status":
            new = {**copy.deepcopy(old), "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
        elif status_sub:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        for immutable in ("uid", "creationTimestamp", "generation", "name", "namespace"):
            if immutable in old["metadata"]:
                new["metadata"][immutable] = old["metadata"][immutable]
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return copy.deepcopy(old)  # a no-op patch changes nothing, not even resourceVersion
        body = {k: v for k, v in new.items() if k not in ("metadata", "status")}
        old_body = {k: v for k, v in old.items() if k not in ("metadata", "status")}
        if body != old_body:
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self._bump(new)
        self.store[key] = new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            snapshot = copy.deepcopy(new)
            await self._remove(key)
            return snapshot
        await self._emit(resource, "MODIFIED", new)
        return copy.deepcopy(new)

    # ---------------------------------------------------------------- kubectl tables
    def _wants_table(self, request: rendering.Request) -> bool:
        plural = request.resource.plural if request.resource is not None else None
        return plural in self.printer_columns and "as=Table" in request.headers.get("Accept", "")

    def _table(self, plural: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """What the API server renders for `kubectl get`: the CRD's printer columns."""
        columns = self.printer_columns[plural]
        defs = [{"name": "Name", "type": "string", "format": "name", "priority": 0}]
        defs += [
            {"name": c["name"], "type": c["type"], "format": "", "priority": c.get("priority", 0)}
            for c in columns
        ]
        rows = []
        now = datetime.datetime.now(tz=datetime.UTC)
        for obj in items:
            cells: list[Any] = [obj["metadata"]["name"]]
            for c in columns:
                value: Any = obj
                for part in c["jsonPath"].strip(".").split("."):
                    value = value.get(part) if isinstance(value, Mapping) else None
                if c["type"] == "date" and isinstance(value, str):
                    then = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                    value = f"{int((now - then).total_seconds())}s"
                cells.append(value)
            meta = {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")}
            rows.append(
                {
                    "cells": cells,
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": meta,
                    },
                }
            )
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": str(self.last_rv)},
            "columnDefinitions": defs,
            "rows": rows,
        }

    # ---------------------------------------------------------------- reads
    def _matches(self, request: rendering.Request, key: Key, obj: Mapping[str, Any]) -> bool:
        if key[0] != request.resource:
            return False
        if request.namespace is not None and key[1] != request.namespace:
            return False
        if request.name is not None and key[2] != request.name:
            return False
        labels = obj.get("metadata", {}).get("labels") or {}
        if not _label_match(labels, request.params.get("labelSelector", "")):
            return False
        return _field_match(obj, request.params.get("fieldSelector", ""))

    async def _serve_fetch(self, request: rendering.Request) -> Any:
        async with self._lock:
            obj = self.store.get((request.resource, request.namespace, request.name or ""))
            if obj is None:
                raise k8s.KubernetesObjectNotFoundError()
            if self._wants_table(request):
                return self._table(request.resource.plural, [obj])  # type: ignore[union-attr]
            return copy.deepcopy(obj)

    async def _serve_list(self, request: rendering.Request) -> Any:
        assert request.resource is not None
        info = self._info(request.resource)
        if info is None:
            raise k8s.KubernetesResourceNotFoundError()
        async with self._lock:
            items = [
                copy.deepcopy(o) for k_, o in self.store.items() if self._matches(request, k_, o)
            ]
            if self._wants_table(request):
                return self._table(request.resource.plural or "", items)
            return {
                "apiVersion": self._gv(request.resource),
                "kind": f"{info.kind}List",  # gap 3
                "metadata": {"resourceVersion": str(self.last_rv)},
                "items": items,
            }

    async def _serve_watch(self, request: rendering.Request) -> Any:
        return rendering.Response(
            headers={"Content-Type": "application/json"},  # gap 7
            payload=self._watch_stream(request),
        )

    async def _watch_stream(self, request: rendering.Request) -> AsyncIterator[Any]:
        assert request.resource is not None
        yield b""  # send the headers now, even if nothing happens for a while
        params = request.params
        since = params.get("resourceVersion", "")
        initial_end = params.get("sendInitialEvents") == "true"
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            events = []
            for k_, o in self.store.items():
                if not self._matches(request, k_, o):
                    continue
                if since in ("", "0") or initial_end:
                    events.append({"type": "ADDED", "object": copy.deepcopy(o)})
                elif int(o["metadata"]["resourceVersion"]) > int(since):
                    events.append({"type": "MODIFIED", "object": copy.deepcopy(o)})
            rv = str(self.last_rv)
        try:
            for event in events:
                yield event
            if initial_end:  # gap 8: client-go WatchList waits for this bookmark
                yield {
                    "type": "BOOKMARK",
                    "object": {
                        "apiVersion": self._gv(request.resource),
                        "kind": (self._info(request.resource) or kmock.ResourceInfo()).kind,
                        "metadata": {
                            "resourceVersion": rv,
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            async with asyncio.timeout(timeout):
                async for event in bus.stream(since=mark):
                    obj = event["object"]
                    meta = obj.get("metadata", {})
                    key = (request.resource, meta.get("namespace"), meta.get("name", ""))
                    if self._matches(request, key, obj):
                        yield event
        except TimeoutError:
            return
        finally:
            await bus.unmark(mark)

    # ---------------------------------------------------------------- test access
    async def get_object(self, plural: str, namespace: str | None, name: str) -> dict | None:
        async with self._lock:
            for (res, ns, nm), obj in self.store.items():
                if res.plural == plural and ns == namespace and nm == name:
                    return copy.deepcopy(obj)
        return None

    async def list_objects(self, plural: str) -> list[dict]:
        async with self._lock:
            return [
                copy.deepcopy(o) for (res, _, _), o in self.store.items() if res.plural == plural
            ]


class EmulatorThread:
    """The emulator and its HTTP server on a private event loop in a daemon thread."""

    def __init__(self, workdir: pathlib.Path, port: int = 0) -> None:
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self.emulator: ShijimEmulator | None = None
        self.port = port
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._main: asyncio.Task[Any] | None = None
        self._server: kmock.Server | None = None
        # When the API stopped answering (monotonic); set by stop(), for timing assertions.
        self.unreachable_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-emulator", daemon=True)
        self.kubeconfig = workdir / "kubeconfig"
        self.cachedir = workdir / "kubecache"

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("emulator did not start")
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}
                    ],
                    "users": [{"name": "emu", "user": {"token": "emulator-token"}}],
                    "contexts": [
                        {
                            "name": "emu",
                            "context": {"cluster": "emu", "user": "emu", "namespace": "default"},
                        }
                    ],
                    "current-context": "emu",
                }
            )
        )
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._main = asyncio.current_task()
        emulator = ShijimEmulator()
        server_ = kmock.Server(emulator, host="127.0.0.1", port=self.port or None)
        async with emulator, server_ as server:
            self.emulator = emulator
            self._server = server
            self.port = server.port
            self._ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        """Stop at once, like an API server that goes away: open watches are cut.

        The listening socket is closed and every connection aborted before the orderly
        cleanup, so `unreachable_at` is the moment clients lose the API, however long
        aiohttp's graceful shutdown then takes.
        """
        if self._stop is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._cut_off(), self.loop).result(5)
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        self._thread.join(10)

    async def _cut_off(self) -> None:
        assert self._server is not None
        runner = self._server.server.runner
        if runner is not None:
            for site in runner.sites:
                await site.stop()
            if runner.server is not None:
                for handler in runner.server.connections:
                    if handler.transport is not None:
                        handler.transport.abort()
        self.unreachable_at = time.monotonic()

    async def _shutdown(self) -> None:
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task() and task is not self._main:
                task.cancel()
        assert self._stop is not None
        self._stop.set()

    def call(self, coro: Any, timeout: float = 5.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def get(self, plural: str, name: str, namespace: str | None = "default") -> dict | None:
        assert self.emulator is not None
        return self.call(self.emulator.get_object(plural, namespace, name))

    def list(self, plural: str) -> list[dict]:
        assert self.emulator is not None
        return self.call(self.emulator.list_objects(plural))

    @property
    def writes(self) -> list[tuple[str, str, str | None, str]]:
        assert self.emulator is not None
        return list(self.emulator.writes)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self.cachedir),  # gap 10: fresh discovery cache per test
            HOME=str(self.workdir),
        )
        return env

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        proc = subprocess.run(
            [str(KUBECTL), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}{proc.stdout}")
        return proc.stdout

    def merge_patch(
        self, name: str, patch: str | dict[str, Any], kind: str = "tradingshard"
    ) -> str:
        """`kubectl patch KIND NAME --type merge -p PATCH`, as users flip the kill switch."""
        body = patch if isinstance(patch, str) else json.dumps(patch)
        return self.kubectl("patch", kind, name, "--type", "merge", "-p", body)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))
