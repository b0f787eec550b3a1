"""What the broker SDK writes, filtered: no fragment of a key leaves the process.

shioaji 1.7.9 writes from native code straight to file descriptor 2: the Solace C library's
notice lines name the client ``'PYAPI/<first 10 characters of the API key>/...'`` and the Rust
extension's panic hook prints one message per malformed quote object. Its own log (a file,
``./shioaji.log`` unless ``SJ_LOG_PATH`` says otherwise, opened when ``shioaji`` is imported) is
written by the same native code. Replacing ``sys.stderr`` reaches none of it, so
``BrokerOutputFilter`` works at the descriptor: fd 2 becomes a pipe, a daemon thread reads it line
by line, redacts every fragment of a secret (``SecretRedactor``), rate-limits Rust panic messages
(``BrokerOutputLines``) and forwards the rest to the real stderr. The SDK's log is pointed at the
same pipe (``SJ_LOG_PATH=/dev/stderr``) before ``shioaji`` is imported, so it is filtered too and
no log file is written. Python log records (ours and any library's) reach fd 2 through
``sys.stderr`` and are filtered on the way. docs/feeds.md, docs/decisions.md.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Fragments of a secret this long or longer are redacted wherever they appear. The Solace client
# name shows 10 characters of the API key; 4 base58 characters carry ~23 bits, a negligible help
# against a 256-bit secret, while 3-character fragments would also blank ordinary text (ports,
# timestamps, words) far more often. Values shorter than this are not treated as secrets.
MIN_FRAGMENT = 4
MARKER = "<redacted>"
# Environment variables whose value is a secret, by name; and any value that is a URL with a
# password (a DSN) contributes its password.
SECRET_ENV_SUFFIXES = ("_KEY", "_SECRET", "_PASSWORD", "_PASSWD", "_TOKEN", "_PERSON_ID")
# A line longer than this is cut (the rest up to its newline is dropped and counted): a runaway
# writer cannot grow the filter's memory without bound.
MAX_LINE_BYTES = 16 * 1024
# At most one Rust panic message per this many seconds; the others are counted and summarised.
PANIC_INTERVAL_S = 1.0
# Pipe capacity asked for (Linux F_SETPIPE_SZ): native writers block only when this is full.
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031
SDK_LOG_ENV = "SJ_LOG_PATH"

# Decoders name the offending character and its position ("provided string contained invalid
# character '0' at byte 7"): that is a character of the key and where it sits.
_CHAR_AT = re.compile(
    r"(character\s+)(?:'[^']*'|\"[^\"]*\"|\S)(\s+at\s+(?:byte|index|position|offset)\s+)\d+",
    re.IGNORECASE,
)
# The Solace client name carries the API key's head even when the key is not in our environment.
_SOLACE_CLIENT = re.compile(r"(client name '[A-Za-z]+/)[^/']*")
_PANIC_HEADER = re.compile(r"^thread '.*'(?: \(\d+\))? panicked at ")


@dataclass(frozen=True)
class SecretRedactor:
    """Replaces every run of text made of fragments (>= ``MIN_FRAGMENT`` characters) of a secret
    with ``MARKER``, plus the decoder and Solace patterns above. Pure: safe from any thread."""

    grams: frozenset[str] = frozenset()

    @classmethod
    def of(cls, secrets: Iterable[str]) -> SecretRedactor:
        grams = {
            s[i : i + MIN_FRAGMENT]
            for s in secrets
            if len(s) >= MIN_FRAGMENT
            for i in range(len(s) - MIN_FRAGMENT + 1)
        }
        return cls(frozenset(grams))

    def merged(self, other: SecretRedactor) -> SecretRedactor:
        return SecretRedactor(self.grams | other.grams)

    def redact(self, text: str) -> str:
        text = _CHAR_AT.sub(rf"\1'{MARKER}'\2{MARKER}", text)
        text = _SOLACE_CLIENT.sub(rf"\1{MARKER}", text)
        if not self.grams or len(text) < MIN_FRAGMENT:
            return text
        # Any fragment of >= MIN_FRAGMENT characters is covered by its MIN_FRAGMENT-windows, so
        # the union of matching windows is exactly what must go.
        grams, n = self.grams, MIN_FRAGMENT
        spans: list[list[int]] = []
        for i in range(len(text) - n + 1):
            if text[i : i + n] in grams:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = i + n
                else:
                    spans.append([i, i + n])
        if not spans:
            return text
        out, at = [], 0
        for start, end in spans:
            out += (text[at:start], MARKER)
            at = end
        out.append(text[at:])
        return "".join(out)


def secrets_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named variables (``SECRET_ENV_SUFFIXES``) and passwords of URLs."""
    e = os.environ if env is None else env
    found: list[str] = []
    for name, value in e.items():
        if not value:
            continue
        if name.upper().endswith(SECRET_ENV_SUFFIXES):
            found.append(value)
        if "://" in value:
            with contextlib.suppress(ValueError):
                password = urlsplit(value).password
                if password:
                    found.append(password)
    return found


@dataclass
class RepeatThrottle:
    """At most one admitted event per ``interval_s``; the rest are counted until reported."""

    interval_s: float
    last: float | None = None
    suppressed: int = 0

    def admit(self, now: float) -> bool:
        if self.last is not None and now - self.last < self.interval_s:
            self.suppressed += 1
            return False
        self.last = now
        return True

    def take_suppressed(self) -> int:
        n, self.suppressed = self.suppressed, 0
        return n

    def report_due(self, now: float) -> float | None:
        """Seconds until the suppressed count should be reported (0: now); None: nothing to."""
        if not self.suppressed or self.last is None:
            return None
        return max(0.0, self.last + self.interval_s - now)


class _Panic(Enum):
    NONE = 0
    MESSAGE = 1  # the line after "panicked at ...:" is the message
    TAIL = 2  # "stack backtrace:" / frames / "note: ..." may follow
    BACKTRACE = 3


@dataclass
class BrokerOutputLines:
    """Line-level decisions on the SDK's output: redact, and rate-limit Rust panic messages.

    A panic message (Rust's default hook) is: a blank line, ``thread '<name>' (tid) panicked at
    file:line:col:``, the message, with ``RUST_BACKTRACE`` a ``stack backtrace:`` and indented
    frames, and sometimes a ``note: ...`` line. The whole block is shown or suppressed together.
    """

    redactor: SecretRedactor
    panics: RepeatThrottle = field(default_factory=lambda: RepeatThrottle(PANIC_INTERVAL_S))
    _state: _Panic = _Panic.NONE
    _showing: bool = True
    _blank_pending: bool = False
    _since: float | None = None

    def line(self, text: str, now: float) -> list[str]:
        """Lines to forward (without newlines) for one input line."""
        if self._state is not _Panic.NONE:
            if self._in_block(text):
                return [self.redactor.redact(text)] if self._showing else []
            self._state = _Panic.NONE
        if _PANIC_HEADER.match(text):
            blank, self._blank_pending = self._blank_pending, False
            # Old hooks put the message on the header line ("panicked at 'msg', file:l:c").
            self._state = _Panic.TAIL if "panicked at '" in text else _Panic.MESSAGE
            self._showing = self.panics.admit(now)
            if not self._showing:
                if self._since is None:
                    self._since = now
                return []
            return [*self.summary(now), *([""] if blank else []), self.redactor.redact(text)]
        out = [""] if self._blank_pending else []
        self._blank_pending = False
        if not text.strip():
            self._blank_pending = True  # held: it may open a panic message
            return out
        return [*out, self.redactor.redact(text)]

    def _in_block(self, text: str) -> bool:
        if self._state is _Panic.MESSAGE:
            self._state = _Panic.TAIL
            return True
        if text.startswith("note: "):
            self._state = _Panic.NONE
            return True
        if self._state is _Panic.TAIL and text == "stack backtrace:":
            self._state = _Panic.BACKTRACE
            return True
        return self._state is _Panic.BACKTRACE and text[:1].isspace()

    def summary(self, now: float) -> list[str]:
        """The suppressed-panics line, once, if any were suppressed."""
        n = self.panics.take_suppressed()
        if not n:
            return []
        since = self._since if self._since is not None else now
        self._since = None
        return [
            f"shijim: {n} more broker SDK panic message(s) suppressed in {now - since:.1f} s"
            " (malformed broker objects; each is counted in shijim_md_bad_input_total)"
        ]

    def due_in(self, now: float) -> float | None:
        return self.panics.report_due(now)

    def finish(self, now: float) -> list[str]:
        return [*self.summary(now), *([""] if self._blank_pending else [])]


class BrokerOutputFilter:
    """fd 2 through a pipe and a filtering thread to the real stderr (module docstring)."""

    def __init__(
        self, redactor: SecretRedactor, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lines = BrokerOutputLines(redactor)
        self.clock = clock
        self.cut_lines = 0
        self._real = -1
        self._read = -1
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._buf = b""
        self._dropping = False
        self._closing = False

    def set_redactor(self, redactor: SecretRedactor) -> None:
        self.lines.redactor = redactor  # one attribute store: the pump sees old or new, whole

    def install(self) -> None:
        _flush_python_streams()
        real = os.dup(2)
        r, w = os.pipe()
        with contextlib.suppress(OSError):  # not Linux, or over the user's pipe limit
            fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_BYTES)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(r, False)
        os.dup2(w, 2)
        os.close(w)
        self._real, self._read = real, r
        self._thread = threading.Thread(target=self._pump, name="broker-output-filter", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def close(self, timeout_s: float = 2.0) -> None:
        """Forward what is still in the pipe, then give fd 2 back to the real stderr."""
        if self._thread is None or self._closing:
            return
        _flush_python_streams()
        os.dup2(self._real, 2)  # from here on writes go straight out
        self._closing = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout_s)
        # A writer still holding the pipe (the SDK's log) now gets EPIPE, never blocks.
        for fd in (self._read, self._wake_r, self._wake_w, self._real):
            with contextlib.suppress(OSError):
                os.close(fd)
        atexit.unregister(self.close)

    def _pump(self) -> None:
        # poll, not select: select fails on descriptors >= 1024 (a busy process has many).
        poller = select.poll()
        for fd in (self._read, self._wake_r):
            poller.register(fd, select.POLLIN)
        try:
            while True:
                due = self.lines.due_in(self.clock())
                ready = {fd for fd, _ in poller.poll(None if due is None else due * 1000)}
                if self._read in ready and self._drain() is None:
                    break
                if self._wake_r in ready:  # closing: forward what is left, for at most 1 s
                    deadline = self.clock() + 1.0
                    while self._drain() and self.clock() < deadline:
                        pass
                    break
                now = self.clock()
                if self.lines.due_in(now) == 0:
                    self._emit(self.lines.summary(now))
            now = self.clock()
            if self._buf:
                self._feed_line(self._buf, now)
                self._buf = b""
            self._emit(self.lines.finish(now))
        except Exception as exc:  # never die silently holding fd 2: say so on the real stderr
            self._emit([f"shijim: broker output filter stopped: {type(exc).__name__}"])

    def _drain(self) -> bool | None:
        """Read a bounded amount (timers and close stay responsive under a flood). True: more
        may be waiting; False: the pipe is empty; None: end of file (every writer gone)."""
        for _ in range(16):
            try:
                data = os.read(self._read, 65536)
            except BlockingIOError:
                return False
            if not data:
                return None
            self._take(data)
        return True

    def _take(self, data: bytes) -> None:
        now = self.clock()
        buf = self._buf + data
        while buf:
            nl = buf.find(b"\n")
            if self._dropping:
                if nl < 0:
                    buf = b""
                    break
                self._dropping = False
                buf = buf[nl + 1 :]
                continue
            if nl < 0:
                if len(buf) <= MAX_LINE_BYTES:
                    break
                self.cut_lines += 1
                self._feed_line(buf[:MAX_LINE_BYTES], now, cut=True)
                self._dropping = True
                buf = b""
                break
            if nl > MAX_LINE_BYTES:
                self.cut_lines += 1
                self._feed_line(buf[:MAX_LINE_BYTES], now, cut=True)
            else:
                self._feed_line(buf[:nl], now)
            buf = buf[nl + 1 :]
        self._buf = buf

    def _feed_line(self, raw: bytes, now: float, cut: bool = False) -> None:
        # surrogateescape: any byte survives the round trip unchanged unless redacted.
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r")
        out = self.lines.line(text, now)
        if cut and out:
            out[-1] += f" [line cut at {MAX_LINE_BYTES} bytes]"
        self._emit(out)

    def _emit(self, lines: list[str]) -> None:
        if not lines:
            return
        data = "".join(f"{ln}\n" for ln in lines).encode("utf-8", "surrogateescape")
        while data:
            try:
                n = os.write(self._real, data)
            except OSError:
                return  # the real stderr is gone: nothing left to protect or tell
            data = data[n:]


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


_installed: BrokerOutputFilter | None = None
_install_lock = threading.Lock()


def guard_broker_output(secrets: Iterable[str]) -> BrokerOutputFilter:
    """Filter fd 2 and the SDK's log for the rest of the process (idempotent; later calls add
    secrets). Call before ``import shioaji``: its log destination is fixed at import."""
    global _installed
    redactor = SecretRedactor.of([*secrets, *secrets_from_env()])
    with _install_lock:
        if _installed is not None:
            _installed.set_redactor(_installed.lines.redactor.merged(redactor))
            return _installed
        if "shioaji" in sys.modules:
            log.warning(
                "shioaji was imported before the broker output filter: its log (%s) is not"
                " filtered",
                os.environ.get(SDK_LOG_ENV) or "./shioaji.log",
            )
        else:
            if os.environ.get(SDK_LOG_ENV, "/dev/stderr") != "/dev/stderr":
                log.warning("%s ignored: the broker SDK logs to stderr, filtered", SDK_LOG_ENV)
            os.environ[SDK_LOG_ENV] = "/dev/stderr"
        _installed = BrokerOutputFilter(redactor)
        _installed.install()
        return _installed
