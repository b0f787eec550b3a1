"""``python -m shijim run ... --record``: the recorder in a process of its own beside the
trading process, supervised by it, its metrics exported by it.

Why a process and not a thread (docs/recorder.md, measured by bench/recorder.py): the embedded
ClickHouse (chdb) holds the GIL for the whole of an insert (tens of ms), which a thread of the
trading process would impose on the trading thread; the ring lets a reader in any process read
at memory speed, and the writer never waits for it either way.

The child is ``python -m shijim record --ring NAME --report`` with the recorder section written
to a file beside its raw directory. It prints one JSON line when it is attached to the ring (the
runtime waits for it before the feed starts, so it sees the first message) and then its metric
values twice a second; a thread here (never the trading thread) applies them to the runtime's
``ShardMetrics``: one scrape target per pod, as the chart's alerts expect. A child that dies is
started again (it resumes from its files: nothing the ring still holds is lost, the rest is a gap
record) and counted (``shijim_recorder_errors_total{cause="restart"}``). ``stop`` asks it to
record what the ring holds and finish (SIGTERM), and waits for it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from shijim.metrics import RecorderErrorCause, RecorderSink, ShardMetrics
from shijim.recorder.recording import READER, RecorderError
from shijim.recorder.settings import RecorderConfig
from shijim.recorder.wal import STATE_DIR

log = logging.getLogger(__name__)

ATTACH_S = 60.0  # the child's start (imports, attach) before the runtime gives up
STOP_S = 30.0  # SIGTERM -> exit: the ring's rest recorded, the last block sent
RESTART_S = (1.0, 30.0)  # backoff between restarts of a child that died


def snapshot(metrics: ShardMetrics) -> dict[str, Any]:
    """The recorder's series of a registry, as one JSON-able report."""
    r = metrics.registry
    sh = {"shard": metrics.shard}

    def value(name: str, **labels: str) -> float:
        got = r.get_sample_value(name, {**sh, **labels})
        return 0.0 if got is None else float(got)

    return {
        "rows": {s.value: value("shijim_recorder_rows_total", sink=s.value) for s in RecorderSink},
        "errors": {
            c.value: value("shijim_recorder_errors_total", cause=c.value)
            for c in RecorderErrorCause
        },
        "gap": value("shijim_recorder_gap_messages_total"),
        "fallback": value("shijim_recorder_fallback_active"),
        "backlog": value("shijim_recorder_backlog_rows"),
        "lag": value("shijim_recorder_lag_seconds"),
        "ring_lag": value("shijim_ring_lag_messages", reader=READER),
        "ring_lost": value("shijim_ring_lost_messages_total", reader=READER),
    }


class Relay:
    """Applies a child's reports to the runtime's metrics (counters by their increase)."""

    def __init__(self, metrics: ShardMetrics, sink_only: bool = False) -> None:
        self.metrics = metrics
        self.seen: dict[str, Any] | None = None
        # sink_only: the reports of a sink process (its ClickHouse series only; the capture
        # process that applies them owns the rest).
        self.sink_only = sink_only
        if not sink_only:
            metrics.declare_reader(READER)

    def restart(self) -> None:
        """A new child counts from 0 again."""
        self.seen = None

    def apply(self, report: Mapping[str, Any]) -> None:
        m = self.metrics
        seen = self.seen or {
            "rows": {}, "errors": {}, "gap": 0.0, "ring_lost": 0.0,
        }  # fmt: skip
        for sink, total in report["rows"].items():
            if self.sink_only and sink == RecorderSink.JSONL.value:
                continue
            if (delta := int(total - seen["rows"].get(sink, 0.0))) > 0:
                m.recorder_rows(sink, delta)
        for cause, total in report["errors"].items():
            if (delta := int(total - seen["errors"].get(cause, 0.0))) > 0:
                m.recorder_error(cause, delta)
        if not self.sink_only:
            if (delta := int(report["gap"] - seen["gap"])) > 0:
                m.recorder_gap(delta)
            lost = int(report["ring_lost"] - seen["ring_lost"])
            m.ring_reader(READER, int(report["ring_lag"]), max(lost, 0))
        m.recorder_fallback(bool(report["fallback"]))
        m.recorder_backlog(int(report["backlog"]), float(report["lag"]))
        self.seen = dict(report)


class RecorderProcess:
    """The recorder child of a runtime: started attached, supervised, stopped."""

    def __init__(
        self,
        cfg: RecorderConfig,
        ring: str,
        metrics: ShardMetrics,
        env: Mapping[str, str],
        avoid_cpu: int | None = None,
    ) -> None:
        self.cfg = cfg
        # The trading thread's CPU (--cpu): the recorder and its sink never run there, as on a
        # trading host that isolates that core (measured: bench/recorder.py).
        self.avoid_cpu = avoid_cpu
        self.ring = ring
        self.metrics = metrics
        self.env = dict(env)
        self.relay = Relay(metrics)
        self.proc: subprocess.Popen[str] | None = None
        self.stopping = threading.Event()
        self.restarts = 0
        self._watch: threading.Thread | None = None
        state = Path(cfg.raw_dir) / STATE_DIR
        state.mkdir(parents=True, exist_ok=True)
        self.config_file = state / "recorder-config.yaml"

    def start(self) -> None:
        """Start the child and wait until it is attached to the ring (RecorderError if it
        cannot: its message, e.g. a bad directory or DSN, names the setting)."""
        self.config_file.write_text(yaml.safe_dump({"recorder": dataclasses.asdict(self.cfg)}))
        self.proc = self._spawn()
        first = self._read_line(self.proc.stdout, ATTACH_S)
        if first is None or not first.get("attached"):
            code = self.proc.poll()
            if code is None:
                self.proc.kill()
                self.proc.wait()
            raise RecorderError(
                "recorder", f"the recorder process did not attach to ring {self.ring} "
                f"(exit status {self.proc.returncode}; its error is logged above)",
            )  # fmt: skip
        self._watch = threading.Thread(target=self._supervise, name="shijim-recorder-relay",
                                       daemon=True)  # fmt: skip
        self._watch.start()
        log.info("recorder process %d attached to ring %s", self.proc.pid, self.ring)

    def _spawn(self) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "shijim", "record", "--ring", self.ring, "--wait", "10",
                "--config", str(self.config_file), "--report", "--shard-id", self.metrics.shard,
                "--log-level", logging.getLevelName(logging.getLogger().level)]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C of the terminal reaches the runtime, which stops it
        )
        others = os.sched_getaffinity(0) - {self.avoid_cpu}
        if self.avoid_cpu is not None and others:
            # Before the child starts any thread or its sink process: they inherit it.
            os.sched_setaffinity(proc.pid, others)
        return proc

    @staticmethod
    def _read_line(stream: IO[str] | None, timeout: float) -> dict[str, Any] | None:
        """The next JSON report of the child, or None (it ended, or nothing within timeout)."""
        assert stream is not None
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box or not box[0]:
            return None
        try:
            return json.loads(box[0])  # type: ignore[no-any-return]
        except ValueError:
            return {}

    def _supervise(self) -> None:
        backoff = RESTART_S[0]
        while True:
            proc = self.proc
            assert proc is not None and proc.stdout is not None
            for line in proc.stdout:
                try:
                    report = json.loads(line)
                except ValueError:
                    continue
                if "rows" in report:
                    self.relay.apply(report)
            code = proc.wait()
            if self.stopping.is_set():
                return
            self.restarts += 1
            self.metrics.recorder_error(RecorderErrorCause.RESTART.value)
            log.error("recorder process exited (status %s); starting it again in %.0f s",
                      code, backoff)  # fmt: skip
            if self.stopping.wait(backoff):
                return
            backoff = min(backoff * 2, RESTART_S[1])
            self.relay.restart()
            self.proc = self._spawn()
            if self._read_line(self.proc.stdout, ATTACH_S) is None:
                continue  # it died again: the loop sees its exit

    def stop(self) -> None:
        """Record what the ring still holds and stop (SIGTERM; SIGKILL after STOP_S: the files
        keep everything recorded, the next start resumes)."""
        self.stopping.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            log.error("recorder process %d still busy after %.0f s; killed", proc.pid, STOP_S)
            proc.kill()
            proc.wait()
        if self._watch is not None:
            self._watch.join(5.0)


def start_beside(
    cfg: RecorderConfig,
    ring: str,
    metrics: ShardMetrics,
    env: Mapping[str, str],
    avoid_cpu: int | None = None,
) -> RecorderProcess:
    """The recorder of ``run --record``: a child process attached to ``ring`` (before the feed
    starts), off the trading thread's CPU, its metrics on the runtime's; ``stop()`` it before
    the ring goes."""
    child = RecorderProcess(cfg, ring, metrics, env, avoid_cpu)
    child.start()
    return child
