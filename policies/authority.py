"""Who may administer what: roles per node domain, decided by Casbin (RBAC with domains).

The API other modules use (every admin mutation goes through it)::

    authority = context.authority              # per request, bound to the caller (server/context.py)
    authority.require(Action.POLICY_WRITE, "650100")   # raises Forbidden (extensions.code FORBIDDEN)
    authority.allows(Action.GRANT_READ, "650000")      # -> bool, same decision without raising
    authority.roles()                          # -> [RoleAssignment(user, role, domain)], developer included
    authority.domains(Action.POLICY_WRITE)     # -> node codes where the caller may do it ("650000" = all)
    domain_of_code("650100-D10-000010")        # -> "650100": the admin domain of a resource/department

* Domains are node codes. A role held in the region's domain (650000) holds in every domain; a role
  held in a prefecture's domain holds only there (its node's resources, departments and grants).
* Roles: ``policy_admin``, ``sharing_reviewer``, ``registrar``, ``supervisor``, ``developer``. Every
  authenticated user of a department is a ``developer`` without any assignment.
* What each role may do is ``policies/admin_policy.csv`` (p, role, action) under the model
  ``policies/admin.conf``; role assignments are the ``role_assignments`` table of the region database
  (assign them with ``govshare role assign USER ROLE --domain NODE`` or the ``assignRole`` mutation).
* Refusals raise ``core.errors.Forbidden`` with ``extensions: {code: FORBIDDEN, action, domain,
  requiredRoles}``. The model is reloaded (and swapped whole) on every ``govshare_policy`` notification.
* The JWT's ``roles`` claim grants nothing: roles come only from ``role_assignments``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import casbin

from govshare.core.errors import Forbidden

ADMIN_MODEL = Path(__file__).resolve().parent / "admin.conf"
ADMIN_POLICY = Path(__file__).resolve().parent / "admin_policy.csv"
ROLES = ("policy_admin", "sharing_reviewer", "registrar", "supervisor", "developer")
DEFAULT_ROLE = "developer"

SELECT_ASSIGNMENTS = "select user_id, role, domain from role_assignments where revoked_at is null order by id"
SELECT_ASSIGNMENTS_AT = """select user_id, role, domain from role_assignments
    where created_at <= $1 and (revoked_at is null or revoked_at > $1) order by id"""


class Action(Enum):
    POLICY_READ = "policy.read"        # rules, classes, groups, history, explain for any department
    POLICY_WRITE = "policy.write"      # add/remove rules, reclassify items, department groups
    GRANT_READ = "grant.read"
    GRANT_WRITE = "grant.write"        # create and revoke grants
    ROLE_ASSIGN = "role.assign"
    CATALOG_EDIT = "catalog.edit"      # registrar: draft, edit, submit catalog entries
    CATALOG_REVIEW = "catalog.review"  # sharing reviewer: review and publish
    REQUEST_SUBMIT = "request.submit"  # any department user (developer)
    REQUEST_REVIEW = "request.review"
    STATS_READ = "stats.read"
    AUDIT_READ = "audit.read"


@dataclass(frozen=True, order=True)
class RoleAssignment:
    user: str
    role: str
    domain: str


def domain_of_code(code: str) -> str:
    """The admin domain of a catalog or department code: its node, the first six characters."""
    return code[:6]


def _admin_rules(path: Path = ADMIN_POLICY) -> list[list[str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return [[v.strip() for v in row[1:]] for row in csv.reader(io.StringIO("\n".join(lines)))]


ADMIN_RULES = _admin_rules()


class AuthorityModel:
    """The loaded role assignments and the Casbin enforcer deciding admin actions; immutable once built."""

    def __init__(self, region: str, assignments: list[RoleAssignment]) -> None:
        self.region = region
        self.assignments = tuple(sorted(set(assignments)))
        enforcer = casbin.Enforcer(str(ADMIN_MODEL))
        for rule in ADMIN_RULES:
            enforcer.add_policy(*rule)
        for a in self.assignments:
            enforcer.add_grouping_policy(a.user, a.role, a.domain)
        self._enforcer = enforcer
        self._cache: dict[tuple[str, str, str], bool] = {}

    @classmethod
    async def load(cls, pool: Any, region: str) -> AuthorityModel:
        rows = await pool.fetch(SELECT_ASSIGNMENTS)
        return cls(region, [RoleAssignment(r["user_id"], r["role"], r["domain"]) for r in rows])

    @classmethod
    def empty(cls, region: str) -> AuthorityModel:
        """Before the assignments load: everyone is only a developer (fail closed)."""
        return cls(region, [])

    def allows(self, user: str, action: Action, domain: str) -> bool:
        key = (user, action.value, domain)
        cached = self._cache.get(key)
        if cached is None:
            cached = bool(self._enforcer.enforce(user, domain, action.value, self.region))
            self._cache[key] = cached
        return cached

    def roles_of(self, user: str) -> list[RoleAssignment]:
        return [a for a in self.assignments if a.user == user]

    @staticmethod
    def roles_for(action: Action) -> list[str]:
        return sorted({rule[0] for rule in ADMIN_RULES if rule[1] == action.value})


class Authority:
    """The authority of one caller, for one request."""

    def __init__(self, model: AuthorityModel, user: str, department: str, home: str | None = None) -> None:
        self.model = model
        self.user = user
        self.department = department
        # The node of the implicit developer role: the department's (the command line, acting for a user
        # without their token, names the department the API last saw them under; "" when it never did).
        self.home = department[:6] if home is None else home

    @property
    def region(self) -> str:
        return self.model.region

    def allows(self, action: Action, domain: str) -> bool:
        return self.model.allows(self.user, action, domain)

    def require(self, action: Action, domain: str) -> None:
        if not self.allows(action, domain):
            roles = self.model.roles_for(action)
            raise Forbidden(
                f"{action.value} in domain {domain} needs one of the roles {', '.join(roles)} held in "
                f"domain {domain if domain == self.region else domain + ' or ' + self.region}; {self.user} holds "
                f"{', '.join(self._held()) or 'none'}",
                action=action.value, domain=domain, requiredRoles=roles)

    def _held(self) -> list[str]:
        held = [f"{a.role}@{a.domain}" for a in self.roles()]
        return held if self.home else [*held, f"{DEFAULT_ROLE} (in their department's node)"]

    def roles(self) -> list[RoleAssignment]:
        """Assigned roles plus the default developer role in the caller's own node."""
        implicit = [RoleAssignment(self.user, DEFAULT_ROLE, self.home)] if self.home else []
        return [*self.model.roles_of(self.user), *implicit]

    def domains(self, action: Action) -> list[str]:
        """Domains where the caller may perform ``action`` (the region's code stands for all)."""
        held = {a.domain for a in self.roles() if a.role in self.model.roles_for(action)}
        if DEFAULT_ROLE in self.model.roles_for(action):
            held.add(self.region)
        return sorted(d for d in held if self.allows(action, d))

    def everywhere(self, action: Action) -> bool:
        return self.allows(action, self.region)
