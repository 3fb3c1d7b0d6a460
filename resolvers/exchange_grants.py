"""The grant an exchange or database-access job runs under: the caller's own, in force, allowing the mode;
and decisions with exactly that grant in play.

Shared by exports (exchanges), their runner (exchange_runs) and database access, which must all refuse
and decide the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from govshare.core.errors import BadRequest, Forbidden, NotFound
from govshare.federation.nodes import NodePools
from govshare.policies.decisions import AccessDecider, PolicyEngine
from govshare.policies.grants import Grant

from .grants import effective_state
from .specs import DataResourceSpec

SELECT_GRANT = """select id, grantee_department, resource_code, items, purpose, valid_from, valid_until, row_scope,
    status, share_modes from grants where id = $1"""


def spec_of(specs: Sequence[DataResourceSpec], resource: str) -> DataResourceSpec:
    for spec in specs:
        if spec.code == resource:
            return spec
    raise BadRequest(f"resource {resource} is not served (not published, or it has no data location)",
                     field="grantId")


async def usable_grant(pools: NodePools, department: str, grant_id: int, mode: str, now: datetime) -> Any:
    """The caller's own grant, allowing ``mode``, in force now; otherwise a clear refusal."""
    rows = await pools.fetch(pools.topology.region.database_node, f"{mode}.grant", SELECT_GRANT, grant_id)
    if not rows or rows[0]["grantee_department"] != department:
        raise NotFound(f"your department holds no grant {grant_id}", field="grantId")
    row = rows[0]
    if mode not in row["share_modes"]:
        raise Forbidden(f"grant {grant_id} does not allow the {mode.upper()} share mode (it allows "
                        f"{', '.join(m.upper() for m in row['share_modes'])}); request it with a share request",
                        reason="SHARE_MODE_NOT_GRANTED", shareModes=[m.upper() for m in row["share_modes"]])
    state = effective_state(row, now)
    if state != "active":
        raise Forbidden(f"grant {grant_id} is {state}", reason=f"GRANT_{state.upper()}")
    return row


def decider_for(engine: PolicyEngine, department: str, grant_row: Any, now: datetime) -> AccessDecider:
    """Decisions with exactly this grant in play (no other grant of the department opens anything here)."""
    grant = Grant.from_row(grant_row)

    async def source(_department: str, _resource: str, _known: int) -> tuple[int, list[Grant]]:
        # The job's own grant row, not the grants cache: its audit records carry no access version (0).
        return 0, [grant]

    return AccessDecider(engine, department, source, now)
