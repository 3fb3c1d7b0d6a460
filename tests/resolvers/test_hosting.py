"""Whether a row read from a node database is that database's own (resolvers/hosting.py)."""

from __future__ import annotations

import logging

import pytest

from govshare.federation.topology import Topology
from govshare.resolvers.hosting import belongs, node_of, own_rows, owns

from ..conftest import TOPOLOGY

REGION = "650000"  # hosts 654300 and 653000 in the test topology


@pytest.fixture(scope="module")
def topology() -> Topology:
    return Topology.load(TOPOLOGY)


@pytest.mark.parametrize(("code", "node"), [
    ("650200-GA", "650200"), ("650200-", "650200"), ("650200-Z97-000001", "650200"),
    ("6502001-Z-000001", None), ("650200", None), ("65020", None), ("", None), (" 650200-GA", None),
    ("\uff16\uff15\uff10\uff12\uff10\uff10-GA", None), (None, None), (650200, None),
])
def test_a_code_belongs_to_the_six_characters_before_its_dash(code: object, node: str | None) -> None:
    assert node_of(code) == node
    assert belongs(code, ["650200"]) is (node == "650200")


@pytest.mark.parametrize(("database", "node", "code", "provider", "own"), [
    ("650200", "650200", "650200-Z-1", "650200-GA", True),
    ("650200", "650200", "650000-GA", None, False),          # an impostor of the region's department
    ("650200", "650200", "650200-Z-1", "650000-GA", False),  # a foreign provider
    ("650200", "650100", "650200-Z-1", "650200-GA", False),  # a foreign node
    ("650200", "650200", "6502001-Z-1", "650200-GA", False),  # no '-' after the node
    ("650200", "650200", "650200-Z-1", "6502001-GA", False),
    ("650100", "650200", "650200-Z-1", "650200-GA", False),
    (REGION, "654300", "654300-B01-1", "650000-GA", True),  # nodes the region database hosts
    (REGION, REGION, "653000-GA", None, True),
    (REGION, "654300", "650200-B01-1", "654300-GA", False),  # 650200 has a database of its own
    (REGION, None, "650000-GA", None, False),
])
def test_a_row_is_its_databases_own_when_its_node_code_and_provider_are_hosted_there(
        topology: Topology, database: str, node: str | None, code: str, provider: str | None, own: bool) -> None:
    assert owns(topology, database, node, code, provider, with_provider=provider is not None) is own


def test_rows_not_owned_are_dropped_and_logged_naming_the_database(
        topology: Topology, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"code": "650200-Z-1", "node_code": "650200", "provider_code": "650200-GA"},
            {"code": "650000-GA", "node_code": "650200", "provider_code": "650200-GA"},
            {"code": "650200-Z-2", "node_code": "650200", "provider_code": "650000-GA"},
            {"code": "650200-Z-3", "node_code": "650200", "provider_code": "650200-CA-GA"}]
    with caplog.at_level(logging.WARNING, logger="govshare.hosting"):
        kept = own_rows(topology, "650200", rows, "resource", provider="provider_code")
        departments = own_rows(topology, "650200", rows, "department")
    assert kept == [rows[0], rows[3]]
    assert departments == [rows[0], rows[2], rows[3]]  # no provider asked for: only node and code
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    assert all("database 650200" in w and "dropped" in w for w in warnings)
    assert "'650000-GA'" in warnings[0] and "'650200-Z-2'" in warnings[1]
