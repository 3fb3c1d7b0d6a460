"""govshare: run the GraphQL service, prepare its databases, administer grants and audit.

This module builds the parser, dispatches and maps errors to exit codes; each family of commands
lives in a module of its own: serving and database preparation in ``operations``, administration in
``role_commands``, ``policy_commands``, ``grant_commands`` and ``audit_commands`` (the administrative
ones act through the same resolvers as the GraphQL API: as the operator, a region policy admin, or as
the user ``--by`` names, with that user's roles).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from govshare.core.errors import (
    CannotListen,
    EmbeddedPostgresError,
    GovshareError,
    MigrationError,
    NodeUnavailable,
)
from govshare.core.settings import Settings
from govshare.federation.nodes import NodePools

from . import audit_commands, grant_commands, operations, policy_commands, role_commands
from .databases import resolve as _resolve
from .identity import demo_secret, mint_demo_token
from .policy_commands import OPERATOR
from .postgres import LocalPostgres
from .tokens import check_department, check_secret

if TYPE_CHECKING:
    from govshare.resolvers.administration import Admin


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
    from govshare.policies.authority import Authority, AuthorityModel, RoleAssignment
    from govshare.resolvers.administration import Admin

    topology, server = await _resolve(settings)
    pools = NodePools(topology, timeout=settings.node_timeout)
    try:
        await pools.open()
    except BaseException:
        if server is not None:
            server.stop()
        raise
    from govshare.resolvers import audit

    from .checkpoints import audit_key

    audit.install(pools, audit_key(settings))  # administrative changes are audited like queries
    region = topology.region.code
    try:
        if by == OPERATOR:
            model = AuthorityModel(region, [RoleAssignment(by, "policy_admin", region)])
        else:  # the user named decides with the roles they hold (one role model for the API and the CLI)
            model = await AuthorityModel.load(pools.pool(region), region)
    except BaseException:
        await pools.close()
        if server is not None:
            server.stop()
        raise
    # The user's implicit developer role is in their department's node, as the API (reading the token)
    # would show it: the department the audit trail last recorded for them (the command line has no token).
    home = "" if by == OPERATOR else await _last_node(pools, region, by)
    return Admin(pools, Authority(model, by, "cli", home=home), f"cli-{uuid.uuid4().hex}"), pools, server


async def _last_node(pools: NodePools, region: str, user: str) -> str:
    """The node of the department the API last served ``user`` for; "" if none is known (or in time)."""
    from govshare.resolvers.audit_homes import home_department

    try:
        department = await home_department(pools, region, user)  # no walk of the trail (audit_homes.py)
    except NodeUnavailable:
        return ""
    return department[:6] if department else ""


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    return policy_commands.run(settings, args, _admin)


def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    return role_commands.run(settings, args, _admin)


def cmd_grant(settings: Settings, args: argparse.Namespace) -> int:
    return grant_commands.run(settings, args, _admin)


def cmd_sdl(settings: Settings, args: argparse.Namespace) -> int:
    from govshare.federation.topology import Topology

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
    parser = argparse.ArgumentParser(prog="govshare", description=DESCRIPTION,
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
    role_commands.add_parser(sub, _group)
    policy_commands.add_parser(sub, _group)
    grant_commands.add_parser(sub, _group)
    audit_commands.add_parser(sub, _group)
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
            "seed": operations.cmd_seed, "token": cmd_token, "grant": cmd_grant, "audit": audit_commands.run, "role": cmd_role,
            "sdl": cmd_sdl, "policy": cmd_policy}


DESCRIPTION = """govshare: run the GraphQL service, prepare its databases, administer grants, rules, roles and audit.

Exit codes: 0 done; 1 a check found a problem (audit verify); 2 bad usage, input or configuration;
3 cannot listen on the HTTP address (port in use, no permission); 4 a database is unavailable or
cannot be migrated; 130 interrupted (Ctrl-C before the service started)."""

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
    previous: Callable[[int, FrameType | None], Any] | int | None = None
    if threading.current_thread() is threading.main_thread():
        # kill, timeout, systemd and docker stop send SIGTERM, whose default ends the process on the spot:
        # the embedded PostgreSQL a command started (demo, serve, migrate, seed) would be left running.
        # Taken as Ctrl-C, it unwinds through the same ``finally`` blocks that stop that server.
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](settings, args)
    except GovshareError as exc:
        print(f"govshare: {exc.message}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:  # main() called in-process (tests) leaves the caller's handler as it was
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
