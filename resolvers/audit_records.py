"""Audit records and their keyed hash chain: the canonical bytes a record's HMAC covers.

Kept apart from the trail that appends them so that verification and checkpoints hash exactly as the
appender does, without importing the appender. The HMAC key never reaches a database: hashes are
computed here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

ZERO_HASH = "0" * 64
KEYED = "hmac-sha256"
# Lanes 0..63 (migration 0028): one chain per writer process; 0 is the CLI's and any unleased writer's.
LANES = 64


@dataclass
class AuditRecord:
    request_id: str
    user: str
    department: str
    action: str
    purpose: str | None
    resource: str
    grant_ids: Sequence[int] = ()
    items_returned: Sequence[str] = ()
    items_denied: Sequence[str] = ()
    # The reason each denied item was denied, in the order of items_denied (policies.decisions.Reason);
    # kept in the record's detail ("denied_reasons"), which the HMAC covers.
    denied_reasons: Sequence[str] = ()
    row_count: int = 0
    nodes: Sequence[str] = field(default_factory=list)
    outcome: str = "ok"
    client_request_id: str | None = None
    # Beyond a query's columns (an export's file digest, format, job, watermark); under the HMAC when set.
    detail: dict[str, Any] | None = None
    # The access version the decisions behind this record were made under (AccessDecider.version): the
    # record is written only while it is current. Not part of the record itself.
    access_version: int | None = None

    def __post_init__(self) -> None:
        problem = None if self.detail is None else detail_problem(self.detail)
        if problem is not None:
            raise ValueError(problem)


class AccessChanged(Exception):
    """Rules or grants changed after the request decided: its record was not written; decide again."""

    def __init__(self, version: int) -> None:
        super().__init__(f"access version is now {version}")
        self.version = version



def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(seq: int, at: datetime | str, record: dict[str, Any], lane: int = 0) -> bytes:
    """The canonical bytes a record's HMAC covers (every field but the hashes and the global seq, which
    the database assigns at insert); ``seq`` is the record's lane_seq, ``at`` a datetime or already its
    utc_text. Lane 0 hashes exactly as the single chain of before migration 0028 did; other lanes add
    their number, so a record cannot be moved to another lane."""
    body: dict[str, Any] = {"seq": seq, "at": at if isinstance(at, str) else utc_text(at), "request_id": record["request_id"],
            "client_request_id": record["client_request_id"], "user_id": record["user_id"],
            "department": record["department"], "action": record["action"], "purpose": record["purpose"],
            "grant_ids": [int(g) for g in record["grant_ids"]], "resource": record["resource"],
            "items_returned": list(record["items_returned"]), "items_denied": list(record["items_denied"]),
            "row_count": int(record["row_count"]), "nodes": list(record["nodes"]), "outcome": record["outcome"]}
    if lane:
        body["lane"] = lane
    detail = record.get("detail")
    if isinstance(detail, str):  # jsonb as read back from the database
        detail = json.loads(detail)
    if detail is not None:  # records without details hash exactly as before migration 0021
        body["detail"] = detail
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(key: bytes, prev_hash: str, body: bytes) -> str:
    return hmac.new(key, prev_hash.encode() + b"|" + body, hashlib.sha256).hexdigest()


def record_fields(record: AuditRecord) -> dict[str, Any]:
    return {"request_id": record.request_id, "client_request_id": record.client_request_id,
            "user_id": record.user, "department": record.department, "action": record.action,
            "purpose": record.purpose, "grant_ids": list(record.grant_ids), "resource": record.resource,
            "items_returned": list(record.items_returned), "items_denied": list(record.items_denied),
            "row_count": record.row_count, "nodes": list(record.nodes), "outcome": record.outcome,
            "detail": _detail(record)}


# One record as the append takes it (migration 0040's audit_entry, in its attributes' order): sent in binary,
# so the region's server converts no text. Only the transport: the HMAC covers payload()'s canonical bytes.
Entry = tuple[int, datetime, str, str | None, str, str, str, str | None, list[int], str, list[str], list[str], int,
              list[str], str, str, str, str | None]


def entry(fields: dict[str, Any], lane_seq: int, at: datetime, prev_hash: str, hash_: str) -> Entry:
    """The audit_entry of a record (``fields`` as record_fields gives them)."""
    detail = fields["detail"]
    return (lane_seq, at, fields["request_id"], fields["client_request_id"], fields["user_id"], fields["department"],
            fields["action"], fields["purpose"], fields["grant_ids"], fields["resource"], fields["items_returned"],
            fields["items_denied"], fields["row_count"], fields["nodes"], fields["outcome"], prev_hash, hash_,
            None if detail is None else orjson.dumps(detail).decode())


def _detail(record: AuditRecord) -> dict[str, Any] | None:
    if not record.denied_reasons:
        return record.detail
    return {**(record.detail or {}), "denied_reasons": list(record.denied_reasons)}


INT4 = range(-2**31, 2**31)
INT8 = range(-2**63, 2**63)


def detail_problem(value: object, where: str = "detail") -> str | None:
    """Why ``value`` cannot be a record's detail, or None. The HMAC covers the detail as json.dumps writes it,
    and verify hashes it as jsonb gives it back: only strings, integers, booleans, null, lists and objects
    with string keys come back as they were hashed. A float does not (jsonb keeps numbers as numeric: 1e16
    comes back as 10000000000000000, -0.0 as -0, NaN is sent as null), so an untouched record would be
    reported rewritten; a NUL is refused by jsonb, an integer beyond 64 bits by the append's encoding."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):  # orjson (the append's encoding) writes integers of 64 bits only
        return None if value in INT8 else f"{where} holds an integer beyond 64 bits"
    if isinstance(value, str):
        return f"{where} holds a NUL character or a lone surrogate" if "\x00" in value or not _encodable(value) \
            else None
    if isinstance(value, dict):
        for name, inner in value.items():
            if not isinstance(name, str):
                return f"{where} has a key that is not a string: {name!r}"
            problem = detail_problem(inner, f"{where}.{name}")
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for n, inner in enumerate(value):
            problem = detail_problem(inner, f"{where}[{n}]")
            if problem is not None:
                return problem
        return None
    return (f"{where} holds a {type(value).__name__}: a detail holds strings, integers, booleans, null, lists and "
            "objects only (jsonb would give anything else back other than it was hashed)")


def refused_value(record: AuditRecord) -> str | None:
    """A value of ``record`` the region's server refuses (a NUL in a text, an integer beyond its column), or
    None: after a batch was refused, such records are failed alone without a statement of their own."""
    texts = [record.request_id, record.client_request_id, record.user, record.department, record.action,
             record.purpose, record.resource, record.outcome, *record.items_returned, *record.items_denied,
             *record.nodes, *record.denied_reasons]
    if any(text is not None and ("\x00" in text or not _encodable(text)) for text in texts):
        return "a text holds a NUL character or a lone surrogate"
    if record.row_count not in INT4 or any(grant not in INT8 for grant in record.grant_ids):
        return "a number is beyond its column"
    return None if record.detail is None else detail_problem(record.detail)


def _encodable(text: str) -> bool:
    """Whether ``text`` is UTF-8 (a lone surrogate is not: the record could not be hashed)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
