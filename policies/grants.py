"""Grants (共享授权): which conditional items a department may read, for what purpose, until when."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

# Queries and verification are the interface (query API) share mode: a grant for bulk exchange or
# database access only does not open them.
SELECT_GRANTS = """select id, grantee_department, resource_code, items, purpose, valid_from, valid_until,
    row_scope, status from grants where grantee_department = $1 and resource_code = any($2::text[])
    and 'interface' = any(share_modes)"""


class GrantState(Enum):
    ACTIVE = "active"
    NONE = "none"
    PURPOSE_MISSING = "purpose_missing"
    PURPOSE_MISMATCH = "purpose_mismatch"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Grant:
    id: int
    department: str
    resource: str
    items: frozenset[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    division_codes: frozenset[str] | None
    status: str

    @classmethod
    def from_row(cls, row: Any) -> Grant:
        scope = row["row_scope"]
        if isinstance(scope, str):
            scope = json.loads(scope)
        divisions = scope.get("division_codes") if isinstance(scope, dict) else None
        return cls(row["id"], row["grantee_department"], row["resource_code"], frozenset(row["items"]),
                   row["purpose"], row["valid_from"], row["valid_until"],
                   frozenset(divisions) if divisions is not None else None, row["status"])


def normalise_purpose(purpose: str | None) -> str | None:
    if purpose is None:
        return None
    stripped = " ".join(purpose.split())
    return stripped or None


def grant_state(grants: Sequence[Grant], item: str, purpose: str | None, now: datetime
                ) -> tuple[GrantState, Grant | None]:
    """The state of ``item``'s grants for ``purpose`` at ``now``; the usable grant when ACTIVE.

    The most specific failure is reported: no grant at all, then a missing or different purpose,
    then why a grant for the same purpose does not hold (not yet valid, expired, revoked).
    """
    candidates = [g for g in grants if item in g.items]
    if not candidates:
        return GrantState.NONE, None
    if purpose is None:
        return GrantState.PURPOSE_MISSING, None
    matching = [g for g in candidates if g.purpose == purpose]
    if not matching:
        return GrantState.PURPOSE_MISMATCH, None
    usable = [g for g in matching if g.status == "active" and g.valid_from <= now < g.valid_until]
    if usable:
        # Prefer an unscoped grant, then the widest scope; ties by id for a stable choice.
        usable.sort(key=lambda g: (g.division_codes is not None, -len(g.division_codes or ()), g.id))
        return GrantState.ACTIVE, usable[0]
    active = [g for g in matching if g.status == "active"]
    if any(g.valid_from > now for g in active):
        return GrantState.NOT_YET_VALID, None
    if active:
        return GrantState.EXPIRED, None
    return GrantState.REVOKED, None
