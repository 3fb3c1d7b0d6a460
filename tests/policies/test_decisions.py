"""Decisions remembered across requests (AccessDecider.decide): reused only while the rules, the grants
list and every grant's validity at the request's time are what they were decided with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govshare.policies.decisions import AccessDecider, ItemPolicy, PolicyEngine, Reason
from govshare.policies.grants import Grant
from govshare.policies.groups import Memberships
from govshare.policies.rules import rule_from

RESOURCE = "650000-B01-000001"
DEPARTMENT = "650100-GA"
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
NAME = ItemPolicy(RESOURCE, "name", "UNCONDITIONAL", None, None, "650000-GA")
BIRTH = ItemPolicy(RESOURCE, "birth_date", "CONDITIONAL", "under a grant", None, "650000-GA")
PHONE = ItemPolicy(RESOURCE, "phone", "NOT_SHARED", None, "PIPL art. 28", "650000-GA")


def _engine() -> PolicyEngine:
    return PolicyEngine.from_rules([
        rule_from(["*", RESOURCE, "*", "UNCONDITIONAL", "read", "*", "allow"], 1),
        rule_from(["*", RESOURCE, "*", "CONDITIONAL", "read", "active", "allow"], 2),
    ], Memberships("650000"))


def _grant(purpose: str = "census", start: datetime = T0 - timedelta(days=1),
           end: datetime = T0 + timedelta(days=1), status: str = "active") -> Grant:
    return Grant(7, DEPARTMENT, RESOURCE, frozenset({"birth_date"}), purpose, start, end, None, status)


class Grants:
    """A grants source handing out one list (as the process's cache does) until ``replace``."""

    def __init__(self, grants: list[Grant]) -> None:
        self.grants = grants
        self.reads = 0

    def replace(self, grants: list[Grant]) -> None:
        self.grants = grants  # a new list: what the cache holds after a change (a new access version)

    async def __call__(self, department: str, resource: str, known: int) -> tuple[int, list[Grant]]:
        self.reads += 1
        return 1, self.grants


async def _decide(engine: PolicyEngine, grants: Grants, now: datetime, purpose: str | None = "census",
                  department: str = DEPARTMENT) -> dict[str, tuple[bool, Reason | None]]:
    decider = AccessDecider(engine, department, grants, now)
    decided = await decider.decide([NAME, BIRTH, PHONE], "read", purpose)
    assert decider.version == 1  # the grants' version is known to the audit append, cached or not
    return {item: (d.allowed, d.reason) for item, d in decided.items()}


ACTIVE = {"name": (True, None), "birth_date": (True, None), "phone": (False, Reason.NOT_SHARED)}


async def test_a_second_request_reuses_the_decisions_without_asking_casbin() -> None:
    engine, grants = _engine(), Grants([_grant()])
    assert await _decide(engine, grants, T0) == ACTIVE
    calls = engine.enforce_calls
    assert await _decide(engine, grants, T0 + timedelta(seconds=1)) == ACTIVE
    assert engine.enforce_calls == calls
    assert grants.reads == 2  # the grants are still asked for: their list decides whether to reuse


@pytest.mark.parametrize(("change", "later", "birth"), [
    # (what changes, time of the second request, the birth_date decision it must get)
    ("revoked", T0 + timedelta(seconds=1), (False, Reason.GRANT_REVOKED)),
    ("expired", T0 + timedelta(days=2), (False, Reason.GRANT_EXPIRED)),
    ("earlier", T0 - timedelta(days=2), (False, Reason.GRANT_NOT_YET_VALID)),
    ("purpose", T0 + timedelta(seconds=1), (False, Reason.PURPOSE_MISMATCH)),
    ("nothing", T0 + timedelta(hours=23), (True, None)),
])
async def test_decided_again_when_grants_or_time_change(change: str, later: datetime,
                                                        birth: tuple[bool, Reason | None]) -> None:
    engine, grants = _engine(), Grants([_grant()])
    assert await _decide(engine, grants, T0) == ACTIVE
    if change == "revoked":
        grants.replace([_grant(status="revoked")])
    purpose = "tax" if change == "purpose" else "census"
    assert await _decide(engine, grants, later, purpose) == {**ACTIVE, "birth_date": birth}


async def test_a_catalog_change_of_share_class_decides_anew() -> None:
    engine, grants = _engine(), Grants([_grant()])
    assert await _decide(engine, grants, T0) == ACTIVE
    reclassified = ItemPolicy(RESOURCE, "birth_date", "NOT_SHARED", None, "PIPL art. 28", "650000-GA")
    decider = AccessDecider(engine, DEPARTMENT, grants, T0)
    decided = await decider.decide([NAME, reclassified, PHONE], "read", "census")
    assert (decided["birth_date"].allowed, decided["birth_date"].reason) == (False, Reason.NOT_SHARED)


async def test_another_department_or_engine_decides_anew() -> None:
    engine, grants = _engine(), Grants([_grant()])
    assert await _decide(engine, grants, T0) == ACTIVE
    calls = engine.enforce_calls
    # No grant is the other department's: the source is asked for its own (empty) list.
    assert (await _decide(engine, Grants([]), T0, department="650200-GA"))["birth_date"] == (False, Reason.NO_GRANT)
    assert engine.enforce_calls > calls
    reloaded = _engine()  # rules reloaded: nothing remembered
    assert reloaded.remembered == {}
    assert await _decide(reloaded, grants, T0) == ACTIVE and reloaded.enforce_calls > 0
