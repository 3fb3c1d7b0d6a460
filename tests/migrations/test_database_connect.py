"""CONNECT on a node database only for the owner, the service's group role and logins granted it one by one
(migration 0036): any other login on the server cannot connect, so it cannot take the service's advisory locks
or a table's lock at parse time there."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from ..conftest import DATABASE, Cluster


async def test_only_logins_granted_connect_reach_a_node_database(cluster: Cluster) -> None:
    for code in cluster.servers:
        conn = await cluster.connect(code)
        try:
            assert not await conn.fetchval("select has_database_privilege('public', current_database(), 'CONNECT')")
        finally:
            await conn.close()
    role, password = f"govshare_x_650000_{uuid.uuid4().int % 10 ** 9}", "connect-test-pass-1"
    owner = await cluster.connect("650000")
    await owner.execute(f"create role {role} with login nosuperuser nocreatedb nocreaterole noinherit "
                        f"noreplication nobypassrls connection limit 5 password '{password}'")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
            await asyncpg.connect(cluster.dsn("650000"), user=role, password=password)
        await owner.execute(f"grant connect on database {DATABASE} to {role}")  # as 0022 does for a department
        login = await asyncpg.connect(cluster.dsn("650000"), user=role, password=password)
        try:
            assert await login.fetchval("select current_user") == role
        finally:
            await login.close()
        service = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
        try:  # the service's login, a member of govshare_service
            assert await service.fetchval("select current_user") == "govshare_app"
        finally:
            await service.close()
    finally:
        await owner.execute(f"revoke connect on database {DATABASE} from {role}")
        await owner.execute(f"drop role {role}")
        await owner.close()
