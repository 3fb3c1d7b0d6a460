"""The DSN check before serving: a node that does not answer is a warning (the others still serve);
a DSN its server refuses for good is a ConfigurationError naming the setting and the node."""

from __future__ import annotations

import pytest

from govshare.core.errors import ConfigurationError
from govshare.federation.checks import check_nodes
from govshare.server.postgres import free_port

from ..conftest import Cluster


async def test_a_closed_port_is_a_warning_and_the_others_still_serve(cluster: Cluster) -> None:
    topology = cluster.topology.with_dsns({"650200": f"postgresql://postgres@127.0.0.1:{free_port()}/govshare"})
    warnings = await check_nodes(topology, 1.0)
    assert list(warnings) == ["650200"]
    assert warnings["650200"].startswith("node 650200 (GOVSHARE_DSN_650200) does not answer")


async def test_a_missing_database_stops_the_start(cluster: Cluster) -> None:
    dsn = cluster.dsn("650200").rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(ConfigurationError, match=r"^GOVSHARE_DSN_650200 \(node 650200\): .*no_such_database"):
        await check_nodes(cluster.topology.with_dsns({"650200": dsn}), 5.0)
