"""Prometheus metrics for operators: requests, latency, SQL per node, node health, audit, pools, rules.

Counts only: no personal data, no query text. One registry per app, so several apps in one process
(as in the tests) never share counters.

Several worker processes (``govshare serve --workers N``) show one view: ``serve`` points
prometheus-client's multiprocess mode at a private folder (``PROMETHEUS_MULTIPROC_DIR``), every worker
writes its values there and whichever worker answers ``/metrics`` reads all of them. In that mode each
increment is a locked write to a memory-mapped file (2.5-7 µs measured here), so the request path only
adds to plain dictionaries, and those are added to the shared values once a second and before every
scrape (``flush``): what a scrape shows of other workers is at most a second old.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
from collections import Counter as Tally
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from govshare.resolvers.context import Context

logger = logging.getLogger("govshare.nodes")
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
NODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
FLUSH_SECONDS = 1.0


def multiprocess_dir() -> str | None:
    """The shared folder when this process is one of several workers, else None."""
    return os.environ.get(MULTIPROCESS_DIR) or None


class _Buckets:
    """A histogram's observations since the last flush, kept as plain counts."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # as prometheus-client: value <= bound
        self.total += value

    def drain_into(self, histogram: Any) -> None:
        # prometheus-client has no "add n observations" call; its per-bucket values are what observe()
        # increments (non-cumulative, one per bound and +Inf), so they are incremented the same way.
        for index, count in enumerate(self.counts):
            if count:
                histogram._buckets[index].inc(count)
        if any(self.counts):
            histogram._sum.inc(self.total)
        self.counts = [0] * len(self.counts)
        self.total = 0.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter("govshare_graphql_requests", "GraphQL requests by outcome", ["outcome"],
                                registry=registry)
        self.latency = Histogram("govshare_graphql_request_seconds", "GraphQL request latency",
                                 buckets=REQUEST_BUCKETS, registry=registry)
        self.statements = Counter("govshare_sql_statements", "SQL statements sent to node databases",
                                  ["database"], registry=registry)
        self.node_failures = Counter("govshare_node_unavailable", "Nodes missing from answers", ["node"],
                                     registry=registry)
        self.denials = Counter("govshare_field_denials", "Denied or refused fields by reason", ["reason"],
                               registry=registry)
        self.errors = Counter("govshare_errors", "Errors in answers by code", ["code"], registry=registry)
        self.node_seconds = Histogram("govshare_node_statement_seconds",
                                      "Answered exchanges with a node database (acquire and statement)",
                                      ["database"], buckets=NODE_BUCKETS, registry=registry)
        self.node_statement_failures = Counter("govshare_node_statement_failures",
                                               "Exchanges with a node database that failed or timed out",
                                               ["database"], registry=registry)
        self.node_up = Gauge("govshare_node_up", "1 when the last exchange with the database answered "
                             "(across workers: 0 when any live worker's last exchange failed)", ["database"],
                             multiprocess_mode="livemin", registry=registry)
        self.pool_connections = Gauge("govshare_pool_connections",
                                      "Connections per node database: busy, idle and the maximum (all workers)",
                                      ["database", "state"], multiprocess_mode="livesum", registry=registry)
        self.audit_written = Counter("govshare_audit_records_written", "Audit records made durable",
                                     registry=registry)
        self.audit_failed = Counter("govshare_audit_records_failed",
                                    "Audit records that could not be written (their answers were withheld)",
                                    registry=registry)
        self.audit_batches = Counter("govshare_audit_batches", "Audit batches appended (one statement and commit each)",
                                     registry=registry)
        self.audit_rechains = Counter("govshare_audit_rechains",
                                      "Audit batches chained again because another process appended first "
                                      "(contention between writers on one lane)", registry=registry)
        self.audit_lane = Gauge("govshare_audit_lane", "The audit lane (chain) this worker appends to (per worker)",
                                multiprocess_mode="liveall", registry=registry)
        self.schema_swaps = Counter("govshare_schema_swaps", "Generated schemas swapped in (catalog changes)",
                                    registry=registry)
        self.catalog_refreshes = Counter("govshare_catalog_refreshes",
                                         "Catalog re-reads for a schema refresh (catalog changes announced by "
                                         "any database; at most one at a time, one a second)", registry=registry)
        self.api_names_taken = Gauge("govshare_api_names_taken",
                                     "Catalog entries not served because another resource holds their api name "
                                     "(per worker; each is a catalog finding api_name_taken in /readyz)",
                                     multiprocess_mode="liveall", registry=registry)
        self.schema_version = Gauge("govshare_schema_version", "Version of the generated schema (per worker)",
                                    multiprocess_mode="liveall", registry=registry)
        self.rules_loaded = Gauge("govshare_policy_rules_loaded", "Access rules enforced (per worker)",
                                  multiprocess_mode="liveall", registry=registry)
        self.rules_skipped = Gauge("govshare_policy_rules_skipped",
                                   "Stored access rules skipped because they cannot be loaded (fail closed)",
                                   multiprocess_mode="liveall", registry=registry)
        self.policy_reloads = Counter("govshare_policy_reloads", "Reloads of the rules and roles",
                                      registry=registry)
        self.admission_refused = Counter("govshare_admission_refused",
                                         "Requests answered 503 by admission control (queue full or its deadline)",
                                         registry=registry)
        self.in_flight = Gauge("govshare_requests_in_flight", "GraphQL requests executing",
                               multiprocess_mode="livesum", registry=registry)
        self.queued = Gauge("govshare_requests_queued", "GraphQL requests waiting for admission",
                            multiprocess_mode="livesum", registry=registry)
        self.rate_limited = Counter("govshare_rate_limited", "Requests refused by a shared rate limit", ["limit"],
                                    registry=registry)
        self.rate_leases = Counter("govshare_rate_limit_leases",
                                   "Blocks of allowance leased from the region database, by outcome "
                                   "(granted, empty, unavailable)", ["limit", "outcome"], registry=registry)
        # Added to the values above by flush(): the request path only touches these.
        self._pending: Tally[tuple[Any, tuple[str, ...]]] = Tally()
        self._latency = _Buckets(REQUEST_BUCKETS)
        self._node_latency: dict[str, _Buckets] = {}
        self._node_up: dict[str, bool] = {}
        self._totals: dict[tuple[Any, tuple[str, ...]], int] = {}  # running totals read from elsewhere
        self._sources: list[Callable[[Metrics], None]] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- the request path: plain dictionaries only ------------------------------------------------

    def observe(self, outcome: str, seconds: float, context: Context | None,
                errors: list[dict[str, object]]) -> None:
        pending = self._pending
        pending[(self.requests, (outcome,))] += 1
        self._latency.observe(seconds)
        if context is not None:
            for database, _ in context.statements.entries:
                pending[(self.statements, (database,))] += 1
            for node in context.node_failures:
                pending[(self.node_failures, (node,))] += 1
        for error in errors:
            extensions = error.get("extensions")
            if isinstance(extensions, dict):
                pending[(self.errors, (str(extensions.get("code", "UNKNOWN")),))] += 1
                if extensions.get("code") == "FIELD_FORBIDDEN":
                    pending[(self.denials, (str(extensions.get("reason")),))] += 1

    def node_observed(self, database: str, seconds: float, answered: bool, cause: str | None = None) -> None:
        """``NodePools.observer``: every exchange with a node database (``cause``: why one failed)."""
        if answered:
            buckets = self._node_latency.get(database)
            if buckets is None:
                buckets = self._node_latency[database] = _Buckets(NODE_BUCKETS)
            buckets.observe(seconds)
        else:
            self._pending[(self.node_statement_failures, (database,))] += 1
        was = self._node_up.get(database)
        if was is not answered:
            # Only the changes: an operator tailing the log sees a node go and come back, once each time.
            if not answered:
                # The cause (a refused connection's SQLSTATE, say) spares the operator PostgreSQL's own log.
                logger.warning("node database %s stopped answering%s: its rows are left out of answers until "
                               "it answers again", database, f" ({cause})" if cause else "")
            elif was is False:
                logger.warning("node database %s answers again", database)
        self._node_up[database] = answered

    def count(self, metric: Counter, *labels: str) -> None:
        """One event of a rare kind (reloads, swaps, refusals)."""
        self._pending[(metric, labels)] += 1

    def total(self, metric: Counter, labels: tuple[str, ...], value: int) -> None:
        """A running total kept elsewhere (the audit trail's, a limiter's): its growth is counted."""
        key = (metric, labels)
        self._pending[key] += value - self._totals.get(key, 0)
        self._totals[key] = value

    # -- off the request path ---------------------------------------------------------------------

    def add_source(self, source: Callable[[Metrics], None]) -> None:
        """``source(metrics)`` is called before every flush to set gauges and running totals."""
        self._sources.append(source)

    def flush(self) -> None:
        for source in self._sources:
            source(self)
        pending, self._pending = self._pending, Tally()
        for (metric, labels), count in pending.items():
            if count > 0:
                (metric.labels(*labels) if labels else metric).inc(count)
        self._latency.drain_into(self.latency)
        for database, buckets in self._node_latency.items():
            buckets.drain_into(self.node_seconds.labels(database))
        for database, answered in self._node_up.items():
            self.node_up.labels(database).set(1 if answered else 0)

    def start(self) -> None:
        """With several workers, flush every second so that any worker's scrape sees the others."""
        if multiprocess_dir() is not None and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self.flush()  # what this worker counted last is not lost when it stops

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()

    def watch(self, state: Any) -> None:
        """Gauges and totals read from the app's state (``app.state``) before every flush."""
        def sample(metrics: Metrics) -> None:
            metrics.schema_version.set(state.schemas.current.number)
            metrics.api_names_taken.set(sum(f.kind == "api_name_taken" for f in state.schemas.current.findings))
            metrics.rules_loaded.set(len(state.engine.rules))
            metrics.rules_skipped.set(len(state.engine.skipped))
            admission = getattr(state, "admission", None)
            if admission is not None:
                metrics.in_flight.set(admission.in_flight)
                metrics.queued.set(admission.queued)
            for database, (size, idle, maximum) in state.pools.usage().items():
                metrics.pool_connections.labels(database, "busy").set(size - idle)
                metrics.pool_connections.labels(database, "idle").set(idle)
                metrics.pool_connections.labels(database, "max").set(maximum)
            trail = getattr(state, "audit_trail", None)
            if trail is not None:
                metrics.total(metrics.audit_written, (), trail.written)
                metrics.total(metrics.audit_failed, (), trail.failed)
                metrics.total(metrics.audit_batches, (), trail.batches)
                metrics.total(metrics.audit_rechains, (), trail.rechains)
                metrics.audit_lane.set(trail.lane)
            for limiter in getattr(state, "rate_limiters", ()):
                metrics.total(metrics.rate_limited, (limiter.name,), limiter.refused)
                for outcome, count in limiter.leases.items():
                    metrics.total(metrics.rate_leases, (limiter.name, outcome), count)

        self.add_source(sample)

    async def endpoint(self, request: Request) -> Response:
        self.flush()
        folder = multiprocess_dir()
        if folder is None:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
