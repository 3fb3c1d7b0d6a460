"""Access rules: the query with filters and the add/remove mutations."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from govshare.policies.rules import Rule
from govshare.resolvers import rules
from govshare.resolvers.context import Context

from .changes import PolicyChange
from .common import ShareClass

SUBJECT_HELP = ("'*', a department code (650100-MZ) or a department group: kind:MZ, level:county, "
                "node:650100, group:<name>")


@strawberry.enum(description="What a rule does when it matches: deny wins over allow.")
class RuleEffect(Enum):
    ALLOW = "allow"
    DENY = "deny"


@strawberry.enum(description="What a department does with an item.")
class DataAction(Enum):
    READ = "read"
    VERIFY = "verify"


@strawberry.enum(description="The state of a department's grants for an item, for a stated purpose.")
class GrantStateValue(Enum):
    ACTIVE = "active"
    NONE = "none"
    PURPOSE_MISSING = "purpose_missing"
    PURPOSE_MISMATCH = "purpose_mismatch"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@strawberry.type(description="An access rule (p, subject, resource, item, class, action, grant state, effect). "
                             "'*' matches anything; resource and item may be keyMatch patterns.")
class AccessRule:
    id: int
    subject: str
    resource: str
    item: str
    share_class: str
    action: str
    grant_state: str
    effect: str
    domain: str = strawberry.field(description="The node whose policy admins own this rule.")
    loaded: bool = strawberry.field(description="False: the stored row cannot be enforced and is skipped.")
    problem: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, rule: Rule, domain: str, loaded: bool = True, problem: str | None = None,
           note: str | None = None) -> AccessRule:
        return cls(id=rule.id or 0, subject=rule.subject, resource=rule.resource, item=rule.item,
                   share_class=rule.share_class, action=rule.action, grant_state=rule.grant, effect=rule.effect,
                   domain=domain, loaded=loaded, problem=problem, note=note)


@strawberry.input(description="A new access rule. Null class, action or grant state: any ('*').")
class RuleInput:
    subject: str = strawberry.field(description=SUBJECT_HELP)
    resource: str = strawberry.field(description="A resource code or a pattern with *, e.g. 650100-*")
    item: str = strawberry.field(default="*", description="An item name or a pattern with *")
    share_class: ShareClass | None = None
    action: DataAction | None = None
    grant_state: GrantStateValue | None = None
    effect: RuleEffect = RuleEffect.ALLOW

    def to_rule(self) -> Rule:
        return Rule(self.subject, self.resource, self.item,
                    self.share_class.value if self.share_class else "*",
                    self.action.value if self.action else "*",
                    self.grant_state.value if self.grant_state else "*", self.effect.value)


@strawberry.input(description="Filters of the rule list; all optional, combined with AND.")
class RuleFilterInput:
    subject: str | None = strawberry.field(default=None, description="Exactly this subject.")
    applies_to: str | None = strawberry.field(
        default=None, description="Rules that apply to this department: named, by one of its groups, or *.")
    resource: str | None = strawberry.field(default=None, description="Rules whose resource matches this code.")
    item: str | None = None
    action: DataAction | None = None
    effect: RuleEffect | None = None

    def to_domain(self) -> rules.RuleFilter:
        return rules.RuleFilter(self.subject, self.applies_to, self.resource, self.item,
                                self.action.value if self.action else None,
                                self.effect.value if self.effect else None)


@strawberry.type
class RuleChange:
    rule: AccessRule
    change: PolicyChange


async def access_rules(info: Info[Context, None], filter: RuleFilterInput | None = None) -> list[AccessRule]:
    found = await rules.listed(info.context.admin(), info.context.engine,
                               (filter or RuleFilterInput()).to_domain())
    return [AccessRule.of(r.rule, r.domain, r.loaded, r.problem, r.note) for r in found]


@strawberry.type
class RuleQuery:
    access_rules: list[AccessRule] = strawberry.field(
        resolver=access_rules, description="Live access rules in the domains where you have policy.read.")


@strawberry.type
class RuleMutation:
    @strawberry.mutation(description="Add an access rule (policy.write in the rule's domain: its resource's node).")
    async def add_rule(self, info: Info[Context, None], rule: RuleInput, reason: str,
                       note: str | None = None) -> RuleChange:
        stored, change = await rules.add(info.context.admin(), info.context.engine, rule.to_rule(), reason, note)
        return RuleChange(rule=AccessRule.of(stored, change.domain, note=note),
                          change=PolicyChange.of(change))

    @strawberry.mutation(description="Remove an access rule (kept in the history; revert re-adds it).")
    async def remove_rule(self, info: Info[Context, None], id: int, reason: str) -> RuleChange:
        removed, change = await rules.remove(info.context.admin(), id, reason)
        return RuleChange(rule=AccessRule.of(removed, change.domain), change=PolicyChange.of(change))
