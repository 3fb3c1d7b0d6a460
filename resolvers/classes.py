"""Changing a data item's share class (NOT_SHARED cites a legal basis, CONDITIONAL states a condition).

The item lives in its resource's node database; the history row and the audit record in the region's.
The node's transaction commits last, after the region's (history and audit) has committed: a node
failure in between leaves a recorded attempt, never an unrecorded change.
"""

from __future__ import annotations

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.nodes import NODE_ERRORS
from govshare.policies.authority import Action
from govshare.policies.changes import Change, checked_reason

from . import validation
from .administration import Admin, recorded, region_transaction

UPDATE_ITEM = """update data_items set share_class = $3, share_condition = $4, legal_basis = $5
    where resource_code = $1 and name = $2
    returning share_class, share_condition, legal_basis"""
MAX_TEXT = 1000


def _text(value: str | None, field: str) -> str | None:
    text = " ".join((value or "").split()) or None
    if text is not None and (len(text) > MAX_TEXT or "\x00" in text):
        raise BadRequest(f"{field} must be at most {MAX_TEXT} characters of text", field=field)
    return text


async def reclassify(admin: Admin, resource: str, item: str, share_class: str, condition: str | None,
                     legal_basis: str | None, reason: str, *, reverts: int | None = None) -> Change:
    why = checked_reason(reason)
    chosen = validation.share_class(share_class)
    condition, legal_basis = _text(condition, "condition"), _text(legal_basis, "legalBasis")
    if chosen == "NOT_SHARED" and legal_basis is None:
        raise BadRequest("NOT_SHARED requires the legal basis (law or regulation) that forbids sharing",
                         field="legalBasis")
    if chosen == "CONDITIONAL" and condition is None:
        raise BadRequest("CONDITIONAL requires the condition under which the item is shared", field="condition")
    found = await validation.resource(admin.pools, resource)
    known = validation.item(found, item)
    admin.authority.require(Action.POLICY_WRITE, found.node)
    after_condition = condition if chosen == "CONDITIONAL" else None
    after_basis = legal_basis if chosen == "NOT_SHARED" else None
    before = {"shareClass": known.share_class, "condition": known.condition, "legalBasis": known.legal_basis}
    after = {"shareClass": chosen, "condition": after_condition, "legalBasis": after_basis}
    if before == after:
        raise BadRequest(f"item {item} of {resource} is already {chosen} with that text", field="shareClass")
    database = admin.pools.topology.node(found.node).database_node
    try:
        async with admin.pools.pool(found.node).acquire() as node_conn, node_conn.transaction():
            await node_conn.fetchrow(UPDATE_ITEM, found.code, item, chosen, after_condition, after_basis)
            async with region_transaction(admin) as conn:
                change = await recorded(admin, conn, "class", "reclassify", found.node, reason=why,
                                        resource=found.code, before={"item": item, **before},
                                        after={"item": item, **after}, reverts=reverts)
    except NODE_ERRORS as exc:
        raise NodeUnavailable(database, type(exc).__name__) from exc
    return change
