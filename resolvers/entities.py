"""Federation entity representations: checked before any SQL, then resolved in batches.

A gateway sends ``{"__typename": ..., <key field>: ...}`` objects that it took from another subgraph's
answer: they are untrusted input like any argument. Each one is checked on its own (an error for one
leaves the others' entities intact); the batch as a whole is bounded like any list input.
Records of shared data are looked up by their natural key through the same data query as the
generated root fields (``shared_data.read``): field decisions, purpose, grants, row scope, fan-out
and the audit record apply unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govshare.core.errors import BadRequest, LimitExceeded
from govshare.policies.decisions import Decision

from . import shared_data
from .specs import DataResourceSpec

MAX_REPRESENTATIONS = 100
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Representation:
    index: int
    typename: str
    key: Any


def _shown(value: str) -> str:
    return repr(value[:64] + ("…" if len(value) > 64 else ""))


def _malformed(index: int, message: str, reason: str = "MALFORMED_REPRESENTATION", **extra: Any) -> BadRequest:
    return BadRequest(f"representation {index}: {message}", reason=reason, representation=index, **extra)


def parse(representations: Sequence[Any], key_fields: Mapping[str, tuple[str, str]]
          ) -> list[Representation | BadRequest]:
    """Check each representation against ``key_fields`` (type name -> (key field, data type)).

    Too many representations refuse the whole batch; anything else is an error for that one only.
    """
    if len(representations) > MAX_REPRESENTATIONS:
        raise LimitExceeded(f"_entities: {len(representations)} representations; at most {MAX_REPRESENTATIONS}",
                            limit="maxRepresentations", maximum=MAX_REPRESENTATIONS)
    parsed: list[Representation | BadRequest] = []
    for index, representation in enumerate(representations):
        parsed.append(_one(index, representation, key_fields))
    return parsed


def _one(index: int, representation: Any, key_fields: Mapping[str, tuple[str, str]]
         ) -> Representation | BadRequest:
    if not isinstance(representation, dict):
        return _malformed(index, "must be an object with __typename and the key field")
    typename = representation.get("__typename")
    if not isinstance(typename, str):
        return _malformed(index, "has no __typename string")
    known = key_fields.get(typename)
    if known is None:
        return _malformed(index, f"{_shown(typename)} is not an entity type of this subgraph (entities: "
                                 f"{', '.join(sorted(key_fields))})", "UNKNOWN_TYPENAME")
    field, data_type = known
    value = representation.get(field)
    if value is None:
        return _malformed(index, f"{typename} needs its key field {field!r}", "MISSING_KEY", key=field)
    # Keys reach SQL as parameters: check them first (a NUL or an overlong text is refused here, not by
    # the server).
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH or "\x00" in value:
        return _malformed(index, f"{typename}.{field} must be a non-empty string of at most "
                                 f"{MAX_KEY_LENGTH} characters", key=field)
    try:
        typed = shared_data.convert(value, data_type)
    except ValueError:
        return _malformed(index, f"{typename}.{field} is not a valid {data_type}", key=field)
    return Representation(index, typename, typed)


@dataclass
class RecordBatch:
    """Rows found by key (first row per key, in the neutral order), plus what the data query reported."""

    rows: dict[Any, dict[str, Any]]
    denied: list[Decision]
    unavailable: list[str]


async def records_by_key(caller: shared_data.Caller, spec: DataResourceSpec, selected: list[str],
                         keys: list[Any], purpose: str | None) -> RecordBatch:
    """One data query for all ``keys`` of one resource: ``key in (...)`` is a filter on the key item,
    so a caller who may not filter by it directly is refused here too (``RefusedQuery``)."""
    key = spec.key
    request = shared_data.DataRequest(
        spec, list(dict.fromkeys([key, *selected])), [shared_data.Condition(key, "in", list(dict.fromkeys(keys)))],
        shared_data.Order(), shared_data.MAX_FIRST, None, None, purpose)
    page = await shared_data.read(caller, request)
    rows: dict[Any, dict[str, Any]] = {}
    for row in page.rows:
        rows.setdefault(row[key], row)
    return RecordBatch(rows, page.denied, page.unavailable)
