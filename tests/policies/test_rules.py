"""Rules as values: loading stored rows (fail closed) and the matcher written out for one rule, which
must give Casbin's answer (explain and preview rely on it)."""

from __future__ import annotations

import itertools

import casbin

from govshare.policies.decisions import MODEL, PolicyEngine
from govshare.policies.grants import GrantState
from govshare.policies.groups import DepartmentFacts, Memberships
from govshare.policies.rules import Rule, SkippedRule, admin_domain, loadable

MEMBERSHIPS = Memberships.build("650000", [DepartmentFacts("650100-MZ", "prefecture", "650100"),
                                           DepartmentFacts("650100-CA-MZ", "county", "650100"),
                                           DepartmentFacts("650000-GA", "region", "650000")],
                                {"relief": ["650100-CA-MZ", "650000-GA"]})
RULES = [
    Rule("*", "*", "*", "UNCONDITIONAL", "read", "*", "allow", 1),
    Rule("*", "*", "*", "CONDITIONAL", "read", "active", "allow", 2),
    Rule("kind:MZ", "650000-B01-*", "phone", "*", "*", "*", "deny", 3),
    Rule("group:relief", "650000-B01-000001", "*", "CONDITIONAL", "verify", "*", "allow", 4),
    Rule("level:county", "*", "name", "UNCONDITIONAL", "read", "*", "deny", 5),
    Rule("node:650000", "650000-*", "address", "*", "read", "*", "allow", 6),
    Rule("650000-GA", "650000-B01-000001", "sex", "UNCONDITIONAL", "*", "none", "deny", 7),
]


def _engine() -> PolicyEngine:
    enforcer = casbin.Enforcer(str(MODEL))
    engine = PolicyEngine(enforcer, MEMBERSHIPS, RULES)
    for rule in RULES:
        enforcer.add_policy(*rule.values())
    return engine


def test_written_out_matcher_gives_casbins_answer() -> None:
    engine = _engine()
    departments = ["650100-MZ", "650100-CA-MZ", "650000-GA", "650200-SW"]
    resources = ["650000-B01-000001", "650100-D10-000010"]
    items = ["phone", "name", "sex", "address"]
    checked = 0
    for dept, res, item, cls, act, state in itertools.product(
            departments, resources, items, ["UNCONDITIONAL", "CONDITIONAL"], ["read", "verify"],
            [GrantState.ACTIVE, GrantState.NONE]):
        matched = engine.matching(dept, res, item, cls, act, state)
        expected = any(r.effect == "allow" for r in matched) and not any(r.effect == "deny" for r in matched)
        assert engine.allows(dept, res, item, cls, act, state) is expected, (dept, res, item, cls, act, state)
        checked += 1
    assert checked == 256
    assert [r.id for r in engine.matching("650100-CA-MZ", "650000-B01-000001", "phone", "CONDITIONAL", "verify",
                                          GrantState.NONE)] == [3, 4]


def test_stored_rows_fail_closed() -> None:
    assert loadable(1, "p", ["*", "*", "*", "UNCONDITIONAL", "read", "*", "allow"]) == RULES[0]
    skipped = loadable(2, "p", ["*", "*", "*", "CONDITIONAL", "read", "active", "Allow"])
    assert isinstance(skipped, SkippedRule) and "effect 'Allow'" in skipped.problem
    assert isinstance(loadable(3, "p", ["*", "*", "*"]), SkippedRule)
    assert isinstance(loadable(4, "g", ["a", "b"]), SkippedRule)
    widened = loadable(5, "p", ["650100-MZ", "650000-B01-000001", "phone", "Conditional", "Read", "?", "deny"])
    assert widened == Rule("650100-MZ", "650000-B01-000001", "phone", "*", "*", "*", "deny", 5)
    assert isinstance(loadable(6, "p", ["650100 MZ", "*", "*", "*", "*", "*", "deny"]), SkippedRule)


def test_admin_domain_is_the_resource_node() -> None:
    assert admin_domain(RULES[2], "650000") == "650000"
    assert admin_domain(Rule("*", "650100-*", "*", "*", "*", "*", "deny"), "650000") == "650100"
    assert admin_domain(Rule("*", "6501*", "*", "*", "*", "*", "deny"), "650000") == "650000"
