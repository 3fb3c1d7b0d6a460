"""Who is calling, as the identity layer established it: every layer above reads this, none builds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user: str
    department: str
    roles: frozenset[str]
    node: str

    def has_role(self, role: str) -> bool:
        return role in self.roles
