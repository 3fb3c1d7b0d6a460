"""Opaque keyset cursors and the k-way merge of per-node pages."""

from __future__ import annotations

import base64
import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from core.errors import BadRequest

T = TypeVar("T")
MAX_FIRST = 100
_PREFIX = "gs1:"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("'after' is not a cursor returned by this API") from exc
    if not raw.startswith(_PREFIX):
        raise BadRequest("'after' is not a cursor returned by this API")
    return raw.removeprefix(_PREFIX)


def clamp_first(first: int, maximum: int = MAX_FIRST) -> int:
    if first < 0:
        raise BadRequest("'first' must not be negative")
    return min(first, maximum)


def merge_pages(pages: Iterable[Sequence[T]], key: Callable[[T], str], first: int) -> tuple[list[T], bool]:
    """Merge pages already sorted by ``key``; return the first ``first`` rows and whether more exist.

    Each page must hold up to ``first + 1`` rows past the cursor, so any row beyond the merged
    ``first`` proves a next page without asking the nodes again.
    """
    merged = list(heapq.merge(*pages, key=key))
    return merged[:first], len(merged) > first
