"""The commands that run the service or prepare its databases: serve, demo, migrate, seed."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from dataclasses import replace

from govshare.core.settings import Settings
from govshare.federation.checks import check_nodes
from govshare.federation.topology import Topology

from .databases import load_topology, migrate_all, resolve, service_topology
from .identity import demo_secret, mint_demo_token
from .postgres import LocalPostgres
from .progress import SeedMeter, Steps
from .serving import bind, serve

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


def _listen_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """--host / --port override GOVSHARE_HOST / GOVSHARE_PORT."""
    return replace(settings, host=args.host or settings.host,
                   port=args.port if args.port is not None else settings.port)


def _serve(settings: Settings, topology: Topology, workers: int, sock: socket.socket) -> None:
    from .app import create_app

    if load_topology(settings).needs_embedded:
        # The embedded server: serve as the least-privilege login role, not the superuser that migrated.
        topology = asyncio.run(service_topology(settings.data_dir, topology))

    # Workers build their own app from the environment: hand them what this process resolved.
    worker_env = {f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in topology.databases}
    if settings.demo_jwt_secret:
        worker_env["GOVSHARE_DEMO_JWT_SECRET"] = settings.demo_jwt_secret
    # The app is built here in any case: a setting it refuses (a missing JWT key, a short audit key, a bad
    # calendar) is then one line and exit 2 from this process. Workers would each die of it with a traceback,
    # and uvicorn's supervisor would start them again forever, never exiting.
    app = create_app(settings, topology)
    serve(sock, app if workers == 1 else None, workers, worker_env, settings.log_format)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    topology, server = asyncio.run(resolve(settings))
    try:
        applied = asyncio.run(migrate_all(topology))
        for node, versions in sorted(applied.items()):
            print(f"{node}: {'applied ' + ', '.join(map(str, versions)) if versions else 'up to date'}")
    finally:
        if server is not None and not args.keep_running:
            server.stop()
    return 0


def _seed(settings: Settings, topology: Topology, args: argparse.Namespace, force: bool, steps: Steps) -> None:
    from govshare.seed.catalog import DATA_RESOURCES
    from govshare.seed.writer import SeedOptions, seed_all

    options = SeedOptions(seed=args.seed, persons=args.persons, entities=args.entities, resources=args.resources)
    meter = SeedMeter(steps, {"persons": options.persons, "entities": options.entities,
                              "resources": options.resources + len(DATA_RESOURCES)})
    steps.step(f"seeding {len(topology.databases)} databases unless already seeded")
    started = time.perf_counter()
    reports = asyncio.run(seed_all({n.code: n.dsn or "" for n in topology.databases}, topology, options,
                                   force=force, progress=meter))
    meter.finish()
    elapsed = time.perf_counter() - started
    if all(r.skipped for r in reports):
        steps.step("demo data already present: reusing it (govshare seed --force to regenerate)")
        return
    totals: dict[str, int] = {}
    for report in reports:
        for table, count in report.rows.items():
            totals[table] = totals.get(table, 0) + count
    persons = totals.get("population", 0)
    steps.step(f"seeded {json.dumps(totals, ensure_ascii=False)} in {elapsed:.1f} s "
          f"({persons / elapsed:,.0f} persons/s, {sum(totals.values()) / elapsed:,.0f} rows/s)")


def _prepare(settings: Settings, steps: Steps) -> tuple[Topology, LocalPostgres | None]:
    """Databases resolved (the embedded server started if needed) and migrated, step by step."""
    if load_topology(settings).needs_embedded:
        steps.step(f"starting embedded PostgreSQL (data in {settings.data_dir / 'postgres'})")
    topology, server = asyncio.run(resolve(settings))
    try:
        steps.step(f"migrating {len(topology.databases)} node databases")
        applied = asyncio.run(migrate_all(topology))
    except BaseException:
        if server is not None:
            server.stop()
        raise
    count = sum(len(v) for v in applied.values())
    steps.step(f"databases ready ({count} migrations applied over {len(applied)} databases)" if count
               else "databases ready (up to date)")
    return topology, server


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    steps = Steps()
    topology, server = _prepare(settings, steps)
    try:
        _seed(settings, topology, args, force=args.force, steps=steps)
    finally:
        if server is not None:
            server.stop()
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    settings = _listen_flags(settings, args)
    with bind(settings.host, settings.port) as sock:  # closed here too when serving never starts
        topology, server = asyncio.run(resolve(settings))
        try:
            # A DSN the server refuses for good stops us here (one line, exit 2); a node that is down is
            # one warning line, and the service starts with the others.
            unreachable = asyncio.run(check_nodes(topology, settings.node_timeout))
            for warning in unreachable.values():
                print(f"govshare: warning: {warning}", file=sys.stderr, flush=True)
            _serve(settings, topology, args.workers, sock)
        finally:
            if server is not None:
                server.stop()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    if settings.demo_jwt_secret is None:
        settings = replace(settings, demo_jwt_secret=demo_secret(settings.data_dir))
    settings = _listen_flags(settings, args)
    with bind(settings.host, settings.port) as sock:
        return _demo(settings, args, sock)


def _demo(settings: Settings, args: argparse.Namespace, sock: socket.socket) -> int:
    steps = Steps()
    topology, server = _prepare(settings, steps)
    try:
        _seed(settings, topology, args, force=False, steps=steps)
        token = mint_demo_token(settings.demo_jwt_secret or "", args.department,
                                issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        url = f"http://{settings.host}:{settings.port}/graphql"
        print(f"\nGraphiQL: {url}\nHeader for GraphiQL (department {args.department}):\n"
              f'  {{"Authorization": "Bearer {token}"}}\nSample query:\n{SAMPLE_QUERY}\n'
              f"Shared data under this department's demo grant (denied fields come back null with one "
              f"FIELD_FORBIDDEN error each):\n{SAMPLE_DATA_QUERY}\n"
              f"Demo users, one per role (role, user, department, domain, token), for GraphiQL or the web console "
              f"at http://{settings.host}:{settings.port}/console:\n{demo_tokens(settings)}\n"
              f"Other departments: ./dev token <department code>   Stop: Ctrl-C\n", flush=True)
        steps.step(f"starting the service ({args.workers} process{'es' if args.workers > 1 else ''})")
        _serve(settings, topology, args.workers, sock)
    finally:
        if server is not None:
            print("stopping embedded PostgreSQL", flush=True)
            server.stop()
    return 0


def demo_tokens(settings: Settings) -> str:
    """One line per demo user (one per role): user, department, role, token."""
    from govshare.seed.roles import DEMO_USERS

    lines = []
    for u in DEMO_USERS:
        token = mint_demo_token(settings.demo_jwt_secret or "", u.department, user=u.user,
                                issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        lines.append(f"  {u.role:<17} {u.user:<18} {u.department:<10} (domain {u.domain or u.department[:6]}):"
                     f"\n    {token}")
    return "\n".join(lines)

