"""`python -m shijim.tools.sbe`: JSONL -> SBE -> JSONL is byte-identical; bad input stops the
run with file/line/field (or byte offset) named, or is counted with --skip-bad."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
import shijim.events.frames
from shijim.events import format_record, record_from_dict
from shijim.tools import sbe as tool
from test_sbe_bindings import samples

import shijim_core

CANONICAL = [format_record(record_from_dict(r)) + "\n" for r in samples()]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


def test_round_trip_through_the_cli_is_byte_identical(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", CANONICAL * 3)
    sbe_file = tmp_path / "out.sbe"
    run = subprocess.run(
        [sys.executable, "-m", "shijim.tools.sbe", "encode", str(src), str(sbe_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "encoded 30 records" in run.stderr
    assert shijim_core.sbe_decode_stream(sbe_file.read_bytes()) == samples() * 3
    run = subprocess.run(
        [sys.executable, "-m", "shijim.tools.sbe", "decode", str(sbe_file)],
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == src.read_bytes()


def test_decode_to_file_and_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # frames straddle every chunk boundary
    monkeypatch.setattr(shijim.events.frames, "READ_CHUNK", 37)
    src = _write(tmp_path / "in.jsonl", CANONICAL)
    sbe_file, back = tmp_path / "x.sbe", tmp_path / "back.jsonl"
    assert tool.main(["encode", str(src), str(sbe_file)]) == 0
    assert tool.main(["decode", str(sbe_file), "-o", str(back)]) == 0
    assert back.read_bytes() == src.read_bytes()


def test_bad_line_stops_encode_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CANONICAL[0].replace('"price":22013.5', '"price":22013.5000001')
    src = _write(tmp_path / "in.jsonl", [CANONICAL[1], CANONICAL[2], bad, CANONICAL[3]])
    dst = tmp_path / "out.sbe"
    assert tool.main(["encode", str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"error: {src}:3: field 'price': 22013.5000001 has more than 6 decimals" in err
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left either


def test_skip_bad_counts_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", [CANONICAL[0], "not json\n", CANONICAL[1], "{}\n"])
    dst = tmp_path / "out.sbe"
    assert tool.main(["encode", "--skip-bad", str(src), str(dst)]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 bad lines" in err
    assert f"{src}:2: field '(line)'" in err and f"{src}:4: field 'type': missing" in err
    assert shijim_core.sbe_decode_stream(dst.read_bytes()) == samples()[:2]


def _sbe(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "in.sbe"
    path.write_bytes(data)
    return path


def test_bad_frames_strict_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = bytearray(shijim_core.sbe_encode_stream(samples()[:3]))
    first_len = struct.unpack_from(">I", frames)[0]
    frames[first_len + 6 + 2] = 42  # templateId of the second message
    src = _sbe(tmp_path, bytes(frames))
    assert tool.main(["decode", str(src)]) == 1
    out, err = capsys.readouterr()
    assert out == CANONICAL[0]  # what came before the bad frame
    assert f"error: {src}: byte {first_len + 8}: unknown templateId 42" in err
    assert tool.main(["decode", "--skip-bad", str(src)]) == 0
    out, err = capsys.readouterr()
    assert out == CANONICAL[0] + CANONICAL[2]
    assert "skipped 1 bad frames" in err


def test_truncated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = shijim_core.sbe_encode_stream(samples()[:2])
    src = _sbe(tmp_path, data[:-5])
    assert tool.main(["decode", str(src)]) == 1
    out, err = capsys.readouterr()
    assert out == CANONICAL[0]
    assert "truncated" in err and f"byte {len(shijim_core.sbe_encode_stream(samples()[:1]))}" in err
    assert tool.main(["decode", "--skip-bad", str(src)]) == 0
    assert "skipped 1 bad frames" in capsys.readouterr().err


def test_broken_frame_header_cannot_be_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(shijim_core.sbe_encode_stream(samples()[:2]))
    data[4:6] = b"\xeb\x50"  # big-endian SBE encoding type: not what we write
    src = _sbe(tmp_path, bytes(data))
    assert tool.main(["decode", "--skip-bad", str(src)]) == 1
    assert "encoding type 0xEB50" in capsys.readouterr().err
    data = bytearray(shijim_core.sbe_encode_stream(samples()[:2]))
    struct.pack_into(">I", data, 0, 3)
    assert tool.main(["decode", "--skip-bad", str(_sbe(tmp_path, bytes(data)))]) == 1
    assert "length 3 is shorter" in capsys.readouterr().err
    struct.pack_into(">I", data, 0, 2**32 - 1)
    assert tool.main(["decode", "--skip-bad", str(_sbe(tmp_path, bytes(data)))]) == 1
    assert "length 4294967295 is longer than any message" in capsys.readouterr().err


def test_frame_length_disagreeing_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = bytearray(shijim_core.sbe_encode_stream(samples()[:1]))
    struct.pack_into(">I", one, 0, len(one) + 2)
    src = _sbe(tmp_path, bytes(one) + b"\0\0" + shijim_core.sbe_encode_stream(samples()[1:2]))
    assert tool.main(["decode", str(src)]) == 1
    assert "frame length" in capsys.readouterr().err
    assert tool.main(["decode", "--skip-bad", str(src)]) == 0
    assert capsys.readouterr().out == CANONICAL[1]


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["decode", str(tmp_path / "nope.sbe")]) == 1
    assert "nope.sbe" in capsys.readouterr().err
