"""An export's own connections to the nodes are size-limited as the service's pools are
(federation/answers.py): a node's server answering a row over the limit stops the export as a node failing
mid-export does, instead of being read whole into the worker's memory. The limit is lowered here so that
the row is megabytes, not the gigabyte a value may hold."""

from __future__ import annotations

import httpx
import pytest

from govshare.federation import answers

from ..conftest import Cluster
from ..helpers import gql
from .test_exchanges import START, finished, grants, headers

__all__ = ["grants"]  # the module-scoped fixture, shared with test_exchanges

ATTACKER = "650200"
CITIZEN = "650203199901017777"
# 650200's own row of its own division, with a 2.1 MB name (its owner's doing)
PLANT = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address, division_code,
    household_type, registered_on) values ($1, '650200', repeat('长', 700000), '男', '1999-01-01', '汉族',
    '克拉玛依', '650203', '城镇', '2000-01-01')"""


async def test_an_export_stops_at_a_row_over_the_size_limit(client: httpx.AsyncClient, cluster: Cluster,
                                                            grants: dict[str, int],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MAX_MESSAGE_BYTES", 1 << 20)
    conn = await cluster.connect(ATTACKER)
    try:
        await conn.execute(PLANT, CITIZEN)
        body, _ = await gql(client, START, {"grant": grants["exchange"], "format": "CSV", "items": ["name"]},
                            **headers())
        assert "errors" not in body, body
        job = await finished(client, body["data"]["startExport"]["id"])
    finally:
        await conn.execute("delete from population where citizen_id = $1 and node_code = $2", CITIZEN, ATTACKER)
        await conn.close()
    assert job["state"] == "FAILED", job
    assert "a node failed during the export" in job["error"], job
    assert job["downloadUrl"] is None
