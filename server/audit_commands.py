"""``govshare audit verify``: the keyed audit chain checked against its checkpoints (the local file
and every node's copy), rewrites and truncation reported with the first record affected; exit 1 if any.

It reads the databases directly (no pools, no policy admin): verification must work when the service
does not, and it changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from typing import TYPE_CHECKING

import asyncpg

from govshare.core.settings import Settings
from govshare.federation.answers import LimitedConnection
from govshare.federation.topology import Topology

from .databases import resolve as _resolve
from .policy_commands import Group

if TYPE_CHECKING:
    from govshare.resolvers.audit_checkpoints import Checkpoint


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: Group) -> None:
    audit_sub = group(sub, "audit", "check the audit trail", "audit_command")
    verify = audit_sub.add_parser("verify", help="check every lane's keyed chain against its checkpoints; report "
                                                 "rewrites and truncation with the first record affected, exit 1 if any")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")


async def node_checkpoints(topology: Topology) -> list[Checkpoint]:
    """The copies of the region's checkpoints held in every other node database. Each is read through the
    size limit of whatever a node's server sends (federation/answers.py: a prefecture's owner controls its
    server); a node that cannot be read, or whose answer goes over the limit, is a warning and its copy is
    not used (the region's own checkpoints and the file are still checked)."""
    from govshare.resolvers.audit_checkpoints import read_checkpoints

    region = topology.region
    found: list[Checkpoint] = []
    # Every statement of a node's read (its transaction, each batch of the cursor) within the node's timeout,
    # on the client (command_timeout: a server need not honour its own settings) and on the server
    # (statement_timeout: it stops waiting on a lock, or on a slow view, too): a locked table or a slow
    # view held `audit verify` for ever (review-s7 finding 4).
    timeout = topology.timeout_seconds
    settings = {"statement_timeout": str(max(1, math.ceil(timeout * 1000)))}
    for node in topology.databases:
        if node.code == region.database_node:
            continue
        try:
            other = await asyncpg.connect(node.dsn or "", timeout=10, connection_class=LimitedConnection,
                                          command_timeout=timeout, server_settings=settings)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"warning: checkpoints of node {node.code} not read: {type(exc).__name__}")
            continue
        try:
            found += await read_checkpoints(other, region.code, f"node {node.code}")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            print(f"warning: checkpoints of node {node.code} not read: {type(exc).__name__}")
        finally:
            other.terminate()  # read only: no goodbye round trip (and none to a connection the limit closed)
    return found


def run(settings: Settings, args: argparse.Namespace) -> int:
    from govshare.resolvers.audit_checkpoints import read_checkpoint_file
    from govshare.resolvers.audit_verdicts import verify_chain

    from .checkpoints import audit_key, checkpoint_file

    key = audit_key(settings, create=False)

    async def run() -> int:
        topology, server = await _resolve(settings)
        region = topology.region
        try:
            file = checkpoint_file(settings)
            checkpoints = read_checkpoint_file(file, region.code) + await node_checkpoints(topology)
            conn = await asyncpg.connect(region.dsn or "", timeout=10, connection_class=LimitedConnection)
            try:
                verdict = await verify_chain(conn, key, checkpoints)
            finally:
                await conn.close()
        finally:
            if server is not None:
                server.stop()
        if args.json:
            print(json.dumps(verdict.as_json(), ensure_ascii=False))
        else:
            print(f"audit chain: {verdict.records} records in {verdict.lanes} lane(s) (last seq {verdict.last_seq}, "
                  f"{verdict.keyed} keyed); {verdict.checkpoints} checkpoints")
            for problem in verdict.problems:
                # named as the chain names it; a missing record's global seq is mostly unknown (went with it)
                seq = "unknown" if problem.first_seq is None else problem.first_seq
                print(f"{problem.kind}: first record affected lane {problem.lane}, lane_seq {problem.lane_seq}, "
                      f"seq {seq}: {problem.detail}")
            if verdict.keyed and verdict.verified == 0:
                # One altered record is a finding; not one of many matching is almost always the wrong key file.
                print(f"hint: not one of the {verdict.keyed} keyed record(s) matches under this key: is "
                      "GOVSHARE_AUDIT_KEY_FILE the key the service writes the trail with?")
            if not verdict.problems:
                print("audit chain intact and consistent with every checkpoint")
        return 1 if verdict.problems else 0

    return asyncio.run(run())
