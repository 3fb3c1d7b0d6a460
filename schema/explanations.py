"""explain: the decision for (department, resource, item, action, purpose, at), with its reasons."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from govshare.policies.rules import admin_domain
from govshare.resolvers import explanations
from govshare.resolvers.context import Context

from .common import ShareClass
from .rules import AccessRule, DataAction, GrantStateValue


@strawberry.type(description="The grant that applied to a decision.")
class AppliedGrant:
    id: int
    purpose: str
    valid_from: datetime
    valid_until: datetime
    divisions: list[str] | None


@strawberry.type(description="Why a department may (not) use an item: the same answer a real query gives.")
class AccessExplanation:
    department: str
    resource: str
    item: str
    action: DataAction
    allowed: bool
    reason: str | None = strawberry.field(description="As in FIELD_FORBIDDEN: NOT_SHARED, NO_GRANT, ...")
    share_class: ShareClass
    condition: str | None
    legal_basis: str | None
    grant_state: GrantStateValue
    grant: AppliedGrant | None
    row_scope: list[str] | None
    matched_rules: list[AccessRule] = strawberry.field(description="Every rule that matched, allow and deny.")
    how_to_request: str | None
    at: datetime


@strawberry.type
class ExplanationQuery:
    @strawberry.field(description="Why may DEPARTMENT (not) read or verify ITEM of RESOURCE for PURPOSE at AT "
                                  "(default now; a past AT uses the rules, grants and item classes of then)? "
                                  "Your own department: anyone; others: policy.read in the resource's domain. `nodes` as in a data query's filter (row scopes).")
    async def explain(self, info: Info[Context, None], department: str, resource: str, item: str,
                      action: DataAction = DataAction.READ, purpose: str | None = None,
                      at: datetime | None = None, nodes: list[str] | None = None) -> AccessExplanation:
        found = await explanations.explain(info.context.admin(), info.context.engine, department, resource, item,
                                           action.value, purpose, at, nodes)
        decision, grant, region = found.decision, found.decision.grant, info.context.topology.region.code
        policy = decision.policy
        return AccessExplanation(
            department=found.department, resource=policy.resource, item=policy.item, action=action,
            allowed=decision.allowed, reason=decision.reason.value if decision.reason else None,
            share_class=ShareClass(policy.share_class), condition=policy.condition, legal_basis=policy.legal_basis,
            grant_state=GrantStateValue(found.grant_state.value),
            grant=AppliedGrant(id=grant.id, purpose=grant.purpose, valid_from=grant.valid_from,
                               valid_until=grant.valid_until,
                               divisions=sorted(grant.division_codes) if grant.division_codes is not None else None)
            if grant is not None else None,
            row_scope=found.row_scope,
            matched_rules=[AccessRule.of(r, admin_domain(r, region)) for r in found.matched],
            how_to_request=decision.how_to_request(), at=found.at)
