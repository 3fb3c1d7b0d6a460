"""previewPolicyChange: the decisions a change would turn, before anything is stored."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from govshare.resolvers import previews
from govshare.resolvers.context import Context

from .common import ShareClass
from .rules import RuleInput


@strawberry.input(description="An item's proposed share class.")
class ReclassifyInput:
    resource: str
    item: str
    share_class: ShareClass


@strawberry.type
class PreviewOutcome:
    allowed: bool
    reason: str | None


@strawberry.type(description="One decision that would change, for every department listed.")
class PreviewChange:
    departments: list[str]
    resource: str
    item: str
    action: str
    grant_state: str
    share_class_before: str
    share_class_after: str
    before: PreviewOutcome
    after: PreviewOutcome


@strawberry.type
class PolicyPreview:
    total_changes: int = strawberry.field(description="Changed (department, resource, item, action, grant state) "
                                                     "decisions; `changes` lists at most `limit` of them grouped.")
    departments_considered: int
    items_considered: int
    elapsed_ms: float
    unavailable_databases: list[str]
    changes: list[PreviewChange]


def _outcome(o: previews.Outcome) -> PreviewOutcome:
    return PreviewOutcome(allowed=o.allowed, reason=o.reason.value if o.reason else None)


@strawberry.type
class PreviewQuery:
    @strawberry.field(description="Which decisions adding rules, removing rules (ids) and reclassifying items "
                                  "would change, from what to what; nothing is stored (policy.read).")
    async def preview_policy_change(self, info: Info[Context, None], add: list[RuleInput] | None = None,
                                    remove: list[int] | None = None,
                                    reclassify: list[ReclassifyInput] | None = None,
                                    limit: int = 200) -> PolicyPreview:
        found = await previews.preview(
            info.context.admin(), info.context.engine, [r.to_rule() for r in add or []], remove or [],
            [previews.Reclassification(r.resource, r.item, r.share_class.value) for r in reclassify or []],
            max(0, min(limit, 2000)))
        return PolicyPreview(
            total_changes=found.total, departments_considered=found.departments, items_considered=found.items,
            elapsed_ms=round(found.seconds * 1000, 1), unavailable_databases=found.unavailable,
            changes=[PreviewChange(departments=c.departments, resource=c.resource, item=c.item, action=c.action,
                                   grant_state=c.grant_state, share_class_before=c.share_class_before,
                                   share_class_after=c.share_class_after, before=_outcome(c.before),
                                   after=_outcome(c.after)) for c in found.changes])
