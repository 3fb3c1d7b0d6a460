"""Opaque keyset cursors and the k-way merge of per-node pages.

A merged list keeps a position per database: normally every database is at the cursor's own key,
but one that did not answer (or has not caught up since) keeps the position it had, so a later page
resumes it from there instead of skipping the rows it missed. Only those exceptions are written into
the cursor ("lagging"); a cursor of a list where every node always answered is just its key.
"""

from __future__ import annotations

import base64
import functools
import heapq
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, TypeVar

import orjson

from govshare.core.errors import BadRequest

T = TypeVar("T")
K = TypeVar("K")
MAX_FIRST = 100
_PREFIX = "gs1:"
_RESUMABLE = "gs2:"
DATABASE_CODE = re.compile(r"[0-9]{6}")


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    # NUL: no cursor of ours holds one, and PostgreSQL would refuse it as every node's error (an outage)
    if not raw.startswith(_PREFIX) or "\x00" in raw:
        raise BadRequest("'after' is not a cursor returned by this API")
    return raw.removeprefix(_PREFIX)


@dataclass(frozen=True)
class Positions(Generic[K]):
    """Where each database of a merged list stands: ``base`` unless it is ``lagging`` (None: at the start)."""

    base: K | None = None
    lagging: Mapping[str, K | None] = field(default_factory=dict)

    def of(self, database: str) -> K | None:
        return self.lagging.get(database, self.base)


@dataclass
class Resumable(Generic[T, K]):
    """The outcome of merging per-database pages that each started at their own position."""

    rows: list[T]
    has_next: bool
    position: Callable[[T], K]  # a row's key
    # databases that did not answer: (their position before this page)
    behind: dict[str, K | None]
    # databases that answered but started from a position of their own (after an earlier gap)
    ahead: dict[str, K | None]
    order: Callable[[K], Any]

    @functools.cached_property
    def keys(self) -> list[K]:
        """Each row's key, worked out when a cursor is first asked for (most answers select none)."""
        return [self.position(row) for row in self.rows]

    def positions(self, index: int) -> Positions[K]:
        """The positions after the row at ``index``: every database that answered is at that row's key,
        unless it had started beyond it; those that did not answer keep their earlier position."""
        key = self.keys[index]
        lagging: dict[str, K | None] = dict(self.behind)
        if self.ahead:
            rank = self.order(key)
            lagging.update((db, p) for db, p in self.ahead.items() if p is not None and self.order(p) > rank)
        return Positions(key, lagging)


def merge_resumable(pages: Mapping[str, Sequence[T]], failed: Iterable[str], previous: Positions[K],
                    position: Callable[[T], K], order: Callable[[K], Any], first: int) -> Resumable[T, K]:
    """Merge pages (each sorted, each holding up to ``first + 1`` rows past its own position)."""
    # Only the first ``first + 1`` rows of the merge are ever used: stop there (12 pages of 51 rows
    # would otherwise all be merged for a page of 50).
    if len(pages) == 1:  # one database: its page is the merge (no key per row)
        merged = list(next(iter(pages.values()))[:first + 1])
    else:
        merged = list(islice(heapq.merge(*pages.values(), key=lambda row: order(position(row))), first + 1))
    rows = merged[:first]
    ahead = {db: previous.of(db) for db in pages} if previous.lagging else {}
    behind = {db: previous.of(db) for db in failed}
    # A database that did not answer may still hold rows: a page with rows says there may be more, so
    # a client paging "while hasNextPage" asks again and gets them once the node is back. Bounded: a
    # page without rows ends the list (no endCursor), even while a node is still away.
    has_next = len(merged) > first or (bool(behind) and bool(rows))
    return Resumable(rows, has_next, position, behind, ahead, order)


def encode_positions(positions: Positions[str]) -> str:
    """A catalog cursor: its key, plus the databases that lag behind it (only when there are any)."""
    if not positions.lagging:
        return encode_cursor(positions.base or "")
    body = orjson.dumps({"k": positions.base, "x": positions.lagging})
    return base64.urlsafe_b64encode(_RESUMABLE.encode() + body).decode().rstrip("=")


def decode_positions(cursor: str | None) -> Positions[str]:
    """Every database's position from a catalog cursor (any cursor this API returned for a list)."""
    if cursor is None:
        return Positions()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    if "\x00" in raw:  # as in decode_cursor (and in the body below, where JSON may escape it)
        raise BadRequest("'after' is not a cursor returned by this API")
    if not raw.startswith(_RESUMABLE):
        return Positions(decode_cursor(cursor))
    try:
        body = orjson.loads(raw.removeprefix(_RESUMABLE))
    except orjson.JSONDecodeError as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    lagging = body.get("x") if isinstance(body, dict) else None
    if not (isinstance(body, dict) and isinstance(body.get("k"), str) and "\x00" not in body["k"]
            and isinstance(lagging, dict)
            and all(DATABASE_CODE.fullmatch(db) and (p is None or (isinstance(p, str) and "\x00" not in p))
                    for db, p in lagging.items())):
        raise BadRequest("'after' is not a cursor returned by this API")
    return Positions(body["k"], lagging)


def clamp_first(first: int, maximum: int = MAX_FIRST) -> int:
    if first < 0:
        raise BadRequest("'first' must not be negative")
    return min(first, maximum)


def merge_pages(pages: Iterable[Sequence[T]], key: Callable[[T], str], first: int) -> tuple[list[T], bool]:
    """Merge pages already sorted by ``key``; return the first ``first`` rows and whether more exist.

    Each page must hold up to ``first + 1`` rows past the cursor, so any row beyond the merged
    ``first`` proves a next page without asking the nodes again.
    """
    merged = list(islice(heapq.merge(*pages, key=key), first + 1))
    return merged[:first], len(merged) > first
