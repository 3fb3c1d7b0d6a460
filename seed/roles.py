"""Demo users, one per role, with their role assignments (written into the region database)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class DemoUser:
    user: str
    department: str
    role: str
    domain: str | None  # None: the default developer role, no assignment


DEMO_USERS = (
    DemoUser("admin.region", "650000-ZW", "policy_admin", "650000"),
    DemoUser("admin.urumqi", "650100-SJ", "policy_admin", "650100"),
    DemoUser("reviewer.region", "650000-GA", "sharing_reviewer", "650000"),
    DemoUser("registrar.region", "650000-GA", "registrar", "650000"),
    DemoUser("supervisor.region", "650000-ZW", "supervisor", "650000"),
    DemoUser("developer.urumqi", "650100-MZ", "developer", None),
)

INSERT_ASSIGNMENT = """insert into role_assignments (user_id, role, domain, created_by) values ($1, $2, $3, 'seed')
    on conflict do nothing"""


async def seed_roles(conn: asyncpg.Connection, known_nodes: set[str]) -> int:
    rows = [(u.user, u.role, u.domain) for u in DEMO_USERS if u.domain is not None and u.domain in known_nodes]
    await conn.executemany(INSERT_ASSIGNMENT, rows)
    return len(rows)
