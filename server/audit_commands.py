"""``govshare audit verify``: the keyed audit chain checked against its checkpoints (the local file
and every node's copy), rewrites and truncation reported with the first record affected; exit 1 if any.

It reads the databases directly (no pools, no policy admin): verification must work when the service
does not, and it changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json

import asyncpg

from govshare.core.settings import Settings

from .databases import resolve as _resolve
from .policy_commands import Group


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: Group) -> None:
    audit_sub = group(sub, "audit", "check the audit trail", "audit_command")
    verify = audit_sub.add_parser("verify", help="check every lane's keyed chain against its checkpoints; report "
                                                 "rewrites and truncation with the first record affected, exit 1 if any")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from govshare.resolvers.audit_checkpoints import read_checkpoint_file, read_checkpoints
    from govshare.resolvers.audit_verdicts import verify_chain

    from .checkpoints import audit_key, checkpoint_file

    key = audit_key(settings, create=False)

    async def run() -> int:
        topology, server = await _resolve(settings)
        region = topology.region
        try:
            file = checkpoint_file(settings)
            checkpoints = read_checkpoint_file(file, region.code)
            for node in topology.databases:
                if node.code == region.database_node:
                    continue
                try:
                    other = await asyncpg.connect(node.dsn or "", timeout=10)
                except (OSError, asyncpg.PostgresError) as exc:
                    print(f"warning: checkpoints of node {node.code} not read: {type(exc).__name__}")
                    continue
                try:
                    checkpoints += await read_checkpoints(other, region.code, f"node {node.code}")
                finally:
                    await other.close()
            conn = await asyncpg.connect(region.dsn or "", timeout=10)
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
