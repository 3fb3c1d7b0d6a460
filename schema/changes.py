"""The history of policy changes as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from govshare.policies.changes import Change


@strawberry.enum(description="What a policy change touched.")
class ChangeKind(Enum):
    RULE = "rule"
    CLASS = "class"
    ROLE = "role"
    GRANT = "grant"
    GROUP = "group"


@strawberry.type(description="One administrative change: who, when, before, after, why.")
class PolicyChange:
    id: int
    at: datetime
    actor: str
    actor_department: str
    kind: ChangeKind
    operation: str
    domain: str = strawberry.field(description="The node whose administrators own what changed.")
    resource: str | None
    department: str | None
    before: JSON | None
    after: JSON | None
    reason: str
    reverts: int | None = strawberry.field(description="The change this one reverted, if any.")

    @classmethod
    def of(cls, change: Change) -> PolicyChange:
        return cls(id=change.id, at=change.at, actor=change.actor, actor_department=change.actor_department,
                   kind=ChangeKind(change.kind), operation=change.operation, domain=change.domain,
                   resource=change.resource, department=change.department, before=change.before,
                   after=change.after, reason=change.reason, reverts=change.reverts)
