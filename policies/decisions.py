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

    @property
    def item(self) -> str:
        return self.policy.item


class PolicyEngine:
    def __init__(self, enforcer: Any) -> None:
        self._enforcer = enforcer
        self._cache: dict[tuple[str, ...], bool] = {}
        self.enforce_calls = 0

    @classmethod
    async def load(cls, pool: Any) -> PolicyEngine:
        enforcer = casbin.AsyncEnforcer(str(MODEL), AsyncpgAdapter(pool))
        await enforcer.load_policy()
        return cls(enforcer)

    async def reload(self) -> None:
        await self._enforcer.load_policy()
        self._cache = {}

    def allows(self, department: str, resource: str, item: str, share_class: str, action: str,
               state: GrantState) -> bool:
        key = (department, resource, item, share_class, action, state.value)
        cached = self._cache.get(key)
        if cached is None:
            self.enforce_calls += 1
            cached = bool(self._enforcer.enforce(*key))
            self._cache[key] = cached
        return cached


GrantSource = Callable[[str, Sequence[str]], Awaitable[list[Grant]]]


class AccessDecider:
    """One per request (one department): grants fetched once per resource, decisions memoised."""

    def __init__(self, engine: PolicyEngine, department: str, grants: GrantSource, now: datetime) -> None:
        self.engine = engine
        self.department = department
        self._grant_source = grants
        self.now = now
        self._grants: dict[str, list[Grant]] = {}
        self._decisions: dict[tuple[str, str, str, str | None], Decision] = {}

    async def _grants_for(self, resource: str) -> list[Grant]:
        if resource not in self._grants:
            self._grants[resource] = await self._grant_source(self.department, [resource])
        return self._grants[resource]

    async def decide(self, policies: Iterable[ItemPolicy], action: str, purpose: str | None
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
        allowed = self.engine.allows(self.department, policy.resource, policy.item, policy.share_class, action,
                                     state)
        # Belt and braces: whatever the rules say, NOT_SHARED is never read through the data API.
        if policy.share_class == "NOT_SHARED" and action == "read":
            allowed = False
        if allowed:
            return Decision(policy, action, True, grant=grant)
        if policy.share_class == "NOT_SHARED":
            reason = Reason.NOT_SHARED
        elif policy.share_class == "CONDITIONAL" and state is not GrantState.ACTIVE:
            reason = GRANT_REASONS[state]
        else:
            reason = Reason.POLICY_DENIED
        return Decision(policy, action, False, reason)
