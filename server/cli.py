"""govshare: run the GraphQL service, prepare its databases, administer grants and audit.

This module parses and dispatches, and holds the administrative commands; serving and database
preparation are in ``operations``.

Exit codes: 0 done; 1 a check found a problem (audit verify); 2 bad usage, input or configuration;
3 cannot listen on the HTTP address (port in use, no permission); 4 a database is unavailable or
cannot be migrated; 130 interrupted (Ctrl-C before the service started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from core.errors import CannotListen, EmbeddedPostgresError, GovshareError, MigrationError, NodeUnavailable
from core.settings import Settings
from federation.nodes import NodePools

from . import operations, policy_commands
from .databases import resolve as _resolve
from .identity import demo_secret, mint_demo_token
from .postgres import LocalPostgres
from .tokens import check_department, check_secret

if TYPE_CHECKING:
    from resolvers.administration import Admin
def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    if args.ttl <= 0:
        raise GovshareError(f"--ttl must be a positive number of seconds, got {args.ttl}")
    secret = check_secret(settings.demo_jwt_secret) or demo_secret(settings.data_dir)
    note = asyncio.run(check_department(settings, args.department))
    if note:
        print(f"govshare: {note}", file=sys.stderr)
    print(mint_demo_token(secret, args.department, user=args.user, ttl_seconds=args.ttl,
                          issuer=settings.jwt_issuer, audience=settings.jwt_audience))
    return 0

async def _admin(settings: Settings, by: str) -> tuple[Admin, NodePools, LocalPostgres | None]:
    """The command line acts with the database owner's power: as a region policy admin named ``by``."""
    from policies.authority import Authority, AuthorityModel, RoleAssignment
    from resolvers.administration import Admin

    topology, server = await _resolve(settings)
    pools = NodePools(topology, timeout=settings.node_timeout)
    try:
        await pools.open()
    except BaseException:
        if server is not None:
            server.stop()
        raise
    from resolvers import audit

    from .checkpoints import audit_key

    audit.install(pools, audit_key(settings))  # administrative changes are audited like queries
    region = topology.region.code
    model = AuthorityModel(region, [RoleAssignment(by, "policy_admin", region)])
    return Admin(pools, Authority(model, by, "cli"), f"cli-{uuid.uuid4().hex}"), pools, server


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    return policy_commands.run(settings, args, _admin)


def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    from resolvers import roles

    async def run() -> int:
        admin, pools, server = await _admin(settings, args.by)
        try:
            if args.role_command == "list":
                for row in await roles.live(admin, args.user):
                    print(f"{row.user:<24} {row.role:<17} {row.domain}  since {row.created_at:%Y-%m-%d %H:%M} "
                          f"by {row.created_by}")
                return 0
            operation = roles.assign if args.role_command == "assign" else roles.revoke
            change = await operation(admin, args.user, args.role, args.domain, args.reason)
            verb = "now holds" if args.role_command == "assign" else "no longer holds"
            print(f"{args.user} {verb} {args.role} in domain {args.domain} (change {change.id})")
            return 0
        finally:
            await pools.close()
            if server is not None:
                server.stop()

    return asyncio.run(run())


async def _region(settings: Settings) -> tuple[asyncpg.Connection, LocalPostgres | None]:
    topology, server = await _resolve(settings)
    return await asyncpg.connect(topology.node(topology.region.code).dsn or ""), server


def cmd_grant(settings: Settings, args: argparse.Namespace) -> int:
    """Grants through the same validation and history as the GraphQL mutations (resolvers/grants.py)."""
    from resolvers import grants
    from resolvers.validation import GrantInput

    async def run() -> int:
        admin, pools, server = await _admin(settings, args.by)
        try:
            if args.grant_command == "create":
                given = GrantInput(args.department, args.resource, _names(args.items), args.purpose, args.until,
                                   args.valid_from, _names(args.divisions) if args.divisions else None)
                row, change = await grants.create(admin, given, args.reason)
                print(f"grant {row.id} created (change {change.id}): {row.department} may read "
                      f"{','.join(row.items)} of {row.resource} for {row.purpose!r} from "
                      f"{_day(row.valid_from)} to {_day(row.valid_until, end=True)} (China Standard Time)"
                      + (f", rows of {','.join(row.divisions)}" if row.divisions else ""))
            elif args.grant_command == "revoke":
                row, change = await grants.revoke(admin, args.id, args.reason)
                print(f"grant {row.id} revoked (change {change.id})")
            else:
                for row in await grants.listed(admin, args.department, args.resource, args.state):
                    scope = ",".join(row.divisions) if row.divisions else "all rows"
                    print(f"{row.id:>5}  {row.state:<13} {row.department:<14} {row.resource}  {','.join(row.items)}  "
                          f"purpose={row.purpose}  {_day(row.valid_from)}..{_day(row.valid_until, end=True)}  "
                          f"scope={scope}")
            return 0
        finally:
            await pools.close()
            if server is not None:
                server.stop()

    return asyncio.run(run())


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _day(moment: datetime, end: bool = False) -> str:
    """A validity bound as the calendar day in China Standard Time (an end is exclusive: its day before)."""
    from resolvers.validation import CST

    local = moment.astimezone(CST)
    if end and local.time() == datetime.min.time():
        local -= timedelta(days=1)
    return f"{local:%Y-%m-%d}"


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from resolvers.audit import read_checkpoint_file, read_checkpoints, verify_chain

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
            print(f"audit chain: {verdict.records} records (last seq {verdict.last_seq}, {verdict.keyed} keyed); "
                  f"{verdict.checkpoints} checkpoints")
            for problem in verdict.problems:
                print(f"{problem.kind}: first record affected {problem.first_seq}: {problem.detail}")
            if not verdict.problems:
                print("audit chain intact and consistent with every checkpoint")
        return 1 if verdict.problems else 0

    return asyncio.run(run())


def cmd_sdl(settings: Settings, args: argparse.Namespace) -> int:
    from federation.topology import Topology

    from .subgraph import demo_sdl

    sys.stdout.write(demo_sdl(Topology.load(settings.topology_path), args.seed))
    return 0


def _seed_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=20261126, metavar="S", help="random seed (same seed, same data)")
    parser.add_argument("--persons", type=int, default=100_000, metavar="N", help="population register rows in total")
    parser.add_argument("--entities", type=int, default=20_000, metavar="N", help="legal entities (and licences) in total")
    parser.add_argument("--resources", type=int, default=5_000, metavar="N", help="generated catalog resources in total")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _listen_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: GOVSHARE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=None, help="port to listen on (default: GOVSHARE_PORT or 8000)")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="worker processes sharing the port (state is shared through the databases)")


def _group(parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str,
           dest: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command with subcommands; alone (``govshare audit``) it prints its usage."""
    group = parent.add_parser(name, help=help_text, description=help_text)
    group.set_defaults(usage_of=group, subcommand_dest=dest)
    return group.add_subparsers(dest=dest, metavar="COMMAND", title="commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govshare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    serve_ = sub.add_parser("serve", help="serve /graphql against the configured (or embedded) databases")
    _listen_args(serve_)
    demo = sub.add_parser("demo", help="embedded PostgreSQL + migrate + seed (once) + serve")
    _seed_flags(demo)
    demo.add_argument("--department", default="650100-MZ", metavar="D", help="department of the printed token")
    _listen_args(demo)
    migrate = sub.add_parser("migrate", help="apply pending migrations to every node database")
    migrate.add_argument("--keep-running", action="store_true", help=argparse.SUPPRESS)
    seed = sub.add_parser("seed", help="write deterministic demo data into every node database")
    _seed_flags(seed)
    seed.add_argument("--force", action="store_true", help="replace demo data that is already there")
    token = sub.add_parser("token", help="mint a demo JWT (HS256, demo secret) for a department")
    token.add_argument("department", help="department code <node>-<kind>, e.g. 650100-GA or 650100-CA-MZ")
    token.add_argument("--user", default=None, help="subject of the token, e.g. admin.region (default: demo-user@DEPARTMENT)")
    token.add_argument("--ttl", type=int, default=8 * 3600, metavar="SECONDS", help="lifetime in seconds (default: 28800)")
    role_sub = _group(sub, "role", "assign, revoke or list roles", "role_command")
    for name, text in (("assign", "give USER the role ROLE in domain NODE"), ("revoke", "take a role away")):
        change = role_sub.add_parser(name, help=text)
        change.add_argument("user", help="user id as in the token's sub claim")
        change.add_argument("role", help="policy_admin, sharing_reviewer, registrar, supervisor or developer")
        change.add_argument("--domain", required=True, metavar="NODE", help="node code; the region's code means everywhere")
        change.add_argument("--reason", required=True, help="why (recorded in the policy history)")
        change.add_argument("--by", default="cli-operator", help="who makes the change (recorded)")
    role_list = role_sub.add_parser("list", help="live role assignments")
    role_list.add_argument("--user", default=None, help="only this user's roles")
    role_list.add_argument("--by", default="cli-operator", help=argparse.SUPPRESS)
    policy_commands.add_parser(sub, _group)
    grant_sub = _group(sub, "grant", "create, revoke or list grants (the rows enforcement reads)", "grant_command")
    create = grant_sub.add_parser("create", help="create a purpose-bound grant")
    create.add_argument("--department", required=True, help="grantee department code")
    create.add_argument("--resource", required=True, help="resource code, e.g. 650000-B01-000001")
    create.add_argument("--items", required=True, help="comma-separated item names")
    create.add_argument("--purpose", required=True, help="the purpose queries must state")
    create.add_argument("--until", required=True, metavar="YYYY-MM-DD",
                        help="last day of validity, included whole (China Standard Time)")
    create.add_argument("--from", dest="valid_from", default=None, metavar="YYYY-MM-DD",
                        help="first day of validity (China Standard Time; default: today)")
    create.add_argument("--divisions", default=None, help="row scope: comma-separated division codes")
    create.add_argument("--reason", default="granted from the command line",
                        help="why (recorded in the policy history)")
    create.add_argument("--by", default="admin-cli", help="who grants it (recorded)")
    revoke = grant_sub.add_parser("revoke", help="revoke an active grant")
    revoke.add_argument("id", type=int, help="grant id (see grant list)")
    revoke.add_argument("--reason", required=True, help="why (recorded)")
    revoke.add_argument("--by", default="admin-cli", help="who revokes it (recorded)")
    grant_list = grant_sub.add_parser("list", help="list grants with their effective state")
    grant_list.add_argument("--department", default=None, help="only grants to this department")
    grant_list.add_argument("--resource", default=None, help="only grants on this resource code")
    grant_list.add_argument("--state", default=None, choices=["active", "expired", "not_yet_valid", "revoked"],
                            help="only grants in this effective state")
    grant_list.add_argument("--by", default="admin-cli", help=argparse.SUPPRESS)
    audit_sub = _group(sub, "audit", "check the audit trail", "audit_command")
    verify = audit_sub.add_parser("verify", help="check the keyed chain against its checkpoints; report rewrites "
                                                 "and truncation with the first record affected, exit 1 if any")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    sdl = sub.add_parser("sdl", help="print the demo catalog's federation subgraph SDL")
    sdl.add_argument("--seed", type=int, default=20261126, metavar="S", help="seed of the demo catalog")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("govshare")
    except PackageNotFoundError:
        return "unknown (not installed)"


COMMANDS = {"serve": operations.cmd_serve, "demo": operations.cmd_demo, "migrate": operations.cmd_migrate,
            "seed": operations.cmd_seed, "token": cmd_token, "grant": cmd_grant, "audit": cmd_audit, "role": cmd_role,
            "sdl": cmd_sdl, "policy": cmd_policy}


EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_CANNOT_LISTEN, EXIT_DATABASE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def exit_code(error: GovshareError) -> int:
    if isinstance(error, CannotListen):
        return EXIT_CANNOT_LISTEN
    if isinstance(error, NodeUnavailable | EmbeddedPostgresError | MigrationError):
        return EXIT_DATABASE
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    usage_of = getattr(args, "usage_of", None)
    if usage_of is not None and getattr(args, args.subcommand_dest) is None:
        usage_of.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](settings, args)
    except GovshareError as exc:
        print(f"govshare: {exc.message}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
