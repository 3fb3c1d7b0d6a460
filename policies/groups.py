"""Department groups, the second grouping of the access rules.

Every department belongs to ``kind:<kind>`` (the last part of its code: MZ, GA, ...), ``level:<level>``,
``node:<node>`` and ``sector:<government|institution>``, and to every ``group:<name>`` that admins created
with it as a member.

A department's code is what is trusted (README *Trust model*): the catalog serves it only from the
database hosting the code's node, and its node, level and sector are what the code says (``<node>-<kind>``,
``<node>-C<letter>-<kind>`` for a county, ``<node>-JG-<kind>`` for an institution outside government). The
catalog's row may only make a department stricter, never looser: it may add ``sector:institution`` to a
code that does not say JG, but never remove it from one that does; a row contradicting its code (another
node or level, government for a JG code) is logged as a warning and that claim ignored. ``department_facts``
is the one place this is decided: for the access rules' memberships and for the grant validator (the
grantee's sector). A department the catalog did not answer for (its node was down when the rules loaded)
gets the facts of its code alone, so a deny rule naming a group never fails open.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger("govshare.groups")

INSTITUTION_MARK = "JG"  # <node>-JG-<kind>: an institution outside government (migration 0023)
INSTITUTION = "institution"


@dataclass(frozen=True)
class DepartmentFacts:
    code: str
    level: str
    node: str
    sector: str = "government"


def kind_of(code: str) -> str:
    return code.rsplit("-", 1)[-1]


def facts_from_code(code: str, region: str) -> DepartmentFacts:
    """What a department code itself says: ``<node>-<kind>`` or ``<node>-C<letter>-<kind>`` (county)."""
    node = code[:6]
    parts = code.split("-")
    if len(parts) >= 3 and parts[1] == INSTITUTION_MARK:
        return DepartmentFacts(code, "region" if node == region else "prefecture", node, INSTITUTION)
    level = "region" if node == region else ("county" if len(parts) >= 3 else "prefecture")
    return DepartmentFacts(code, level, node)


def department_facts(code: str, region: str, level: object = None, node: object = None,
                     sector: object = None) -> DepartmentFacts:
    """A department's facts: those of its code (``facts_from_code``), made stricter by its catalog row's
    ``level``, ``node`` and ``sector`` (each None when no row was read). The row may only add
    ``institution``: any other claim that differs from the code is logged and ignored."""
    facts = facts_from_code(code, region)
    ignored = [f"{name} {claim!r}" for name, claim, own in (("node", node, facts.node), ("level", level, facts.level))
               if claim is not None and claim != own]
    chosen = facts.sector
    if sector == INSTITUTION:
        chosen = INSTITUTION  # stricter than the code: kept
    elif sector is not None and sector != facts.sector:
        ignored.append(f"sector {sector!r}")
    if ignored:
        logger.warning("department %s: its catalog row says %s, its code node %s, level %s, sector %s: the "
                       "row's claim is ignored", code, ", ".join(ignored), facts.node, facts.level, facts.sector)
    return DepartmentFacts(code, facts.level, facts.node, chosen)


@dataclass
class Memberships:
    region: str
    departments: Mapping[str, DepartmentFacts] = field(default_factory=dict)
    named: Mapping[str, frozenset[str]] = field(default_factory=dict)  # group name -> member codes
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, region: str, departments: Iterable[DepartmentFacts],
              named: Mapping[str, Iterable[str]]) -> Memberships:
        return cls(region, {d.code: d for d in departments},
                   {name: frozenset(members) for name, members in named.items()})

    def groups_of(self, department: str) -> frozenset[str]:
        cached = self._cache.get(department)
        if cached is None:
            facts = self.departments.get(department) or facts_from_code(department, self.region)
            computed = {f"kind:{kind_of(department)}", f"level:{facts.level}", f"node:{facts.node}",
                        f"sector:{facts.sector}"}
            computed.update(f"group:{name}" for name, members in self.named.items() if department in members)
            cached = frozenset(computed)
            self._cache[department] = cached
        return cached

    def members_of(self, group: str) -> list[str]:
        """Known departments in ``group`` (a computed or named group)."""
        return sorted(code for code in self.departments if group in self.groups_of(code))

    def kinds(self) -> list[str]:
        return sorted({kind_of(code) for code in self.departments})
