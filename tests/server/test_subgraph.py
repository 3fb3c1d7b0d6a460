"""The committed subgraph SDL is the one the demo catalog serves; the offline builder matches the catalog."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from strawberry.printer import print_schema

from govshare.core.settings import DEFAULT_TOPOLOGY
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.resolvers.specs import load_specs
from govshare.schema import build_schema
from govshare.server.cli import main
from govshare.server.subgraph import demo_sdl, demo_specs

from ..conftest import SCALE, Cluster
from ..helpers import gql

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "subgraph.graphql"


def test_committed_sdl_is_the_demo_catalogs() -> None:
    expected = demo_sdl(Topology.load(DEFAULT_TOPOLOGY))
    assert COMMITTED.read_text(encoding="utf-8") == expected, \
        "schema/subgraph.graphql is stale: run ./dev sdl > schema/subgraph.graphql and review the diff"


def test_sdl_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdl"]) == 0
    out = capsys.readouterr().out
    assert out == COMMITTED.read_text(encoding="utf-8")


async def test_offline_specs_equal_the_seeded_catalog(cluster: Cluster) -> None:
    """What ``govshare sdl`` builds from the seed definitions is what a server reads from the seeded
    catalog (other tests may publish more resources meanwhile: the seeded ones are compared)."""
    pools = NodePools(cluster.topology, timeout=2.0, min_size=1, max_size=2)
    await pools.open()
    try:
        seeded, failed = await load_specs(pools)
    finally:
        await pools.close()
    assert failed == []
    offline = demo_specs(cluster.topology, SCALE.seed)
    assert len(offline) == 3
    by_code = {s.code: s for s in seeded}
    assert [by_code.get(s.code) for s in offline] == offline


async def test_served_sdl_is_the_current_schemas(client: httpx.AsyncClient) -> None:
    body, _ = await gql(client, "{ _service { sdl } }")
    current = client.app.state.schemas.current  # type: ignore[attr-defined]
    assert body["data"]["_service"]["sdl"] == print_schema(current.schema)
    assert body["data"]["_service"]["sdl"] == print_schema(build_schema(list(current.specs)))
