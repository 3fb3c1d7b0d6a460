"""Grants held by the caller's department, with the days of validity left: what ``myGrants`` shows.

Separate from the request workflow because a grant outlives its request (and grants made by
``grant create`` have no request at all): this reads the grants table, whatever made the grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from govshare.policies.workdays import china_date

from .. import grants as grant_store
from .steps import Step

SELECT_DEPARTMENT_GRANTS = """select id, resource_code, items, purpose, valid_from, valid_until, status, share_modes,
    request_id, row_scope from grants where grantee_department = $1 order by id desc limit 500"""


@dataclass(frozen=True)
class HeldGrant:
    """A grant held by the caller's department, with its remaining validity."""

    id: int
    resource: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    state: str
    share_modes: list[str]
    request_id: int | None
    remaining_days: int


async def held_grants(step: Step) -> list[HeldGrant]:
    rows = await step.admin.pools.fetch(step.admin.region_database, "requests.grants", SELECT_DEPARTMENT_GRANTS,
                                        step.department)
    today = china_date(step.now)
    found: list[HeldGrant] = []
    for r in rows:
        state = grant_store.effective_state(r, step.now)
        # valid_until is exclusive (00:00 CST after the last valid day): days left, today included.
        last_day = china_date(r["valid_until"] - timedelta(microseconds=1))
        remaining = (last_day - today).days + 1 if state == "active" else 0
        found.append(HeldGrant(r["id"], r["resource_code"], list(r["items"]), r["purpose"], r["valid_from"],
                               r["valid_until"], state, list(r["share_modes"]), r["request_id"], max(remaining, 0)))
    return found
