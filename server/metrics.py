"""Prometheus metrics for operators: requests, latency, SQL per node, node failures, denials.

Counts only: no personal data, no query text. One registry per app, so several apps in one process
(as in the tests) never share counters.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from resolvers.context import Context


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("govshare_graphql_requests", "GraphQL requests by outcome", ["outcome"],
                                registry=self.registry)
        self.latency = Histogram("govshare_graphql_request_seconds", "GraphQL request latency",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=self.registry)
        self.statements = Counter("govshare_sql_statements", "SQL statements sent to node databases",
                                  ["database"], registry=self.registry)
        self.node_failures = Counter("govshare_node_unavailable", "Nodes missing from answers", ["node"],
                                     registry=self.registry)
        self.denials = Counter("govshare_field_denials", "Denied or refused fields by reason", ["reason"],
                               registry=self.registry)
        self.errors = Counter("govshare_errors", "Errors in answers by code", ["code"], registry=self.registry)
        self.schema_version = Gauge("govshare_schema_version", "Version of the generated schema",
                                    registry=self.registry)
        self.rules_loaded = Gauge("govshare_policy_rules_loaded", "Access rules enforced", registry=self.registry)
        self.rules_skipped = Gauge("govshare_policy_rules_skipped",
                                   "Stored access rules skipped because they cannot be loaded (fail closed)",
                                   registry=self.registry)
        self.policy_reloads = Counter("govshare_policy_reloads", "Reloads of the rules and roles",
                                      registry=self.registry)
        self.admission_refused = Counter("govshare_admission_refused",
                                         "Requests answered 503 by admission control (queue full or its deadline)",
                                         registry=self.registry)
        self.in_flight = Gauge("govshare_requests_in_flight", "GraphQL requests executing", registry=self.registry)
        self.queued = Gauge("govshare_requests_queued", "GraphQL requests waiting for admission",
                            registry=self.registry)

    def observe(self, outcome: str, seconds: float, context: Context | None,
                errors: list[dict[str, object]]) -> None:
        self.requests.labels(outcome).inc()
        self.latency.observe(seconds)
        if context is not None:
            for database, count in Tally(db for db, _ in context.statements.entries).items():
                self.statements.labels(database).inc(count)
            for node in context.node_failures:
                self.node_failures.labels(node).inc()
        for error in errors:
            extensions = error.get("extensions")
            if isinstance(extensions, dict):
                self.errors.labels(str(extensions.get("code", "UNKNOWN"))).inc()
                if extensions.get("code") == "FIELD_FORBIDDEN":
                    self.denials.labels(str(extensions.get("reason"))).inc()

    async def endpoint(self, request: Request) -> Response:
        self.schema_version.set(request.app.state.schemas.current.number)
        self.rules_loaded.set(len(request.app.state.engine.rules))
        self.rules_skipped.set(len(request.app.state.engine.skipped))
        admission = getattr(request.app.state, "admission", None)
        if admission is not None:
            self.in_flight.set(admission.in_flight)
            self.queued.set(admission.queued)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
