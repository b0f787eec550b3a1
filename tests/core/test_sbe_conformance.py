"""Our bytes follow schema/shijim.xml exactly, proven two independent ways:

1. `sbe` (PyPI, a third-party SBE 1.0 decoder/encoder driven only by the XML) decodes every
   message we encode to the same values, and our decoder reads what it encodes.
2. A tiny reader written here from the SBE 1.0 rules (offsets summed from the XML's types, in
   declaration order, little-endian) decodes our bytes to the same values. It shares no code
   with the Rust codec, so a layout drift on either side fails here.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sbe  # third-party
from test_sbe_bindings import samples

import shijim_core

SCHEMA = Path(__file__).resolve().parents[2] / "shijim_core" / "schema" / "shijim.xml"
PRIMITIVES = {
    "char": "c",
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower()


class XmlSchema:
    """The SBE 1.0 layout rules applied to the XML, nothing else."""

    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        assert root.get("byteOrder") == "littleEndian"
        self.schema_id = int(root.get("id", "-1"))
        self.version = int(root.get("version", "-1"))
        types = root.find("types")
        assert types is not None
        self.types = {t.get("name"): t for t in types}
        self.messages = {int(m.get("id", "-1")): m for m in root if m.tag.endswith("message")}

    def size(self, type_name: str) -> int:
        if type_name in PRIMITIVES:
            return struct.calcsize("<" + PRIMITIVES[type_name])
        t = self.types[type_name]
        if t.get("presence") == "constant":
            return 0
        if t.tag == "composite":
            return sum(self.size_of_element(c) for c in t)
        if t.tag == "enum":
            return self.size(t.get("encodingType", ""))
        return self.size(t.get("primitiveType", "")) * int(t.get("length", "1"))

    def size_of_element(self, el: ET.Element) -> int:
        if el.get("presence") == "constant":
            return 0
        return self.size(el.get("primitiveType", "")) * int(el.get("length", "1"))

    def read(self, type_name: str, buf: bytes, at: int) -> Any:
        t = self.types[type_name]
        if t.tag == "composite":
            value: dict[str, Any] = {}
            for c in t:
                if c.get("presence") == "constant":
                    value[c.get("name", "")] = int((c.text or "").strip())
                    continue
                value[c.get("name", "")] = self._primitive(c, buf, at)
                at += self.size_of_element(c)
            return value
        if t.tag == "enum":
            raw = struct.unpack_from("<" + PRIMITIVES[t.get("encodingType", "")], buf, at)[0]
            names = {int(v.text or ""): v.get("name") for v in t}
            return names[raw]
        return self._primitive(t, buf, at)

    def _primitive(self, el: ET.Element, buf: bytes, at: int) -> Any:
        prim, length = el.get("primitiveType", ""), int(el.get("length", "1"))
        if prim == "char":
            raw = buf[at : at + length]
            return raw.split(b"\0", 1)[0].decode("ascii")
        return struct.unpack_from("<" + PRIMITIVES[prim], buf, at)[0]

    def decode(self, buf: bytes) -> tuple[str, dict[str, Any], int]:
        block_length, template_id, schema_id, version = struct.unpack_from("<4H", buf, 0)
        assert (schema_id, version) == (self.schema_id, self.version)
        msg = self.messages[template_id]
        at, fields = 8, {}
        for f in msg:
            fields[f.get("name", "")] = self.read(f.get("type", ""), buf, at)
            at += self.size(f.get("type", ""))
        assert at - 8 == block_length == int(msg.get("blockLength", "-1"))
        return msg.get("name", ""), fields, at


XML = XmlSchema(SCHEMA)
THIRD_PARTY = sbe.Schema.parse(SCHEMA.open())
EXPONENT = int(
    next(
        (c.text or "")
        for c in XML.types["Price"]
        if c.get("name") == "exponent" and c.get("presence") == "constant"
    )
)
TEMPLATE_NAMES = {
    "tick": "Tick",
    "bidask": "BidAsk",
    "snapshot": "Snapshot",
    "event": "SystemEvent",
}
SESSION = {"None": None, "PreOpen": "PRE_OPEN", "Open": "OPEN", "Closed": "CLOSED"}
TRADING = {"None": None, "Active": "ACTIVE", "Reducing": "REDUCING", "Halted": "HALTED"}
EVENTS = {"SessionState": "session_state", "TradingState": "trading_state"}
EVENTS |= {"FeedGap": "feed_gap", "Reconnect": "reconnect"}


def _price(mantissa: int) -> Decimal:
    return Decimal(mantissa).scaleb(EXPONENT)


def to_record(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A schema-named message (camelCase, composites as dicts, enums as names) as a record."""
    out: dict[str, Any] = {"type": {v: k for k, v in TEMPLATE_NAMES.items()}[name]}
    levels: dict[str, list[Any]] = {}
    for key, value in fields.items():
        if isinstance(value, dict):
            value = _price(value["mantissa"])
        if key == "simtrade":
            value = {"True": True, "False": False}[value]
        elif key == "tickType":
            value = {"Unknown": 0, "Buy": 1, "Sell": 2}[value]
        elif key == "kind":
            key, value = "event", EVENTS[value]
        elif key == "sessionState":
            value = SESSION[value]
        elif key == "tradingState":
            value = TRADING[value]
        m = re.fullmatch(r"(bidPrice|bidVolume|askPrice|askVolume)(\d)", key)
        if m:
            levels.setdefault(_snake(m.group(1)), []).append(value)
            continue
        out[_snake(key)] = value
    out.update(levels)
    return out


def test_schema_constants_match_the_codec() -> None:
    assert EXPONENT == shijim_core.PRICE_EXPONENT == -6
    assert XML.schema_id == shijim_core.SBE_SCHEMA_ID
    assert XML.version == shijim_core.SBE_SCHEMA_VERSION
    assert XML.size("Code") == shijim_core.CODE_LEN
    assert XML.size("Reason") == shijim_core.REASON_LEN
    assert XML.size("messageHeader") == 8
    biggest = max(8 + int(m.get("blockLength", "0")) for m in XML.messages.values())
    assert biggest == shijim_core.MAX_MESSAGE_LEN


@pytest.mark.parametrize("record", samples(), ids=lambda r: f"{r['type']}-{r['seq']}")
def test_third_party_decoder_reads_our_bytes(record: dict) -> None:
    buf = shijim_core.sbe_encode(record)
    header = THIRD_PARTY.decode_header(buf)
    assert header["schemaId"] == XML.schema_id and header["version"] == XML.version
    decoded = THIRD_PARTY.decode(buf)
    assert decoded.message_name == TEMPLATE_NAMES[record["type"]]
    ordered = {k: record[k] for k in to_record(decoded.message_name, decoded.value)}
    assert to_record(decoded.message_name, decoded.value) == ordered == record


@pytest.mark.parametrize("record", samples(), ids=lambda r: f"{r['type']}-{r['seq']}")
def test_independent_xml_reader_reads_our_bytes(record: dict) -> None:
    buf = shijim_core.sbe_encode(record)
    name, fields, end = XML.decode(buf)
    assert end == len(buf)
    assert to_record(name, fields) == record


@pytest.mark.parametrize("record", samples(), ids=lambda r: f"{r['type']}-{r['seq']}")
def test_we_read_the_third_party_encoder(record: dict) -> None:
    ours = shijim_core.sbe_encode(record)
    decoded = THIRD_PARTY.decode(ours)
    msg = next(m for m in THIRD_PARTY.messages.values() if m.name == decoded.message_name)
    theirs = THIRD_PARTY.encode(msg, decoded.value)
    assert shijim_core.sbe_decode(theirs) == (record, len(ours))
    assert theirs == ours
