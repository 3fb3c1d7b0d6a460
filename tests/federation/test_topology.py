"""The default topology follows shared/data, and bad topologies are refused clearly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from govshare.core.errors import TopologyError
from govshare.core.settings import DEFAULT_TOPOLOGY
from govshare.federation.topology import Topology

DIVISIONS = Path(__file__).resolve().parents[3] / "shared" / "data" / "xinjiang-divisions.csv"


def test_default_topology_is_the_region_and_its_fourteen_prefectures() -> None:
    topology = Topology.load(DEFAULT_TOPOLOGY)
    assert topology.region.code == "650000"
    assert len([n for n in topology.nodes if n.level == "prefecture"]) == 14
    hosted = [n for n in topology.nodes if n.hosted]
    assert len(hosted) >= 2 and all(n.hosted_by == "650000" for n in hosted)
    if DIVISIONS.exists():
        with DIVISIONS.open(encoding="utf-8") as handle:
            rows = {r["code"]: r for r in csv.DictReader(handle)}
        assert {n.code for n in topology.nodes} == set(rows)
        assert all(n.names["zh"] == rows[n.code]["name_zh"] for n in topology.nodes)


def test_dsns_come_from_settings() -> None:
    topology = Topology.load(DEFAULT_TOPOLOGY, {"650000": "postgresql://x/y"})
    assert topology.node("650000").dsn == "postgresql://x/y"
    assert topology.node("654300").database_node == "650000"
    assert "654300" in topology.hosted_on("650000")


@pytest.mark.parametrize(("body", "message"), [
    ('[[nodes]]\ncode="650100"\nlevel="prefecture"\nname_zh="x"\n', "exactly one region"),
    ('[[nodes]]\ncode="650000"\nlevel="region"\nname_zh="x"\n[[nodes]]\ncode="650100"\nlevel="prefecture"\n'
     'name_zh="y"\nhosted_by="659999"\n', "not a self-hosted node"),
    ('[[nodes]]\ncode="650000"\nlevel="city"\nname_zh="x"\n', "level must be"),
    ('[[nodes]]\ncode="650000"\nlevel="region"\n', "needs name_zh"),
    ("not toml [", "cannot read topology"),
])
def test_bad_topologies_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(body)
    with pytest.raises(TopologyError, match=message):
        Topology.load(path)
