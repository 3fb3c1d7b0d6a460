"""Authorised database access (按权限访问共享数据资源库, seed §5.2): a login role and a security-barrier view
in the provider node's database, for a grant that allows the DATABASE share mode.

The view holds exactly the grant's items that the policy still allows (decided as a query would be, with
that grant in play) and the rows of the grant's row scope, of the nodes whose rows that database holds for
the resource. The role may read that view and nothing else. The password is generated here, handed out
once, and never stored: the database receives only its SCRAM-SHA-256 verifier (computed here, so the
password never reaches a database or a log), which is also what the region's record keeps. Asking again
rotates the password. The role expires with the grant (VALID UNTIL: no login after the end even before
the sweep runs); revocation (resolvers/grants.py) and the sweep remove the view, end the role's sessions
and drop the role. DDL runs only inside the owner's functions of migration 0022, never as the service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from govshare.core.errors import AuditUnavailable, BadRequest
from govshare.federation.nodes import NodePools
from govshare.policies.decisions import PolicyEngine
from govshare.policies.grants import Grant

from . import audit
from .access_roles import ACCESS_COLUMNS, Access, close
from .exchange_grants import decider_for, spec_of, usable_grant
from .specs import DataResourceSpec

SCRAM_ITERATIONS = 4096
SELECT_OPEN = f"select {ACCESS_COLUMNS} from database_accesses where grant_id = $1 and state <> 'closed'"
INSERT_ACCESS = f"""with n as (select nextval('database_accesses_id_seq') as id)
    insert into database_accesses (id, grant_id, department, database_node, role_name, view_name, columns, node_codes,
        row_scope, valid_until, created_by)
    select n.id, $1, $2, $3, 'govshare_x_' || $3 || '_' || n.id, $4, $5, $6, $7, $8, $9 from n
    returning {ACCESS_COLUMNS}"""
OPENED = f"""update database_accesses set state = 'open', password_verifier = $2, columns = $3, node_codes = $4,
    row_scope = $5, valid_until = $6, rotated_at = case when state = 'open' then clock_timestamp() end
    where id = $1 returning {ACCESS_COLUMNS}"""
OPEN_ACCESS = "select govshare_open_access($1, $2, $3, $4, $5, $6, $7, $8, $9)"
@dataclass(frozen=True)
class Credentials:
    """Shown once: the password exists nowhere else."""

    access: Access
    user: str
    password: str
    host: str | None
    port: int | None
    database: str | None
    view: str


@dataclass(frozen=True)
class Requester:
    request_id: str
    user: str
    department: str
    pools: NodePools
    engine: PolicyEngine
    specs: tuple[DataResourceSpec, ...]
    now: datetime


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677), as ``CREATE ROLE … PASSWORD``
    accepts it: the database never sees the password itself."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def view_name(grant_id: int, table: str) -> str:
    return f"grant_{grant_id}_{table}"[:63]


def _where(dsn: str | None) -> tuple[str | None, int | None, str | None]:
    if not dsn:
        return None, None, None
    parts = urlsplit(dsn)
    return parts.hostname, parts.port, parts.path.lstrip("/") or None


async def open_access(requester: Requester, grant_id: int) -> Credentials:
    """Create (or rotate) the department's access under its grant; the password is returned once."""
    pools = requester.pools
    region = pools.topology.region.database_node
    grant_row = await usable_grant(pools, requester.department, grant_id, "database", requester.now)
    spec = spec_of(requester.specs, grant_row["resource_code"])
    decider = decider_for(requester.engine, requester.department, grant_row, requester.now)
    names = [i.name for i in spec.items if i.name in set(grant_row["items"])]
    decisions = await decider.decide([spec.policy(n) for n in names], "read", grant_row["purpose"])
    columns = [n for n in names if decisions[n].allowed]
    if not columns:
        raise BadRequest(f"none of grant {grant_id}'s items may be read now", field="grantId")
    database = pools.topology.node(spec.node).database_node
    # The rows that database holds for the resource: the provider node's, or for an all-nodes register of
    # the region every node hosted there.
    nodes = sorted(pools.topology.hosted_on(database)) if spec.scope == "all_nodes" else [spec.node]
    divisions = Grant.from_row(grant_row).division_codes
    scope = sorted(divisions) if divisions is not None else None
    existing = await pools.fetch(region, "database.access", SELECT_OPEN, grant_id)
    if existing:
        access = Access.from_row(existing[0])
    else:
        rows = await pools.fetch(region, "database.insert", INSERT_ACCESS, grant_id, requester.department, database,
                                 view_name(grant_id, spec.table), columns, nodes, scope, grant_row["valid_until"],
                                 requester.user)
        access = Access.from_row(rows[0])
    password = secrets.token_urlsafe(24)
    verifier = scram_verifier(password)
    await pools.fetch(database, "database.open", OPEN_ACCESS, access.role, access.view, spec.code, spec.table,
                      columns, nodes, scope, verifier, grant_row["valid_until"])
    opened = Access.from_row((await pools.fetch(region, "database.opened", OPENED, access.id, verifier, columns,
                                                nodes, scope, grant_row["valid_until"]))[0])
    try:
        await audit.append(pools, audit.AuditRecord(
            requester.request_id, requester.user, requester.department, "database.open", grant_row["purpose"],
            spec.code, grant_ids=[grant_id], items_returned=columns,
            items_denied=[n for n in names if n not in columns], nodes=nodes,
            detail={"access": opened.id, "role": opened.role, "view": f"govshare_access.{opened.view}",
                    "database": database, "row_scope": scope, "rotated": bool(existing)}))
    except AuditUnavailable:
        await close(pools, opened, "the audit record of its opening could not be written")
        raise
    host, port, dbname = _where(pools.topology.node(database).dsn)
    return Credentials(opened, opened.role, password, host, port, dbname, f"govshare_access.{opened.view}")
