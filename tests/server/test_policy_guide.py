"""The README's policy admin examples (```graphql_admin blocks) run verbatim as the demo's region policy
admin; the other examples (commands, ```graphql) are run by tests/test_readme.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```graphql_admin\n(.*?)^```", re.S | re.M)


async def test_admin_examples_run_verbatim(client: httpx.AsyncClient, cluster: Cluster) -> None:
    examples = FENCE.findall(README.read_text())
    assert len(examples) >= 2
    try:
        for example in examples:
            body, response = await gql(client, example, **as_user("admin.region"))
            assert response.status_code == 200 and "errors" not in body, body
            assert all(value is not None for value in body["data"].values())
            preview = body["data"].get("previewPolicyChange")
            if preview is not None:
                assert preview["totalChanges"] > 0 and preview["elapsedMs"] < 2000
                print(f"\npreview over {preview['departmentsConsidered']} departments x "
                      f"{preview['itemsConsidered']} items: {preview['elapsedMs']} ms")
    finally:
        conn = await cluster.connect("650000")
        try:
            await conn.execute("""update policy_rules set removed_at = now() where removed_at is null
                and v0 = 'level:county' and v2 = 'address'""")
        finally:
            await conn.close()
