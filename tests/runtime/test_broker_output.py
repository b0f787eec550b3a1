"""The broker SDK's output filter (shijim.gateway.broker_output): no fragment of a key on stderr,
in the SDK's log or in any file, and Rust panic messages rate-limited.

Pure parts are tested directly; the fd-level filter runs in subprocesses (it takes over fd 2),
with the REAL shioaji 1.7.9: a real login with distinctive fake keys (no network here: it fails
within seconds), real quote objects whose malformed fields panic in the Rust extension, and
lines written to fd 2 from native code (libc ``write``) as the Solace library does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from shijim.gateway.broker_output import (
    MARKER,
    MAX_LINE_BYTES,
    MIN_FRAGMENT,
    BrokerOutputLines,
    SecretRedactor,
    secrets_from_env,
)

ROOT = Path(__file__).resolve().parents[2]
# Distinctive fake credentials: every 4-character window is unlikely in ordinary output.
API_KEY = "AKQZXW7Y9VJ3KT5PLMNBRG"
# Valid base58 of 32 bytes: the SDK accepts it and tries to connect (and the Solace library
# names the client after the API key).
SECRET_KEY = "USxhdMQhkMoYC52vEK6giwuQeu2F5SWuXeqS3EeyidB"
# '0' is not base58: the SDK's error names this character and its position.
BAD_SECRET_KEY = "SKHJ8WQ0NXCV4BMT6RYZPLKD3FGA"
CA_PASSWORD = "caPw-Zq8Vt3Rk"
PERSON_ID = "F229384756"
SECRETS = (API_KEY, SECRET_KEY, BAD_SECRET_KEY, CA_PASSWORD, PERSON_ID)

# Verbatim from shioaji 1.7.9 on a failed login (one of the 8 lines per attempt).
SOLACE_LINE = (
    "SDK NOTICE Fri Dec 04 09:30:14.654 2026 solClientSmf.c:7791                  (7fddfb5fd6c0)"
    " Read failed from transport 'compression' of session '(c0,s1)_sinopac' due to '', client"
    f" name 'PYAPI/{API_KEY[:10]}/1204/093014/652545783/LOGINING', VPN name 'sinopac', peer host"
    " '210.59.255.161:80' address 'IP 210.59.255.161', connection 'tcp_TxRx' local address"
    " 'IP 192.0.2.2:54138'"
)
BASE58_ERROR = (
    "login validation error: invalid secret_key (base58 decode failed): provided string"
    " contained invalid character '0' at byte 7"
)
PANIC_HEADER = (
    "thread '<unnamed>' (11355) panicked at"
    " /builds/ec666/shioaji/src/api/api_v1/stream/optimized/common.rs:276:14:"
)
PANIC_MESSAGE = "Invalid u64 marker at offset 93: marker=0xaa, buf=[220, 0, 20, 165]"


def fragments(text: str, secret: str = "") -> list[str]:
    """The MIN_FRAGMENT-character pieces of ``secret`` (default: any of SECRETS) in ``text``."""
    found = []
    for s in (secret,) if secret else SECRETS:
        found += [s[i : i + 4] for i in range(len(s) - 3) if s[i : i + 4] in text]
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIOAJI_", "SHIJIM_"))}
    env.pop("SJ_LOG_PATH", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "runtime"), str(ROOT / "tests" / "runtime")])
    env.update(extra)
    return env


def _run(script: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=_env(HOME=str(cwd), **env),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )


def _files_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file()
    )


# -- the redactor ----------------------------------------------------------------------------
def test_the_solace_client_name_and_the_base58_error_are_redacted() -> None:
    r = SecretRedactor.of([API_KEY, SECRET_KEY])
    line = r.redact(SOLACE_LINE)
    assert fragments(line) == []
    assert f"client name 'PYAPI/{MARKER}/1204/093014/652545783/LOGINING'" in line
    assert line.startswith("SDK NOTICE Fri Dec 04 09:30:14.654 2026 solClientSmf.c:7791")
    # Without the key known (another process's key, a key not from our environment), the
    # Solace client-name pattern still hides it.
    assert fragments(SecretRedactor().redact(SOLACE_LINE)) == []
    err = SecretRedactor().redact(BASE58_ERROR)
    assert err.endswith(f"invalid character '{MARKER}' at byte {MARKER}")
    assert "'0'" not in err and "byte 7" not in err


def test_every_fragment_of_min_length_goes_and_shorter_ones_stay() -> None:
    assert MIN_FRAGMENT == 4
    r = SecretRedactor.of([API_KEY, "ab"])  # a 2-character value is not treated as a secret
    assert r.redact(f"x {API_KEY[5:9]} y") == f"x {MARKER} y"
    assert r.redact(f"x {API_KEY[5:8]} y") == f"x {API_KEY[5:8]} y"
    # Two fragments back to back, overlapping windows, the whole key: one marker each run.
    assert r.redact(f"{API_KEY[:6]}{API_KEY[10:16]}!") == f"{MARKER}!"
    assert r.redact(f"<{API_KEY}>") == f"<{MARKER}>"
    assert r.redact("abab cab") == "abab cab"
    assert r.redact("") == ""


def test_secrets_come_from_secret_named_variables_and_url_passwords() -> None:
    env = {
        "SHIOAJI_API_KEY": API_KEY,
        "SHIOAJI_SECRET_KEY": SECRET_KEY,
        "SHIOAJI_CA_PASSWORD": CA_PASSWORD,
        "SHIOAJI_PERSON_ID": PERSON_ID,
        "SHIJIM_ADMIN_TOKEN": "tok-93kd82",
        "RECORDER_DSN": "postgresql://shijim:dbPw9x7@db.local:5432/ticks",
        "SHIOAJI_CA_PATH": "/var/run/ca/Sinopac.pfx",
        "HOME": "/root",
    }
    assert sorted(secrets_from_env(env)) == sorted(
        [API_KEY, SECRET_KEY, CA_PASSWORD, PERSON_ID, "tok-93kd82", "dbPw9x7"]
    )


# -- panic messages: rate limit (pure) --------------------------------------------------------
def _panic_block(backtrace: bool, first: bool) -> list[str]:
    block = ["", PANIC_HEADER, PANIC_MESSAGE]
    if backtrace:
        block += ["stack backtrace:", "   0: rust_begin_unwind", "             at /rustc/x.rs:1"]
        block.append("note: Some details are omitted, run with `RUST_BACKTRACE=full` for more.")
    elif first:
        block.append(
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
        )
    return block


@pytest.mark.parametrize("backtrace", [False, True])
def test_a_panic_burst_shows_one_message_per_second_and_counts_the_rest(backtrace: bool) -> None:
    lines = BrokerOutputLines(SecretRedactor.of([API_KEY]))
    out: list[str] = []
    for i in range(1000):  # 1000 panics in 0.5 s, other output in between
        for ln in _panic_block(backtrace, first=i == 0):
            out += lines.line(ln, i * 0.0005)
        if i == 500:
            out += lines.line(f"2026-12-04 WARNING shijim: ordinary line {API_KEY}", i * 0.0005)
    assert lines.due_in(0.6) == pytest.approx(0.4)
    out += lines.line(PANIC_HEADER, 1.2)  # the next second: shown, after the summary
    out += lines.line(PANIC_MESSAGE, 1.2)
    out += lines.finish(1.3)
    headers = [ln for ln in out if ln == PANIC_HEADER]
    assert len(headers) == 2
    summary = [ln for ln in out if "suppressed" in ln]
    assert len(summary) == 1 and summary[0].startswith("shijim: 999 more broker SDK panic")
    assert out.index(summary[0]) < len(out) - 2  # before the second panic shown
    assert f"2026-12-04 WARNING shijim: ordinary line {MARKER}" in out
    assert sum(ln == PANIC_MESSAGE for ln in out) == 2
    assert len(out) <= 2 * len(_panic_block(backtrace, first=True)) + 3


def test_a_suppressed_count_is_reported_when_its_second_ends_without_another_panic() -> None:
    lines = BrokerOutputLines(SecretRedactor())
    for t in (0.0, 0.1, 0.2):
        lines.line(PANIC_HEADER, t)
        lines.line(PANIC_MESSAGE, t)
    assert lines.due_in(0.5) == pytest.approx(0.5)
    assert lines.due_in(1.0) == 0
    (summary,) = lines.summary(1.0)
    assert summary.startswith("shijim: 2 more broker SDK panic message(s) suppressed in 0.9 s")
    assert lines.due_in(1.1) is None and lines.summary(1.1) == []


# -- the fd-level filter in a process ---------------------------------------------------------
NATIVE_WRITES = f"""
    import ctypes, logging, os, sys
    from shijim.gateway.broker_output import guard_broker_output

    guard_broker_output([])  # the secrets come from the environment
    libc = ctypes.CDLL(None)
    solace = {SOLACE_LINE!r}.encode() + b"\\n"
    libc.write(2, solace, len(solace))           # as the Solace C library writes
    os.write(2, b"person {PERSON_ID} ca {CA_PASSWORD}\\n")
    os.write(2, b"partial {API_KEY[:7]}")       # no newline: split across writes
    os.write(2, b"{API_KEY[7:]} done\\n")
    logging.basicConfig(stream=sys.stderr)
    logging.getLogger("shioaji").error("secret %s", {SECRET_KEY!r})
    print({BASE58_ERROR!r}, file=sys.stderr)
    os.write(2, b"x" * (1 << 20) + b" {API_KEY}\\n")  # a 1 MiB line: cut, not buffered whole
    os.write(2, b"{API_KEY} after the long line\\n")
    libc.write(2, b"tail without newline {SECRET_KEY}", {len(SECRET_KEY) + 21})
"""


def test_native_and_python_writes_to_fd2_lose_every_key_fragment(tmp_path: Path) -> None:
    p = _run(
        NATIVE_WRITES,
        tmp_path,
        SHIOAJI_API_KEY=API_KEY,
        SHIOAJI_SECRET_KEY=SECRET_KEY,
        SHIOAJI_CA_PASSWORD=CA_PASSWORD,
        SHIOAJI_PERSON_ID=PERSON_ID,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    err = p.stderr
    assert fragments(err) == [], err[:3000]
    lines = err.splitlines()
    assert f"client name 'PYAPI/{MARKER}/1204/093014/652545783/LOGINING'" in lines[0]
    assert lines[1] == f"person {MARKER} ca {MARKER}"
    assert lines[2] == f"partial {MARKER} done"
    assert lines[3] == f"ERROR:shioaji:secret {MARKER}"
    assert lines[4].endswith(f"invalid character '{MARKER}' at byte {MARKER}")
    assert lines[5] == "x" * MAX_LINE_BYTES + f" [line cut at {MAX_LINE_BYTES} bytes]"
    assert lines[6] == f"{MARKER} after the long line"
    assert lines[7] == f"tail without newline {MARKER}"  # flushed at exit
    assert len(lines) == 8
    assert _files_text(tmp_path) == ""  # nothing written in cwd or HOME


def test_a_burst_of_real_shioaji_panics_is_rate_limited(tmp_path: Path) -> None:
    script = """
        import sys, time
        from shijim.gateway.broker_output import guard_broker_output

        guard_broker_output([])
        import shioaji_objects as so

        bad = so.tick_fop("TXFL6", volume="not-an-int")  # reading .volume panics in Rust
        t0 = time.monotonic()
        caught = 0
        for _ in range(1000):
            try:
                bad.volume
            except BaseException as exc:
                caught += type(exc).__name__ == "PanicException"
        print(caught, time.monotonic() - t0)
        time.sleep(1.3)  # the count is reported when its second ends, not only at exit
        print("after the burst", file=sys.stderr)
    """
    for backtrace in ("0", "1"):
        p = _run(script, tmp_path, RUST_BACKTRACE=backtrace)
        assert p.returncode == 0, p.stderr[-2000:]
        caught, elapsed = p.stdout.split()
        assert caught == "1000"
        lines = p.stderr.splitlines()
        shown = sum(" panicked at " in ln for ln in lines)
        counts = [
            int(m.group(1)) for m in re.finditer(r"shijim: (\d+) more broker SDK panic", p.stderr)
        ]
        assert shown + sum(counts) == 1000, p.stderr[:2000]
        assert lines[-1] == "after the burst" and "suppressed" in lines[-2]
        assert 1 <= shown <= float(elapsed) + 2
        # Each panic prints 3-5 lines unfiltered; here a few blocks and the summaries remain.
        assert len(lines) <= 6 * shown + len(counts) + 2


def test_a_failed_real_login_through_the_cli_leaks_no_key_fragment(tmp_path: Path) -> None:
    """``python -m shijim run --feed shioaji`` with the real SDK and fake keys: the login fails
    (no network), quickly, and neither stderr, stdout nor any file shows 4 characters of a key
    (the SDK's log goes to the filtered stderr: no shioaji.log is written)."""
    for secret in (BAD_SECRET_KEY, SECRET_KEY):
        started = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "shijim", "run", "--feed", "shioaji", "--simulation"],
            cwd=tmp_path,
            env=_env(
                HOME=str(tmp_path),
                SHIOAJI_API_KEY=API_KEY,
                SHIOAJI_SECRET_KEY=secret,
                SHIOAJI_CA_PASSWORD=CA_PASSWORD,
                SHIOAJI_PERSON_ID=PERSON_ID,
            ),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
        )
        assert time.monotonic() - started < 30  # fails fast, never hangs
        assert p.returncode == 1, p.stderr[-2000:]
        assert "shijim: cannot start: ShioajiLoginError: Shioaji login failed" in p.stderr
        for out in (p.stderr, p.stdout, _files_text(tmp_path)):
            assert fragments(out) == [], out[:3000]
        assert not (tmp_path / "shioaji.log").exists()
        assert "Traceback" not in p.stderr
        if secret == BAD_SECRET_KEY:
            assert f"invalid character '{MARKER}' at byte {MARKER}" in p.stderr
        elif "PYAPI/" in p.stderr:  # the Solace library reached a host: its lines are redacted
            assert f"PYAPI/{MARKER}/" in p.stderr
