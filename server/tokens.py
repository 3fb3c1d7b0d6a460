"""Checks before a demo token is minted: a department that exists, a secret long enough to sign with."""

from __future__ import annotations

import re

import asyncpg

from govshare.core.errors import BadRequest, ConfigurationError, TopologyError
from govshare.core.settings import Settings
from govshare.federation.answers import LimitedConnection
from govshare.federation.topology import Topology
from govshare.resolvers.catalog import HOSTED_DEPARTMENTS

from .databases import database_name
from .postgres import LocalPostgres

# <node>-<kind>; for a county bureau <node>-C<letter>-<kind>, for an institution outside government
# <node>-JG-<kind>: 650100-GA, 650100-CA-MZ, 650100-JG-YY
DEPARTMENT_CODE = re.compile(r"^[0-9]{6}-(?:C[A-Z]-|JG-)?[A-Z]{2}$")
# As the server's known departments (server/departments.py): only a row its database hosts (its node and its
# code's node), so a token is minted for no department the server would then refuse.
SELECT_DEPARTMENT = "select node_code from departments where code = $1 and " + HOSTED_DEPARTMENTS.format("$2", "$3")
CATALOG_TIMEOUT = 3.0
SERVER_SETTINGS = {"application_name": "govshare token", "search_path": "pg_catalog, public, pg_temp"}


def check_secret(secret: str | None) -> str | None:
    """The configured demo secret, refused below 32 bytes exactly as ``serve`` refuses it."""
    if secret is not None and len(secret.encode()) < 32:
        raise ConfigurationError("GOVSHARE_DEMO_JWT_SECRET must be at least 32 bytes (RFC 7518 3.2)")
    return secret


def _catalog_dsn(settings: Settings, topology: Topology, node_code: str) -> str | None:
    """DSN of the database holding the node's departments, or None when none is configured or running:
    minting a token never starts a database."""
    database_node = topology.node(node_code).database_node
    if not topology.needs_embedded:
        return topology.node(database_node).dsn
    embedded = settings.data_dir / "postgres"
    if not (embedded / "govshare.port").exists():
        return None
    return LocalPostgres(embedded).dsn(database_name(database_node))


async def _listed(dsn: str, code: str, hosted: list[str]) -> bool | None:
    """Whether the catalog serves the department (a row naming a node in ``hosted``, the nodes its database
    hosts, checked again here: the SQL filter is evaluated by that database's server); None when that
    database does not answer or has no catalog yet (not migrated)."""
    try:
        # search_path pinned as on the service's pools: operators resolve in pg_catalog first, whatever
        # the node's owner sets for the login (the row is still checked here after it is read)
        conn = await asyncpg.connect(dsn, timeout=CATALOG_TIMEOUT, server_settings=SERVER_SETTINGS,
                                     connection_class=LimitedConnection)  # a node's answer, size-limited
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return None
    try:
        node = await conn.fetchval(SELECT_DEPARTMENT, code, hosted, [n + "-" for n in hosted])
        return node in hosted and code[:6] in hosted
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):  # incl. an answer over the size limit
        return None
    finally:
        await conn.close()


async def check_department(settings: Settings, code: str) -> str | None:
    """Refuse a department that does not exist: looked up in its node's catalog when that database
    answers, otherwise checked by format only (the returned note says so)."""
    if not DEPARTMENT_CODE.match(code):
        raise BadRequest(f"not a department code: {code!r} (expected <node>-<kind>, e.g. 650100-GA "
                         "or 650100-CA-MZ for a county bureau)")
    topology = Topology.load(settings.topology_path, settings.dsns)
    try:
        dsn = _catalog_dsn(settings, topology, code[:6])
    except TopologyError as exc:
        raise BadRequest(f"unknown department {code}: no node {code[:6]} in the topology") from exc
    hosted = list(topology.hosted_on(topology.node(code[:6]).database_node))
    listed = None if dsn is None else await _listed(dsn, code, hosted)
    if listed is False:
        raise BadRequest(f"unknown department {code}: not in node {code[:6]}'s catalog")
    if listed is None:
        return f"catalog of node {code[:6]} not reachable: checked the department code's format only"
    return None
