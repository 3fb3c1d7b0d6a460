"""``govshare audit verify``: the keyed audit chain checked against its checkpoints (the local file
and every node's copy), rewrites and truncation reported with the first record affected; exit 1 if any.

It reads the databases directly (no pools, no policy admin): verification must work when the service
does not, and it changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Final

import asyncpg

from govshare.core.errors import LimitExceeded
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
    verify.add_argument("--node-seconds", type=_positive(float), default=NODE_SECONDS, metavar="S",
                        help=f"most seconds to read one node's copy of the checkpoints (default {NODE_SECONDS:g})")
    verify.add_argument("--node-rows", type=_positive(int), default=NODE_ROWS, metavar="N",
                        help=f"most checkpoints to read from one node's copy (default {NODE_ROWS:,})")


# A node's copy is read whole into memory (about 0.5 kB a checkpoint), from a server its owner controls: a
# view in place of the table can stream rows for ever, each batch within the statement timeout. So the whole
# read of one node is bounded too. One checkpoint per moved lane per GOVSHARE_AUDIT_CHECKPOINT_SECONDS (60):
# a million is years of a busy region's lanes; the options raise both bounds for a longer one.
NODE_SECONDS: Final = 120.0
NODE_ROWS: Final = 1_000_000


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value
    return parse


@dataclass(frozen=True)
class UnreadNode:
    """A node whose copy of the checkpoints was not used, and why (machine-readable in --json)."""

    node: str
    reason: str  # UNREACHABLE | UNREADABLE (an error, a statement timeout, the size limits) | TIME_LIMIT | ROW_LIMIT
    detail: str


@dataclass
class NodeCopies:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    unread: list[UnreadNode] = field(default_factory=list)


async def node_checkpoints(topology: Topology) -> list[Checkpoint]:
    """The checkpoints of every node copy that could be read whole (see node_copies)."""
    return (await node_copies(topology)).checkpoints


async def node_copies(topology: Topology, seconds: float = NODE_SECONDS, rows: int = NODE_ROWS) -> NodeCopies:
    """The copies of the region's checkpoints held in every other node database. Each is read through the
    size limit of whatever a node's server sends (federation/answers.py: a prefecture's owner controls its
    server), each statement within the node's timeout, the whole read within ``seconds`` and ``rows``; a
    node that cannot be read whole so is a warning, listed with its reason, and its copy is not used (the
    other copies and the file are still checked)."""
    from govshare.resolvers.audit_checkpoints import read_checkpoints

    region = topology.region
    copies = NodeCopies()

    def unread(node: str, reason: str, detail: str) -> None:
        # on stderr: stdout is the verdict (one JSON document with --json, which lists these in unread_nodes)
        print(f"warning: checkpoints of node {node} not read: {detail}", file=sys.stderr)
        copies.unread.append(UnreadNode(node, reason, detail))

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
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # incl. a connection lost
            unread(node.code, "UNREACHABLE", type(exc).__name__)
            continue
        whole = asyncio.timeout(seconds)
        try:
            async with whole:
                copies.checkpoints += await read_checkpoints(other, region.code, f"node {node.code}", limit=rows)
        except LimitExceeded:
            unread(node.code, "ROW_LIMIT", f"more than {rows:,} checkpoints (--node-rows)")
        except TimeoutError:
            if whole.expired():  # the whole read's bound, not one statement's (command_timeout)
                unread(node.code, "TIME_LIMIT", f"not read whole within {seconds:g} s (--node-seconds)")
            else:
                unread(node.code, "UNREADABLE", "TimeoutError")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            unread(node.code, "UNREADABLE", type(exc).__name__)
        finally:
            other.terminate()  # read only: no goodbye round trip (and none to a connection the limit closed)
    return copies


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
            copies = await node_copies(topology, args.node_seconds, args.node_rows)
            checkpoints = read_checkpoint_file(file, region.code) + copies.checkpoints
            conn = await asyncpg.connect(region.dsn or "", timeout=10, connection_class=LimitedConnection)
            try:
                verdict = await verify_chain(conn, key, checkpoints)
            finally:
                await conn.close()
        finally:
            if server is not None:
                server.stop()
        if args.json:
            print(json.dumps({**verdict.as_json(), "unread_nodes": [asdict(u) for u in copies.unread]},
                             ensure_ascii=False))
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
