"""A page's cursors are encoded only when read, and read the same as the eager encoding."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from govshare.resolvers.data_cursors import Cursors, decode_cursor, encode_cursor
from govshare.resolvers.data_requests import Order
from govshare.resolvers.specs import DataItemSpec, DataResourceSpec

ROWS: list[dict[str, Any]] = [
    {"node_code": "650100", "row_id": 7, "birth_date": date(1980, 1, 2), "name": "阿依古丽"},
    {"node_code": "650200", "row_id": 3, "birth_date": None, "name": "王芳"},
]
ITEMS = (DataItemSpec("name", "text", "UNCONDITIONAL", None, None, False, {}),
         DataItemSpec("birth_date", "date", "CONDITIONAL", "grant", None, False, {}))
SPEC = DataResourceSpec("650000-B01-000001", "650000", "population", "population", "all_nodes", "650000-GA",
                        {}, "", ITEMS)


@pytest.mark.parametrize("order", [Order(), Order("birth_date", True), Order("name")])
def test_lazy_cursors_equal_the_eager_encoding_and_decode(order: Order) -> None:
    cursors = Cursors(order, [(r["node_code"], r["row_id"], r[order.item] if order.item else None) for r in ROWS])
    assert cursors._encoded == {}  # nothing encoded until read
    assert cursors[-1] == encode_cursor(order, ROWS[-1])
    assert list(cursors._encoded) == [1]
    assert list(cursors) == [encode_cursor(order, r) for r in ROWS] == cursors[0:2]
    for cursor, row in zip(cursors, ROWS, strict=True):
        decoded = decode_cursor(cursor, order, SPEC)
        assert (decoded["n"], decoded["r"]) == (row["node_code"], row["row_id"])
        if order.item:
            assert decoded["v"] == row[order.item]
    with pytest.raises(IndexError):
        cursors[2]
