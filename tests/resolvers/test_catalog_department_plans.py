"""The departments trust filter keeps every department statement on its index at 200,000 rows: the
hosted-node and code-prefix tests (HOSTED_DEPARTMENTS) are filters the planner estimates from the column
statistics, so pages stay index scans in code order (no sort, no sequential scan), custom and generic plans
alike, as they were without the filter."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from govshare.migrations.runner import migrate
from govshare.resolvers import catalog, groups

from ..conftest import Cluster

NODE = "650200"
REGION = "650000"
OTHER = "650100"  # a node this database does not host: a few planted rows of it
ROWS = 200_000
# 200,000 departments of 650200, in 2,000 parents of 100 children each (every 50th a county: its code
# <node>-<n>-<kind> says so), and 500 rows of 650100 planted beside them.
FILL = f"""
insert into departments (code, node_code, level, parent_code, division_code, name_zh)
select '{NODE}-' || lpad(i::text, 7, '0') || case when i % 50 = 0 then '-MZ' else '' end, '{NODE}',
       case when i % 50 = 0 then 'county' else 'prefecture' end,
       '{NODE}-P' || lpad((i % 2000)::text, 4, '0'), '{NODE}', '部门' || i
from generate_series(1, {ROWS}) i;
insert into departments (code, node_code, level, parent_code, division_code, name_zh)
select '{OTHER}-' || lpad(i::text, 7, '0'), '{OTHER}', 'prefecture', '{NODE}-P0001', '{OTHER}', '冒名' || i
from generate_series(1, 500) i;
analyze departments"""


@pytest.fixture(scope="module")
async def big_departments(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    name = f"depts_{uuid.uuid4().hex[:10]}"
    server = cluster.servers[NODE]
    admin = await asyncpg.connect(server.dsn())
    await admin.execute(f"create database {name}")
    conn = await asyncpg.connect(server.dsn(name))
    try:
        await migrate(conn)
        await conn.execute(FILL)
        yield conn
    finally:
        await conn.close()
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


async def _plan(conn: asyncpg.Connection, sql: str, args: list[Any], mode: str) -> list[dict[str, Any]]:
    await conn.execute(f"set plan_cache_mode = {mode}")
    statement = await conn.prepare("explain (format json) " + sql)
    # explained several times: a generic plan is chosen only after the custom ones
    for _ in range(6):
        raw = await statement.fetchval(*args)
    return _nodes(json.loads(raw)[0]["Plan"])


PAGES = {
    "every department": catalog.DepartmentFilter(),
    "one node": catalog.DepartmentFilter(nodes=[NODE]),
    "counties": catalog.DepartmentFilter(levels=["county"]),
    "children of one parent": catalog.DepartmentFilter(parent=f"{NODE}-P0007"),
}


TRUST = "node_code = any($1::text[]) and code ^@ any($2::text[])"


def _untrusting(sql: str, args: list[Any]) -> tuple[str, list[Any]]:
    """The same page without the trust filter (as before it): the reference plan."""
    assert TRUST in sql
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) - 2}", sql.replace(TRUST, "true")), args[2:]


def _shape(plan: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(n["Node Type"], n.get("Index Name")) for n in plan]


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("page", PAGES)
async def test_department_pages_keep_the_plan_they_had_without_the_filter(big_departments: asyncpg.Connection,
                                                                          page: str, mode: str) -> None:
    for position in (None, f"{NODE}-0100000"):
        sql, args = catalog.department_page_statement(PAGES[page], [NODE], position, 50, REGION)
        plan = await _plan(big_departments, sql, args, mode)
        assert "Seq Scan" not in {n["Node Type"] for n in plan}, (page, mode, _shape(plan))
        assert {n.get("Index Name") for n in plan} & {"departments_pkey", "departments_parent_idx"}
        assert _shape(plan) == _shape(await _plan(big_departments, *_untrusting(sql, args), mode)), (page, position)
        rows = await big_departments.fetch(sql, *args)
        assert len(rows) >= 50 and all(r["node_code"] == NODE for r in rows)


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_lookups_and_children_use_their_indexes(big_departments: asyncpg.Connection, mode: str) -> None:
    own = [[NODE], [NODE + "-"]]
    lookup = [[f"{NODE}-0000001", f"{NODE}-0150001", f"{OTHER}-0000001"], *own]
    children = [[f"{NODE}-P0001", f"{NODE}-P0002"], *own]
    for sql, args, index in ((catalog.SELECT_DEPARTMENTS, lookup, "departments_pkey"),
                             (catalog.SELECT_CHILDREN, children, "departments_parent_idx")):
        plan = await _plan(big_departments, sql, args, mode)
        assert "Seq Scan" not in {n["Node Type"] for n in plan}
        assert index in {n.get("Index Name") for n in plan}, plan
    assert [r["code"] for r in await big_departments.fetch(catalog.SELECT_DEPARTMENTS, *lookup)] == lookup[0][:2]
    found = await big_departments.fetch(catalog.SELECT_CHILDREN, *children)
    assert len(found) == 200 and all(r["node_code"] == NODE for r in found)  # not the 500 planted children


async def test_known_codes_and_memberships_read_only_hosted_rows(big_departments: asyncpg.Connection) -> None:
    from govshare.server.departments import SELECT_CODES

    for sql in (SELECT_CODES, groups.SELECT_DEPARTMENT_FACTS):
        count = await big_departments.fetchval(f"select count(*) from ({sql}) t", [NODE], [NODE + "-"])
        assert count == ROWS

