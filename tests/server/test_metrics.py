"""/metrics in one process: what the request path tallies reaches the Prometheus values unchanged."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from govshare.server.metrics import NODE_BUCKETS, Metrics, _Buckets

from ..helpers import gql, token


def test_tallied_observations_equal_observing_directly() -> None:
    values = [0.0005, 0.001, 0.0011, 0.03, 0.2, 7.0, 0.001]
    direct_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("h", "h", buckets=NODE_BUCKETS, registry=direct_registry)
    tallied = Histogram("h", "h", buckets=NODE_BUCKETS, registry=tallied_registry)
    buckets = _Buckets(NODE_BUCKETS)
    for value in values:
        direct.observe(value)
        buckets.observe(value)
    buckets.drain_into(tallied)
    buckets.drain_into(tallied)  # drained: nothing is added twice

    def without_created(registry: CollectorRegistry) -> str:
        return "\n".join(li for li in generate_latest(registry).decode().splitlines() if "_created" not in li)

    assert without_created(direct_registry) == without_created(tallied_registry)


def test_counts_wait_for_the_flush_not_for_the_request() -> None:
    metrics = Metrics()
    metrics.observe("ok", 0.01, None, [{"extensions": {"code": "FIELD_FORBIDDEN", "reason": "NO_GRANT"}}])
    metrics.node_observed("650100", 0.002, True)
    metrics.node_observed("650200", 1.0, False)
    assert metrics.requests.labels("ok")._value.get() == 0  # the request path touched only dictionaries
    metrics.flush()
    text = generate_latest(metrics.registry).decode()
    assert 'govshare_graphql_requests_total{outcome="ok"} 1.0' in text
    assert 'govshare_field_denials_total{reason="NO_GRANT"} 1.0' in text
    assert 'govshare_node_statement_seconds_count{database="650100"} 1.0' in text
    assert 'govshare_node_statement_failures_total{database="650200"} 1.0' in text
    assert 'govshare_node_up{database="650100"} 1.0' in text and 'govshare_node_up{database="650200"} 0.0' in text


def test_a_node_going_and_coming_back_is_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    with caplog.at_level(logging.INFO, logger="govshare.nodes"):
        for answered in (True, True, False, False, False, True, True):
            metrics.node_observed("650100", 0.001, answered)
    assert [r.getMessage() for r in caplog.records] == [
        "node database 650100 stopped answering: its rows are left out of answers until it answers again",
        "node database 650100 answers again"]
    assert all(r.levelname == "WARNING" for r in caplog.records)


async def test_the_app_reports_nodes_pools_audit_and_schema(client: httpx.AsyncClient) -> None:
    await gql(client, "{ population(first: 1) { nodes { name } } }", Authorization=f"Bearer {token('650100-RS')}")
    text = (await client.get("/metrics")).text
    assert re.search(r"govshare_schema_swaps_total [1-9]", text)  # the schema built at start counts
    assert re.search(r'govshare_node_statement_seconds_count\{database="650100"\} [1-9]', text)
    # GOVSHARE_POOL_SIZE 10, and 5 more that force generic plans (federation/nodes.py GENERIC_PLANS)
    assert re.search(r'govshare_pool_connections\{database="650100",state="max"\} 15\.0', text)
    assert re.search(r"govshare_audit_records_written_total [1-9]", text)
    assert re.search(r"govshare_audit_batches_total [1-9]", text)
    assert re.search(r"govshare_audit_rechains_total \d", text)
    assert re.search(r"govshare_policy_reloads_total [1-9]", text)
    assert 'govshare_node_up{database="650000"} 1.0' in text
