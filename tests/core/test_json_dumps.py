"""``shijim_core.json_dumps``: the admin listener's JSON encoder. What it writes must read back
with ``json.loads`` as what ``json.dumps`` would have written (NaN and the infinities as null),
enums as their text, and anything else refused with where it is."""

from __future__ import annotations

import enum
import json
import math
import random
import re
from typing import Any, NamedTuple

import pytest
from shijim.domain import OrderStatus, Side

from shijim_core import json_dumps


def reference(v: Any) -> Any:
    """What json.dumps + json.loads give, with non-finite floats as None (strict JSON)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list | tuple):
        return [reference(x) for x in v]
    if isinstance(v, dict):
        return {k: reference(x) for k, x in v.items()}
    return v


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), 2**64 + 5, -(10**30), rng.randrange(-9, 9)])
    if kind == 3:
        edges = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e16, 1e-7, 5e-324, 1.79e308]
        return rng.choice([*edges, rng.uniform(-1e6, 1e6), round(rng.uniform(0, 2000), 2), 0.3])
    if kind in (4, 5):
        return "".join(rng.choice('ab"\\\n\t\x01\x1f台積電 é/') for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        items = [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
        return items if kind == 6 else tuple(items)
    return {f'k{i}"': random_value(rng, depth + 1) for i in range(rng.randrange(4))}


def test_reads_back_as_json_dumps_would_write_it_on_random_values() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        v = random_value(rng)
        text = json_dumps(v)
        assert isinstance(text, bytes)
        back = json.loads(text)
        assert back == reference(v), (v, text)
        # Floats stay floats (110.0, not 110), and read back bit for bit.
        if isinstance(v, float) and math.isfinite(v):
            assert type(back) is float and math.copysign(1, back) == math.copysign(1, v)


def test_strict_json_and_compact() -> None:
    text = json_dumps({"a": [math.nan, math.inf, 110.0, 1], "b": (True, None)})
    assert text == b'{"a":[null,null,110.0,1],"b":[true,null]}'


class Row(NamedTuple):
    code: str
    side: Side
    status: OrderStatus
    price: float


def test_rows_and_enums_travel_as_their_text() -> None:
    class Level(enum.IntEnum):
        LOW = 1

    class Colour(enum.Enum):
        RED = "red"

    rows = (Row("2330", Side.BUY, OrderStatus.SUBMITTED, 600.5),
            Row("2317", Side.SELL, OrderStatus.PART_FILLED, math.nan))  # fmt: skip
    assert json.loads(json_dumps({"rows": rows, "x": [Level.LOW, Colour.RED]})) == {
        "rows": [["2330", "BUY", "submitted", 600.5], ["2317", "SELL", "part_filled", None]],
        "x": ["LOW", "red"],
    }


@pytest.mark.parametrize(
    ("value", "error", "where"),
    [
        ({"books": {"rows": [[1, object()]]}}, TypeError, ".books.rows[0][1]: object is not JSON"),
        ({1: "x"}, TypeError, "the value: key 1: not a str"),
        ([{"a": {2.5: 1}}], TypeError, "[0].a: key 2.5: not a str"),
        ({"s": {1, 2}}, TypeError, ".s: set is not JSON"),
    ],
)  # fmt: skip
def test_what_is_not_json_is_refused_naming_where(value: Any, error: type, where: str) -> None:
    with pytest.raises(error, match=rf"^json_dumps: {re.escape(where)}"):
        json_dumps(value)


def test_nesting_is_bounded() -> None:
    v: Any = 1
    for _ in range(32):
        v = [v]
    assert json.loads(json_dumps(v)) == v
    with pytest.raises(ValueError, match="nested deeper than 32"):
        json_dumps([v])
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match=r"^json_dumps: \[0\]\[0\].*nested deeper"):
        json_dumps(cyclic)


def test_a_str_that_is_not_utf8_is_written_with_a_replacement_not_refused() -> None:
    # A lone surrogate (bytes decoded with surrogateescape, e.g. a broker's reject text) must
    # not stop the whole document: the dashboard shows U+FFFD in its place.
    bad = b"rejected \xff".decode("utf-8", "surrogateescape")
    back = json.loads(json_dumps({"reason": bad, bad: 1}))
    (key,) = (k for k in back if k != "reason")
    for text in (back["reason"], key):
        assert text.startswith("rejected \ufffd") and set(text[9:]) == {"\ufffd"}
    assert back[key] == 1
