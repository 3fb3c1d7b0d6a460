"""/healthz (the process answers) and /readyz (every node reachable and fully migrated)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from govshare.federation.nodes import NodePools
from govshare.migrations.runner import latest_version


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    pools: NodePools = request.app.state.pools
    expected = latest_version()
    statuses = await pools.probe_all()
    nodes = {}
    ready = True
    for code, status in statuses.items():
        migrated = status.migration_version == expected
        node_ready = status.reachable and migrated
        ready = ready and node_ready
        nodes[code] = {
            "ready": node_ready, "reachable": status.reachable, "database": status.database_node,
            "latency_ms": status.latency_ms, "migration_version": status.migration_version,
            "expected_migration_version": expected, "error": status.error,
        }
    not_ready = sorted(code for code, n in nodes.items() if not n["ready"])
    version = request.app.state.schemas.current
    schema = {"version": version.number, "data_resources": [s.api_name for s in version.specs],
              # Catalog entries the classification authority overruled (一数一源 conflicts included).
              "catalog_findings": [f.as_json() for f in version.findings]}
    engine = request.app.state.engine
    # Skipped rules do not make the service unready (enforcement fails closed without them) but are
    # named here so that an operator sees them.
    policy = {"rules_loaded": len(engine.rules),
              "rules_skipped": [{"id": r.id, "problem": r.problem} for r in engine.skipped]}
    return JSONResponse({"status": "ready" if ready else "not_ready", "not_ready": not_ready, "nodes": nodes,
                         "schema": schema, "policy": policy}, status_code=200 if ready else 503)
