"""The admin model: roles per domain, the region's roles everywhere, developer by default."""

from __future__ import annotations

import pytest

from govshare.core.errors import Forbidden
from govshare.policies.authority import ADMIN_RULES, ROLES, Action, Authority, AuthorityModel, RoleAssignment

MODEL = AuthorityModel("650000", [
    RoleAssignment("region-admin", "policy_admin", "650000"),
    RoleAssignment("urumqi-admin", "policy_admin", "650100"),
    RoleAssignment("urumqi-reviewer", "sharing_reviewer", "650100"),
    RoleAssignment("supervisor", "supervisor", "650000"),
])


@pytest.mark.parametrize(("user", "action", "domain", "allowed"), [
    ("region-admin", Action.POLICY_WRITE, "650000", True),
    ("region-admin", Action.POLICY_WRITE, "650100", True),     # region roles hold everywhere
    ("region-admin", Action.ROLE_ASSIGN, "654300", True),
    ("urumqi-admin", Action.POLICY_WRITE, "650100", True),
    ("urumqi-admin", Action.POLICY_WRITE, "650200", False),    # another prefecture
    ("urumqi-admin", Action.POLICY_WRITE, "650000", False),    # not the region
    ("urumqi-admin", Action.GRANT_WRITE, "650100", True),
    ("urumqi-reviewer", Action.GRANT_WRITE, "650100", True),
    ("urumqi-reviewer", Action.POLICY_WRITE, "650100", False),  # reviewers do not edit rules
    ("supervisor", Action.STATS_READ, "650200", True),
    ("supervisor", Action.POLICY_WRITE, "650000", False),
    ("nobody", Action.REQUEST_SUBMIT, "650200", True),          # developer: every authenticated user
    ("nobody", Action.POLICY_READ, "650200", False),
    ("nobody", Action.GRANT_WRITE, "650000", False),
])
def test_decisions(user: str, action: Action, domain: str, allowed: bool) -> None:
    assert MODEL.allows(user, action, domain) is allowed


def test_require_raises_forbidden_with_what_is_missing() -> None:
    authority = Authority(MODEL, "urumqi-admin", "650100-SJ")
    authority.require(Action.POLICY_WRITE, "650100")
    with pytest.raises(Forbidden) as refused:
        authority.require(Action.POLICY_WRITE, "650200")
    assert refused.value.extensions == {"code": "FORBIDDEN", "action": "policy.write", "domain": "650200",
                                        "requiredRoles": ["policy_admin"]}
    assert "urumqi-admin holds policy_admin@650100, developer@650100" in refused.value.message


def test_roles_and_domains() -> None:
    authority = Authority(MODEL, "urumqi-admin", "650100-SJ")
    assert authority.roles() == [RoleAssignment("urumqi-admin", "policy_admin", "650100"),
                                 RoleAssignment("urumqi-admin", "developer", "650100")]
    assert authority.domains(Action.POLICY_WRITE) == ["650100"]
    assert Authority(MODEL, "region-admin", "650000-ZW").everywhere(Action.GRANT_WRITE)
    assert Authority(MODEL, "nobody", "650200-GA").domains(Action.POLICY_WRITE) == []


def test_empty_model_fails_closed() -> None:
    empty = AuthorityModel.empty("650000")
    assert not any(empty.allows("region-admin", a, "650000") for a in Action if a is not Action.REQUEST_SUBMIT)


def test_every_rule_names_a_known_role_and_action() -> None:
    actions = {a.value for a in Action}
    assert all(rule[0] in ROLES and rule[1] in actions for rule in ADMIN_RULES)
    assert all(any(rule[1] == a.value for rule in ADMIN_RULES) for a in Action)
