"""A validly signed token for a department that does not exist: 403 UNKNOWN_DEPARTMENT, no data."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from govshare.core.errors import NodeUnavailable, UnknownDepartment
from govshare.server.departments import RETRY_SECONDS, KnownDepartments

from ..conftest import Cluster
from ..helpers import gql, token

QUERY = "{ population(first: 1) { nodes { name } } nodes { code } }"
NEW = "650200-ZZ"


@pytest.mark.parametrize("department", ["650100-mz", "650100-MZ ", "650100-XX", "999999-GA", "650100"])
async def test_unknown_departments_get_403_and_no_data(client: httpx.AsyncClient, department: str) -> None:
    body, response = await gql(client, QUERY, Authorization=f"Bearer {token(department)}")
    assert response.status_code == 403
    assert body == {"errors": [{"message": f"department {department!r} does not exist in the catalog of any node",
                                "extensions": {"code": "UNKNOWN_DEPARTMENT"}}]}


async def test_a_department_added_to_a_catalog_is_known_within_a_second(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    headers = {"Authorization": f"Bearer {token(NEW)}"}
    assert (await gql(client, QUERY, **headers))[1].status_code == 403
    conn = await cluster.connect("650200")
    try:
        await conn.execute("""insert into departments (code, node_code, level, division_code, name_zh)
                              values ($1, '650200', 'prefecture', '650200', '测试局')""", NEW)
        status = await _status_within(client, headers, 200)
        assert status == 200
        await conn.execute("delete from departments where code = $1", NEW)
        assert await _status_within(client, headers, 403) == 403
    finally:
        await conn.execute("delete from departments where code = $1", NEW)
        await conn.close()


async def _status_within(client: httpx.AsyncClient, headers: dict[str, str], wanted: int) -> int:
    status = 0
    for _ in range(40):
        status = (await gql(client, QUERY, **headers))[1].status_code
        if status == wanted:
            break
        await asyncio.sleep(0.05)
    return status


async def test_a_department_whose_node_never_answered_cannot_be_confirmed(client: httpx.AsyncClient,
                                                                          cluster: Cluster) -> None:
    now = [0.0]
    known = KnownDepartments(client.app.state.pools, clock=lambda: now[0])  # type: ignore[attr-defined]
    cluster.stop("650200")
    try:
        await known.refresh()
        await known.check("650100-MZ")  # other nodes' departments are confirmed
        with pytest.raises(NodeUnavailable):
            await known.check("650200-JY")
    finally:
        cluster.start("650200")
    with pytest.raises(NodeUnavailable):  # not asked again before RETRY_SECONDS
        await known.check("650200-JY")
    now[0] += RETRY_SECONDS
    for _ in range(40):  # the pool reconnects
        try:
            await known.check("650200-JY")
            break
        except NodeUnavailable:
            now[0] += RETRY_SECONDS
            await asyncio.sleep(0.05)
    await known.check("650200-JY")
    with pytest.raises(UnknownDepartment):
        await known.check("650200-XX")
