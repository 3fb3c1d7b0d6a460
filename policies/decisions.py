"""Decisions: may this department read (or verify) this item, and if not, why.

``PolicyEngine`` wraps the Casbin enforcer. Casbin's answer is a pure function of the rules and
the request tuple, so it is cached across requests and the cache is dropped whenever the rules are
reloaded. ``AccessDecider`` is built per request: it fetches the caller's grants once per resource,
computes each item's grant state, asks the engine once per (resource, item, action, purpose), and
never per row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import casbin

from .adapter import AsyncpgAdapter
from .grants import Grant, GrantState, grant_state
from .groups import Memberships
from .rules import Rule, SkippedRule, rule_matches

MODEL = Path(__file__).resolve().parent / "model.conf"


class Reason(Enum):
    NOT_SHARED = "NOT_SHARED"
    NO_GRANT = "NO_GRANT"
    GRANT_EXPIRED = "GRANT_EXPIRED"
    GRANT_NOT_YET_VALID = "GRANT_NOT_YET_VALID"
    GRANT_REVOKED = "GRANT_REVOKED"
    PURPOSE_MISMATCH = "PURPOSE_MISMATCH"
    PURPOSE_MISSING = "PURPOSE_MISSING"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    POLICY_DENIED = "POLICY_DENIED"


GRANT_REASONS = {
    GrantState.NONE: Reason.NO_GRANT,
    GrantState.PURPOSE_MISSING: Reason.PURPOSE_MISSING,
    GrantState.PURPOSE_MISMATCH: Reason.PURPOSE_MISMATCH,
    GrantState.NOT_YET_VALID: Reason.GRANT_NOT_YET_VALID,
    GrantState.EXPIRED: Reason.GRANT_EXPIRED,
    GrantState.REVOKED: Reason.GRANT_REVOKED,
}


@dataclass(frozen=True)
class ItemPolicy:
    """What the catalog says about one item: the input of a decision."""

    resource: str
    item: str
    share_class: str
    condition: str | None
    legal_basis: str | None
    provider: str


@dataclass(frozen=True)
class Decision:
    policy: ItemPolicy
    action: str
    allowed: bool
    reason: Reason | None = None
    grant: Grant | None = None
    # The deny rules that decided a POLICY_DENIED (empty: no rule allowed it)
    deny_rules: tuple[Rule, ...] = ()
    region: str = "650000"

    @property
    def item(self) -> str:
        return self.policy.item

    def how_to_request(self) -> str | None:
        """What the caller can do about a denial, fitting its reason."""
        policy = self.policy
        if self.allowed or self.reason is Reason.NOT_SHARED:
            return None
        if self.reason is Reason.POLICY_DENIED:
            domain = policy.resource[:6]
            if self.deny_rules:
                ids = ", ".join(str(r.id) for r in self.deny_rules)
                return (f"denied by access rule {ids} (deny {self.deny_rules[0].subject} on "
                        f"{self.deny_rules[0].resource} / {self.deny_rules[0].item}); a share request cannot "
                        f"lift it: ask the policy admins of domain {domain} (or of the region {self.region}) "
                        f"to review the rule")
            return (f"no access rule allows {self.action} of this item for your department; ask the policy "
                    f"admins of domain {domain} (or of the region {self.region}) for a rule")
        if policy.share_class == "CONDITIONAL":
            return (f"submit a share request (申请共享) to provider {policy.provider} for resource "
                    f"{policy.resource}, item {policy.item}, stating the purpose; then query with that purpose")
        return None


class PolicyEngine:
    """The loaded rules, their Casbin enforcer and a decision cache; replaced whole on reload."""

    def __init__(self, enforcer: Any, memberships: Memberships | None = None, rules: Sequence[Rule] = (),
                 skipped: Sequence[SkippedRule] = ()) -> None:
        self._enforcer = enforcer
        self.memberships = memberships or Memberships("650000")
        self.rules = tuple(rules)
        self.skipped = tuple(skipped)
        enforcer.add_function("memberOf", self._member_of)
        self._cache: dict[tuple[str, ...], bool] = {}
        self.enforce_calls = 0
        # Whole decisions remembered across requests (AccessDecider.decide): valid for these rules only,
        # so dropped with the engine on every reload.
        self.remembered: dict[tuple[Any, ...], Remembered] = {}
        # The access version (migration 0026) read before the rules were: None for engines not loaded
        # from the database (fail-closed empty ones, explain at a past time).
        self.version: int | None = None

    def _member_of(self, department: str, group: str) -> bool:
        return group in self.memberships.groups_of(department)

    @property
    def region(self) -> str:
        return self.memberships.region

    @classmethod
    def empty(cls, region: str) -> PolicyEngine:
        """No rules: every decision is a denial (fail closed) until the rules load."""
        return cls(casbin.AsyncEnforcer(str(MODEL)), Memberships(region))

    @classmethod
    def from_rules(cls, rules: Sequence[Rule], memberships: Memberships) -> PolicyEngine:
        """An engine over given rules, in memory (explain at a past time)."""
        enforcer = casbin.Enforcer(str(MODEL))
        engine = cls(enforcer, memberships, rules)
        for rule in rules:
            enforcer.add_policy(*rule.values())
        return engine

    @classmethod
    async def load(cls, pool: Any, memberships: Memberships | None = None) -> PolicyEngine:
        adapter = AsyncpgAdapter(pool)
        enforcer = casbin.AsyncEnforcer(str(MODEL), adapter)
        engine = cls(enforcer, memberships, (), ())
        await enforcer.load_policy()
        engine.rules, engine.skipped = tuple(adapter.rules), tuple(adapter.skipped)
        return engine

    def allows(self, department: str, resource: str, item: str, share_class: str, action: str,
               state: GrantState) -> bool:
        key = (department, resource, item, share_class, action, state.value)
        cached = self._cache.get(key)
        if cached is None:
            self.enforce_calls += 1
            cached = bool(self._enforcer.enforce(*key))
            self._cache[key] = cached
        return cached

    def matching(self, department: str, resource: str, item: str, share_class: str, action: str,
                 state: GrantState) -> list[Rule]:
        """Every loaded rule that matches the request (allow and deny), in id order."""
        groups = self.memberships.groups_of
        return [r for r in self.rules
                if rule_matches(r, groups, department, resource, item, share_class, action, state.value)]


@dataclass(frozen=True)
class Remembered:
    """The decisions of one (department, action, purpose, items of one resource) under an engine's rules,
    made with one list of grants (None: no conditional item, no grants consulted) at ``since``, and valid
    until a grant among them starts or ends (None: never): a request of an earlier time decides anew."""

    policies: tuple[ItemPolicy, ...]  # what the catalog said of the items (the share class decides too)
    grants: list[Grant] | None
    since: datetime
    until: datetime | None
    decisions: dict[str, Decision]


MAX_REMEMBERED = 4096


def _grants_change(grants: Sequence[Grant], now: datetime) -> datetime | None:
    """The first moment after ``now`` at which one of these grants starts or ends."""
    moments = [m for g in grants for m in (g.valid_from, g.valid_until) if m > now]
    return min(moments) if moments else None


# (department, resource, newest access version the caller knows of) -> (version read at, grants)
GrantSource = Callable[[str, str, int], Awaitable[tuple[int, list[Grant]]]]
# a version the current engine must have reached -> the engine (reloaded first when older)
EngineSource = Callable[[int], Awaitable["PolicyEngine"]]


class AccessDecider:
    """One per request (one department): grants fetched once per resource, decisions memoised.

    ``version`` is the access version (migration 0026) the decisions were made under: the audit append
    refuses records made under a version that is no longer current, and ``renew`` starts again on
    the rules and grants of a newer one.
    """

    def __init__(self, engine: PolicyEngine, department: str, grants: GrantSource, now: datetime,
                 engines: EngineSource | None = None) -> None:
        self.engine = engine
        self.department = department
        self._grant_source = grants
        self._engines = engines
        self.now = now
        self._known = 0  # the newest access version this request has been told of
        self._grants: dict[str, list[Grant]] = {}
        self._versions: set[int] = set()
        self._decisions: dict[tuple[str, str, str, str | None], Decision] = {}

    @property
    def version(self) -> int | None:
        """The access version of the rules and grants decided with; -1 when they were read at different
        versions (never current: the audit append sends the request back to decide again); None when
        neither carries one (an engine not loaded from the database, and no grants read)."""
        versions = set(self._versions)
        if self._decisions and self.engine.version is not None:
            versions.add(self.engine.version)
        if not versions:
            return None
        return versions.pop() if len(versions) == 1 else -1

    async def renew(self, version: int) -> None:
        """Forget this request's decisions and grants: decide again under ``version`` or newer."""
        self._known = max(self._known, version)
        self._grants.clear()
        self._versions.clear()
        self._decisions.clear()
        if self._engines is not None and (self.engine.version or 0) < version:
            self.engine = await self._engines(version)

    async def _grants_for(self, resource: str) -> list[Grant]:
        if resource not in self._grants:
            version, self._grants[resource] = await self._grant_source(self.department, resource, self._known)
            self._versions.add(version)
        return self._grants[resource]

    async def decide(self, policies: Iterable[ItemPolicy], action: str, purpose: str | None
                     ) -> dict[str, Decision]:
        """Each item's decision. Items of one resource are decided once per (department, action, purpose)
        for as long as the rules (the engine), the department's grants of that resource (the cached list, a
        new one per access version) and every grant's validity at this request's time stay as they were."""
        policies = tuple(policies)
        resource = policies[0].resource if policies else None
        if resource is None or any(p.resource != resource for p in policies):
            return await self._decide_each(policies, action, purpose)
        # Keyed by the items' names (hashing strings is cheap); the policies themselves are compared on a hit,
        # by identity first (a spec keeps its ItemPolicy objects), so a catalog change decides anew.
        key = (self.department, action, purpose, resource, tuple(p.item for p in policies))
        entry = self.engine.remembered.get(key)
        if entry is not None and entry.policies == policies and entry.since <= self.now and \
                (entry.until is None or self.now < entry.until) and (entry.grants is None or await self._grants_for(resource) is entry.grants):
            for policy in policies:
                self._decisions[(resource, policy.item, action, purpose)] = entry.decisions[policy.item]
            return dict(entry.decisions)
        decided = await self._decide_each(policies, action, purpose)
        grants = self._grants.get(resource) if any(p.share_class == "CONDITIONAL" for p in policies) else None
        if len(self.engine.remembered) >= MAX_REMEMBERED:
            self.engine.remembered.clear()
        self.engine.remembered[key] = Remembered(policies, grants, self.now,
                                                   _grants_change(grants or (), self.now),
                                                   dict(decided))
        return decided

    async def _decide_each(self, policies: Iterable[ItemPolicy], action: str, purpose: str | None
                           ) -> dict[str, Decision]:
        decided: dict[str, Decision] = {}
        for policy in policies:
            key = (policy.resource, policy.item, action, purpose)
            decision = self._decisions.get(key)
            if decision is None:
                decision = await self._decide(policy, action, purpose)
                self._decisions[key] = decision
            decided[policy.item] = decision
        return decided

    async def _decide(self, policy: ItemPolicy, action: str, purpose: str | None) -> Decision:
        state, grant = GrantState.NONE, None
        if policy.share_class == "CONDITIONAL":
            state, grant = grant_state(await self._grants_for(policy.resource), policy.item, purpose, self.now)
        return decide(self.engine, self.department, policy, action, state, grant)


def verdict(allowed_by_rules: bool, denied_by_rule: bool, share_class: str, action: str,
            state: GrantState) -> Reason | None:
    """The outcome once the rules have spoken: None when allowed, else the reason (queries, explain and
    preview all end here)."""
    # Belt and braces: whatever the rules say, NOT_SHARED is never read through the data API.
    if allowed_by_rules and not (share_class == "NOT_SHARED" and action == "read"):
        return None
    if share_class == "NOT_SHARED":
        return Reason.NOT_SHARED
    if denied_by_rule:
        return Reason.POLICY_DENIED
    if share_class == "CONDITIONAL" and state is not GrantState.ACTIVE:
        return GRANT_REASONS[state]
    return Reason.POLICY_DENIED


def decide(engine: PolicyEngine, department: str, policy: ItemPolicy, action: str, state: GrantState,
           grant: Grant | None) -> Decision:
    """The decision for one item once its grant state is known (queries and explain share it)."""
    allowed = engine.allows(department, policy.resource, policy.item, policy.share_class, action, state)
    denies: tuple[Rule, ...] = ()
    if not allowed and policy.share_class != "NOT_SHARED":
        denies = tuple(r for r in engine.matching(department, policy.resource, policy.item, policy.share_class,
                                                  action, state) if r.effect == "deny")
    reason = verdict(allowed, bool(denies), policy.share_class, action, state)
    if reason is None:
        return Decision(policy, action, True, grant=grant, region=engine.region)
    return Decision(policy, action, False, reason, deny_rules=denies if reason is Reason.POLICY_DENIED else (),
                    region=engine.region)
