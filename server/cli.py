"""The ``govshare`` command: serve, demo, migrate, seed, token."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from core.errors import GovshareError
from core.settings import Settings
from federation.topology import Topology

from .databases import migrate_all, provision_embedded
from .identity import demo_secret, mint_demo_token
from .postgres import LocalPostgres

SAMPLE_DATA_QUERY = """{
  population(first: 5, purpose: "最低生活保障资格审核") {
    rowScope nodes { name sex birthDate address citizenId biometricTemplateId }
  }
}"""
SAMPLE_QUERY = """{
  sharingCatalog(first: 5, filter: {keyword: "人口"}) {
    edges { node { code name provider { name parent { name } } dataItems { name shareClass legalBasis } } }
    pageInfo { hasNextPage endCursor }
  }
  nodes { code name hosted reachable latencyMs }
}"""


def _topology(settings: Settings) -> Topology:
    return Topology.load(settings.topology_path, settings.dsns)


async def _resolve(settings: Settings) -> tuple[Topology, LocalPostgres | None]:
    topology = _topology(settings)
    if topology.needs_embedded:
        server, topology = await provision_embedded(settings.data_dir, topology)
        return topology, server
    missing = [n.code for n in topology.databases if not n.dsn]
    if missing:
        raise GovshareError(f"no DSN for node(s) {', '.join(missing)}: set GOVSHARE_DSN_<code> for every "
                            "self-hosted node, or none at all to use the embedded PostgreSQL")
    return topology, None


def _serve(settings: Settings, topology: Topology) -> None:
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(settings, topology), host=settings.host, port=settings.port, log_level="info",
                lifespan="on")


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    topology, server = asyncio.run(_resolve(settings))
    try:
        applied = asyncio.run(migrate_all(topology))
        for node, versions in sorted(applied.items()):
            print(f"{node}: {'applied ' + ', '.join(map(str, versions)) if versions else 'up to date'}")
    finally:
        if server is not None and not args.keep_running:
            server.stop()
    return 0


def _seed(settings: Settings, topology: Topology, args: argparse.Namespace, force: bool) -> None:
    from seed.writer import SeedOptions, seed_all

    options = SeedOptions(seed=args.seed, persons=args.persons, entities=args.entities, resources=args.resources)
    started = time.perf_counter()
    reports = asyncio.run(seed_all({n.code: n.dsn or "" for n in topology.databases}, topology, options,
                                   force=force))
    elapsed = time.perf_counter() - started
    if all(r.skipped for r in reports):
        print("demo data already present: reusing it (govshare seed --force to regenerate)")
        return
    totals: dict[str, int] = {}
    for report in reports:
        for table, count in report.rows.items():
            totals[table] = totals.get(table, 0) + count
    persons = totals.get("population", 0)
    print(f"seeded {json.dumps(totals, ensure_ascii=False)} in {elapsed:.1f} s "
          f"({persons / elapsed:,.0f} persons/s, {sum(totals.values()) / elapsed:,.0f} rows/s)")


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    topology, server = asyncio.run(_resolve(settings))
    try:
        asyncio.run(migrate_all(topology))
        _seed(settings, topology, args, force=args.force)
    finally:
        if server is not None:
            server.stop()
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    topology, server = asyncio.run(_resolve(settings))
    try:
        _serve(settings, topology)
    finally:
        if server is not None:
            server.stop()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    if settings.demo_jwt_secret is None:
        settings = replace(settings, demo_jwt_secret=demo_secret(settings.data_dir))
    topology, server = asyncio.run(_resolve(settings))
    try:
        asyncio.run(migrate_all(topology))
        _seed(settings, topology, args, force=False)
        token = mint_demo_token(settings.demo_jwt_secret or "", args.department,
                                issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        url = f"http://{settings.host}:{settings.port}/graphql"
        print(f"\nGraphiQL: {url}\nHeader for GraphiQL (department {args.department}):\n"
              f'  {{"Authorization": "Bearer {token}"}}\nSample query:\n{SAMPLE_QUERY}\n'
              f"Shared data under this department's demo grant (denied fields come back null with one "
              f"FIELD_FORBIDDEN error each):\n{SAMPLE_DATA_QUERY}\n"
              f"Other departments: ./dev token <department code>   Stop: Ctrl-C\n", flush=True)
        _serve(settings, topology)
    finally:
        if server is not None:
            print("stopping embedded PostgreSQL", flush=True)
            server.stop()
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    secret = settings.demo_jwt_secret or demo_secret(settings.data_dir)
    print(mint_demo_token(secret, args.department, user=args.user, roles=args.roles.split(","),
                          ttl_seconds=args.ttl, issuer=settings.jwt_issuer, audience=settings.jwt_audience))
    return 0


async def _region(settings: Settings) -> tuple[asyncpg.Connection, LocalPostgres | None]:
    topology, server = await _resolve(settings)
    return await asyncpg.connect(topology.node(topology.region.code).dsn or ""), server


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GovshareError(f"not an ISO date or date-time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_grant(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        conn, server = await _region(settings)
        try:
            if args.grant_command == "create":
                scope = json.dumps({"division_codes": args.divisions.split(",")}) if args.divisions else None
                grant_id = await conn.fetchval(
                    INSERT_GRANT, args.department, args.resource, args.items.split(","), args.purpose,
                    _date(args.valid_from) if args.valid_from else datetime.now(UTC), _date(args.until), scope,
                    args.by)
                print(f"grant {grant_id} created")
            elif args.grant_command == "revoke":
                done = await conn.fetchval(REVOKE_GRANT, args.id, args.reason)
                if done is None:
                    raise GovshareError(f"no active grant {args.id}")
                print(f"grant {args.id} revoked")
            else:
                for row in await conn.fetch(LIST_GRANTS):
                    print(f"{row['id']:>5}  {row['status']:<8} {row['grantee_department']:<14} {row['resource_code']}  "
                          f"{','.join(row['items'])}  purpose={row['purpose']}  "
                          f"{row['valid_from']:%Y-%m-%d}..{row['valid_until']:%Y-%m-%d}  scope={row['row_scope']}")
            return 0
        except asyncpg.PostgresError as exc:
            raise GovshareError(f"grant {args.grant_command} failed: {exc}") from exc
        finally:
            await conn.close()
            if server is not None:
                server.stop()

    return asyncio.run(run())


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from resolvers.audit import count, first_broken_link

    async def run() -> int:
        conn, server = await _region(settings)
        try:
            broken = await first_broken_link(conn)
            total = await count(conn)
        finally:
            await conn.close()
            if server is not None:
                server.stop()
        if broken is None:
            print(f"audit chain intact: {total} records")
            return 0
        print(f"audit chain broken at record {broken[0]}: {broken[1]}")
        return 1

    return asyncio.run(run())


INSERT_GRANT = """insert into grants (grantee_department, resource_code, items, purpose, valid_from, valid_until,
                                      row_scope, created_by)
                  values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8) returning id"""
REVOKE_GRANT = """update grants set status = 'revoked', revoked_at = now(), revoke_reason = $2
                  where id = $1 and status = 'active' returning id"""
LIST_GRANTS = "select * from grants order by id"


def _seed_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=20261126, help="random seed (same seed, same data)")
    parser.add_argument("--persons", type=int, default=100_000, help="population register rows in total")
    parser.add_argument("--entities", type=int, default=20_000, help="legal entities (and licences) in total")
    parser.add_argument("--resources", type=int, default=5_000, help="generated catalog resources in total")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govshare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve /graphql against the configured (or embedded) databases")
    demo = sub.add_parser("demo", help="embedded PostgreSQL + migrate + seed (once) + serve")
    _seed_flags(demo)
    demo.add_argument("--department", default="650100-MZ", help="department of the printed token")
    migrate = sub.add_parser("migrate", help="apply pending migrations to every node database")
    migrate.add_argument("--keep-running", action="store_true", help=argparse.SUPPRESS)
    seed = sub.add_parser("seed", help="write deterministic demo data into every node database")
    _seed_flags(seed)
    seed.add_argument("--force", action="store_true", help="replace demo data that is already there")
    token = sub.add_parser("token", help="mint a demo JWT for a department")
    token.add_argument("department")
    token.add_argument("--user", default=None)
    token.add_argument("--roles", default="developer")
    token.add_argument("--ttl", type=int, default=8 * 3600)
    grant = sub.add_parser("grant", help="create, revoke or list grants (the rows enforcement reads)")
    grant_sub = grant.add_subparsers(dest="grant_command", required=True)
    create = grant_sub.add_parser("create")
    create.add_argument("--department", required=True)
    create.add_argument("--resource", required=True, help="resource code, e.g. 650000-B01-000001")
    create.add_argument("--items", required=True, help="comma-separated item names")
    create.add_argument("--purpose", required=True)
    create.add_argument("--until", required=True, help="end of validity (ISO date)")
    create.add_argument("--from", dest="valid_from", default=None, help="start of validity (default: now)")
    create.add_argument("--divisions", default=None, help="row scope: comma-separated division codes")
    create.add_argument("--by", default="admin-cli", help="who grants it (recorded)")
    revoke = grant_sub.add_parser("revoke")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--reason", required=True)
    grant_sub.add_parser("list")
    audit = sub.add_parser("audit", help="check the audit trail's hash chain")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="report the first broken link, exit 1 if any")
    return parser


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "migrate": cmd_migrate, "seed": cmd_seed, "token": cmd_token,
            "grant": cmd_grant, "audit": cmd_audit}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](settings, args)
    except GovshareError as exc:
        print(f"govshare: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
