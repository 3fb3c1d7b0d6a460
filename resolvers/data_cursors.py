"""Cursors of shared-data pages: a row's place in the caller's order (never a denied value), one
position per database so a database that lagged is resumed where it was; and the merge keys."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, overload

import orjson

from govshare.core.errors import BadRequest
from govshare.federation.pagination import DATABASE_CODE, Positions, Resumable

from .data_requests import Order
from .specs import DataResourceSpec
from .values import check as check_value

Key = tuple[str, int, Any]  # (node_code, row_id, value of the ordering item): a row's place in the order


class Cursors(Sequence[str]):
    """A page's cursors, encoded only when read: most queries select rows, not edges, and a
    1,000-row page would otherwise encode 1,000 cursors for at most one ``endCursor``.

    Each cursor holds the row's key and, only when some database lags behind it (it did not answer,
    or has not caught up since), that database's own position, so the next page resumes it there."""

    def __init__(self, order: Order, keys: list[Key] | Resumable[Any, Key]) -> None:
        self._order = order
        self._merged = keys if isinstance(keys, Resumable) else None
        self._given = None if isinstance(keys, Resumable) else keys
        self._encoded: dict[int, str] = {}

    @property
    def _keys(self) -> list[Key]:
        # A merge's keys are worked out on the first cursor read, not when the page is made.
        return self._merged.keys if self._merged is not None else self._given or []

    def __len__(self) -> int:
        return len(self._merged.rows) if self._merged is not None else len(self._given or [])

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self))[index]  # IndexError as for a list
        cursor = self._encoded.get(position)
        if cursor is None:
            node, row_id, value = self._keys[position]
            lagging = self._merged.positions(position).lagging if self._merged is not None else {}
            cursor = self._encoded[position] = _encode(self._order, node, row_id, value, lagging)
        return cursor


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def convert(value: Any, data_type: str) -> Any:
    """A JSON or text value as the Python value of an item's data type; ValueError when it is not one."""
    try:
        if data_type == "date":
            return date.fromisoformat(value)
        if data_type == "datetime":
            return datetime.fromisoformat(value)
        if data_type == "decimal":
            return Decimal(value)
        if data_type == "integer":
            return int(value)
    except (TypeError, InvalidOperation) as exc:
        raise ValueError(f"not a {data_type}") from exc
    if data_type == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    return str(value)


def encode_cursor(order: Order, row: Mapping[str, Any]) -> str:
    return _encode(order, row["node_code"], row["row_id"], row[order.item] if order.item is not None else None)


def _encode(order: Order, node: str, row_id: int, value: Any, lagging: Mapping[str, Key | None] | None = None) -> str:
    body: dict[str, Any] = {"o": order.item, "d": order.descending, "n": node, "r": row_id}
    if order.item is not None:
        body["v"] = _jsonable(value)
    if lagging:
        body["x"] = {db: None if p is None else [p[0], p[1], _jsonable(p[2])] for db, p in lagging.items()}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def _position(body: Any, order: Order, spec: DataResourceSpec) -> Key:
    """One (node_code, row_id, value) from a cursor, checked: the database must be able to take it."""
    if not (isinstance(body, list) and len(body) == 3 and isinstance(body[0], str)
            and DATABASE_CODE.fullmatch(body[0]) and isinstance(body[1], int) and not isinstance(body[1], bool)):
        raise ValueError("not a position")
    node, row_id, value = body
    check_value(row_id, "'after'")  # a row id beyond bigint (10^23) is the caller's error, not ours
    if order.item is None:
        return node, row_id, None
    if value is not None:
        value = check_value(convert(value, spec.item(order.item).data_type), "'after'")
    return node, row_id, value


def decode_cursor(cursor: str, order: Order, spec: DataResourceSpec) -> dict[str, Any]:
    """The row a cursor points after (``n``, ``r``, ``v``), and ``positions``: every database's own."""
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (isinstance(body, dict) and body.get("o") == order.item and body.get("d") == order.descending
                 and isinstance(body.get("x", {}), dict))
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest("'after' is not a cursor returned by this API for this ordering")
    try:
        key = _position([body.get("n"), body.get("r"), body.get("v")], order, spec)
        lagging: dict[str, Key | None] = {}
        for db, p in body.get("x", {}).items():
            if not DATABASE_CODE.fullmatch(db):
                raise ValueError("not a database code")
            lagging[db] = None if p is None else _position(p, order, spec)
    except ValueError as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    body["n"], body["r"], body["v"] = key
    body["positions"] = Positions(key, lagging)
    return body  # type: ignore[no-any-return]


class _Desc:
    """Reverses comparison, for merging pages sorted descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _merge_key(order: Order) -> Any:
    """Sort key of a row (or of a position: (node_code, row_id, value)), as the SQL orders them."""
    if order.item is None:
        return lambda r: (r["node_code"], r["row_id"])
    item = order.item

    def key(r: Any) -> tuple[Any, ...]:
        value = r[item]
        if value is None:
            return (1, 0, r["node_code"], r["row_id"])  # NULLS LAST in both directions, as in SQL
        return (0, _Desc(value) if order.descending else value, r["node_code"], r["row_id"])

    return key


def _position_order(order: Order) -> Any:
    row_key = _merge_key(order)
    item = order.item
    return lambda p: row_key({"node_code": p[0], "row_id": p[1], item: p[2]} if item else
                             {"node_code": p[0], "row_id": p[1]})
