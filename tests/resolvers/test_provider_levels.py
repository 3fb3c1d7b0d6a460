"""A resource's provider level is its provider code's (policies.groups.facts_from_code, as Department.level
and the access rules' level: groups), not its catalog row's ``provider_level``: a prefecture's entry saying
its provider is region-level is served, filtered and counted at the level its provider's code says, on
graphql-core's path and the catalog lane alike, and a server letting other rows through its level filter is
left out (resolvers/catalog.py PROVIDER_LEVEL, resolvers/statistics.py DIMENSIONS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ..admin_helpers import as_user
from ..conftest import Cluster
from ..helpers import gql
from ..hostile_servers import filters_passing_everything
from ..schema.test_catalog_reads_edge_cases import _fresh, _send, both

PLANTED_IN = "650200"
FORGED = "650200-Z96-000001"  # provided by a prefecture bureau, its row saying region
FORGED_COUNTY = "650200-Z96-000002"  # provided by a county bureau, its row saying region
PROVIDERS = {FORGED: "650200-ZE", FORGED_COUNTY: "650200-CA-ZE"}
INSERT = """insert into resources (code, node_code, classification, category, name_zh, provider_code,
    provider_level, format, update_cycle, share_class, open_attribute, status)
    values ($1, '650200', 'department', 'test', '冒充自治区级', $2, 'region', 'database', 'daily',
            'UNCONDITIONAL', 'open', 'published')"""
LEVELS = '{ catalogStatistics(groupBy: [NODE, LEVEL], nodes: ["650200"]) { rows { node level resources } } }'


@asynccontextmanager
async def _forged(cluster: Cluster) -> AsyncIterator[None]:
    conn = await cluster.connect(PLANTED_IN)
    try:
        async with conn.transaction():
            for code, provider in PROVIDERS.items():
                await conn.execute(INSERT, code, provider)
        yield
    finally:
        await conn.execute("delete from resources where code = any($1::text[])", list(PROVIDERS))
        await conn.close()


def _codes(answer: httpx.Response) -> list[str]:
    page = answer.json()["data"]["resources"]
    assert page["unavailableNodes"] == [], page
    return [edge["node"]["code"] for edge in page["edges"]]


async def _levels(client: httpx.AsyncClient) -> dict[str, int]:
    body, _ = await gql(client, LEVELS, **as_user("supervisor.region"))
    assert "errors" not in body, body
    rows = body["data"]["catalogStatistics"]["rows"]
    assert {r["node"] for r in rows} <= {PLANTED_IN}, rows
    return {r["level"]: r["resources"] for r in rows}


async def test_a_forged_provider_level_is_served_as_its_provider_code_s(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    entities = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Resource { code providerLevel } } }"""
    async with _forged(cluster):
        looked_up = {code: await both(client, f'{{ resource(code: "{code}") {{ code providerLevel }} }}')
                     for code in PROVIDERS}
        # with the provider and its items: resource(code:) reads them in the same statement
        detailed = await both(client, f'{{ resource(code: "{FORGED}") {{ providerLevel provider {{ code }} '
                                      'dataItems { name } } }')
        listed = await both(client, '{ resources(first: 5, filter: {nodes: ["650200"], providers: ["650200-ZE", '
                                    '"650200-CA-ZE"]}) { edges { node { code providerLevel } } } }')
        entity = await _send(client, entities, {"r": [{"__typename": "Resource", "code": c} for c in PROVIDERS]})
    for answers in looked_up.values():
        for answer in answers:
            resource = answer.json()["data"]["resource"]
            assert resource["providerLevel"] == ("PREFECTURE" if resource["code"] == FORGED else "COUNTY"), resource
    for answer in detailed:
        assert answer.json()["data"]["resource"]["providerLevel"] == "PREFECTURE", answer.text
    for answer in listed:
        assert answer.json()["data"]["resources"]["edges"] == [
            {"node": {"code": FORGED, "providerLevel": "PREFECTURE"}},
            {"node": {"code": FORGED_COUNTY, "providerLevel": "COUNTY"}}], answer.text
    assert entity.json()["data"]["_entities"] == [{"code": FORGED, "providerLevel": "PREFECTURE"},
                                                  {"code": FORGED_COUNTY, "providerLevel": "COUNTY"}], entity.text


async def test_a_forged_provider_level_does_not_steer_the_level_filter(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    page = "totalCount edges { node { code providerLevel } } unavailableNodes"

    def query(level: str, nodes: str = '"650200"') -> str:
        return f'{{ resources(first: 100, filter: {{nodes: [{nodes}], providerLevels: [{level}], ' \
               f'updateCycles: [DAILY], shareClasses: [UNCONDITIONAL]}}) {{ {page} }} }}'

    async with _forged(cluster):
        region = await both(client, query("REGION", '"650000", "650200"'))
        prefecture = await both(client, query("PREFECTURE"))
        county = await both(client, query("COUNTY"))
    for answer in region:
        codes = _codes(answer)
        assert codes and all(code.startswith("650000-") for code in codes), codes
        assert answer.json()["data"]["resources"]["totalCount"] == len(codes)
        assert {e["node"]["providerLevel"] for e in answer.json()["data"]["resources"]["edges"]} == {"REGION"}
    for answer in prefecture:
        assert FORGED in _codes(answer) and FORGED_COUNTY not in _codes(answer), answer.text
        assert {e["node"]["providerLevel"] for e in answer.json()["data"]["resources"]["edges"]} == {"PREFECTURE"}
    for answer in county:
        assert FORGED_COUNTY in _codes(answer) and FORGED not in _codes(answer), answer.text
        assert {e["node"]["providerLevel"] for e in answer.json()["data"]["resources"]["edges"]} == {"COUNTY"}


async def test_a_forged_provider_level_is_counted_under_its_true_level(client: httpx.AsyncClient,
                                                                       cluster: Cluster) -> None:
    before = await _levels(client)
    async with _forged(cluster):
        after = await _levels(client)
        by_provider = (await gql(client, '{ catalogStatistics(groupBy: [PROVIDER, LEVEL], nodes: ["650200"]) '
                                         '{ rows { provider level resources } } }',
                                 **as_user("supervisor.region")))[0]["data"]["catalogStatistics"]["rows"]
    assert "region" not in before and "region" not in after, after
    assert after == {**before, "prefecture": before["prefecture"] + 1, "county": before["county"] + 1}
    forged: dict[str, Any] = {r["provider"]: r for r in by_provider if r["provider"] in PROVIDERS.values()}
    assert forged == {"650200-ZE": {"provider": "650200-ZE", "level": "prefecture", "resources": 1},
                      "650200-CA-ZE": {"provider": "650200-CA-ZE", "level": "county", "resources": 1}}


async def test_a_server_lying_about_its_provider_level_filter_is_left_out(client: httpx.AsyncClient,
                                                                          cluster: Cluster) -> None:
    """650200's server answers every text ``=`` true, so its rows of every provider level pass the filter: the
    service checks each row's provider level from its code again and leaves 650200's page out."""
    query = '{ resources(first: 100, filter: {nodes: ["650200"], providerLevels: [COUNTY]}) ' \
            '{ edges { node { code } } unavailableNodes } }'
    honest = (await _send(client, _fresh(query))).json()["data"]["resources"]
    assert honest["edges"] and honest["unavailableNodes"] == []
    async with filters_passing_everything(cluster, PLANTED_IN, equality=True):
        lying = (await _send(client, _fresh(query))).json()["data"]["resources"]
    assert lying == {"edges": [], "unavailableNodes": ["650200"]}, lying
