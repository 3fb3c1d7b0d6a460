"""Department groups, the second grouping of the access rules.

Every department belongs to ``kind:<kind>`` (the last part of its code: MZ, GA, ...), ``level:<level>``,
``node:<node>`` and ``sector:<government|institution>``, computed from the catalog's departments table, and to every ``group:<name>``
that admins created with it as a member. A department the catalog did not answer for (its node was
down when the rules loaded) gets the same groups computed from its code, so a deny rule naming a
group never fails open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

INSTITUTION_MARK = "JG"  # <node>-JG-<kind>: an institution outside government (migration 0023)


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
        return DepartmentFacts(code, "region" if node == region else "prefecture", node, "institution")
    level = "region" if node == region else ("county" if len(parts) >= 3 else "prefecture")
    return DepartmentFacts(code, level, node)


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
