"""Department groups: memberships for the rules (catalog departments of every node + named groups),
and the admin operations on named groups."""

from __future__ import annotations

import logging

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Action
from govshare.policies.changes import Change, checked_reason
from govshare.policies.groups import DepartmentFacts, Memberships, department_facts
from govshare.policies.rules import GROUP_NAME

from . import catalog
from .administration import Admin, recorded, region_transaction

logger = logging.getLogger("govshare.groups")

# Only the departments each database hosts (catalog.HOSTED_DEPARTMENTS): another database's row under a
# code never changes that department's groups.
SELECT_DEPARTMENT_FACTS = ("select code, level, node_code, sector from departments where "
                           + catalog.HOSTED_DEPARTMENTS.format("$1", "$2"))
SELECT_NAMED_GROUPS = """select name, title, domain, members, created_at, created_by from department_groups
    where removed_at is null order by name"""
SELECT_NAMED_GROUP = """select id, name, title, domain, members from department_groups
    where name = $1 and removed_at is null"""
INSERT_GROUP = """insert into department_groups (name, title, domain, members, created_by)
    values ($1, $2, $3, $4, $5) returning id"""
REMOVE_GROUP = """update department_groups set removed_at = clock_timestamp(), removed_by = $2
    where id = $1 and removed_at is null"""
MAX_MEMBERS = 500


async def load_memberships(pools: NodePools) -> Memberships:
    """Departments of every node (one statement per database) and the live named groups."""
    region = pools.topology.region
    results = await catalog.fetch_each_hosted(pools, "groups.departments", SELECT_DEPARTMENT_FACTS)
    facts: list[DepartmentFacts] = []
    for database, rows in results.items():
        if isinstance(rows, NodeUnavailable):
            logger.warning("departments of database %s not loaded (%s): their groups are computed from "
                           "their codes", database, rows.message)
            continue
        for r in rows:
            # The SQL filter ran on the server it is meant to hold: each row is checked again here, and one
            # its database does not host gives no groups (dropped and logged: hosting.py).
            if not catalog.own_department(pools, database, r):
                continue
            # The code's node and level (level:region is the region node's alone); the row may only add
            # sector:institution (policies.groups.department_facts logs any other claim it ignores).
            facts.append(department_facts(r["code"], region.code, r["level"], r["node_code"], r["sector"]))
    named = await pools.fetch(region.database_node, "groups.named", SELECT_NAMED_GROUPS)
    return Memberships.build(region.code, facts, {r["name"]: r["members"] for r in named})


async def existing_departments(pools: NodePools, codes: list[str]) -> set[str]:
    """The codes among ``codes`` that the catalog knows (asked of each code's node only)."""
    found, failures = await catalog.departments_by_code(pools, "departments.exist", codes)
    if failures:
        raise failures[0]
    return set(found)


async def checked_members(admin: Admin, members: list[str]) -> list[str]:
    unique = sorted(set(members))
    if not unique or len(unique) > MAX_MEMBERS:
        raise BadRequest(f"a group has 1 to {MAX_MEMBERS} member departments", field="members")
    known = await existing_departments(admin.pools, [m for m in unique if len(m) >= 6])
    unknown = [m for m in unique if m not in known]
    if unknown:
        raise BadRequest(f"unknown department(s): {', '.join(unknown)}", field="members", unknown=unknown)
    return unique


async def save_group(admin: Admin, name: str, members: list[str], title: str, domain: str | None,
                     reason: str, *, reverts: int | None = None) -> Change:
    """Create a named group, or replace the members of an existing one (a new version)."""
    if not GROUP_NAME.fullmatch(name or ""):
        raise BadRequest("a group name is 2-63 characters: a lower-case letter, then a-z, 0-9, _ or -",
                         field="name")
    why = checked_reason(reason)
    owner = domain or admin.region
    if owner not in admin.pools.topology.by_code:
        raise BadRequest(f"unknown domain {owner!r}", field="domain")
    admin.authority.require(Action.POLICY_WRITE, owner)
    chosen = await checked_members(admin, members)
    async with region_transaction(admin) as conn:
        old = await conn.fetchrow(SELECT_NAMED_GROUP, name)
        if old is not None:
            admin.authority.require(Action.POLICY_WRITE, old["domain"])
            await conn.execute(REMOVE_GROUP, old["id"], admin.actor.user)
        await conn.execute(INSERT_GROUP, name, title or "", owner, chosen, admin.actor.user)
        before = None if old is None else {"name": name, "title": old["title"], "domain": old["domain"],
                                           "members": list(old["members"])}
        return await recorded(admin, conn, "group", "update" if old else "create", owner, reason=why,
                              before=before, after={"name": name, "title": title or "", "domain": owner,
                                                    "members": chosen}, reverts=reverts)


async def remove_group(admin: Admin, name: str, reason: str, *, reverts: int | None = None) -> Change:
    why = checked_reason(reason)
    async with region_transaction(admin) as conn:
        old = await conn.fetchrow(SELECT_NAMED_GROUP, name)
        if old is None:
            raise BadRequest(f"no group named {name!r}", field="name")
        admin.authority.require(Action.POLICY_WRITE, old["domain"])
        await conn.execute(REMOVE_GROUP, old["id"], admin.actor.user)
        return await recorded(admin, conn, "group", "remove", old["domain"], reason=why,
                              before={"name": name, "title": old["title"], "domain": old["domain"],
                                      "members": list(old["members"])}, reverts=reverts)
