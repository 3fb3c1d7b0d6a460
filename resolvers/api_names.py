"""Which data resource holds each api name: claims recorded in the region's database (migration 0035).

Two databases' entries may publish one api name. The region's entries take it (the region is trusted);
among the others, the name stays with the resource that holds its claim: the first served under it. A
claim is released only when its resource's database answered and no longer publishes that resource
under that name (a database that does not answer keeps its claims), so no entry can take over a name
another node's clients use, whatever its code, nor while that node is down. The claims are read and
written in the region's database only; the entry that loses gets the finding ``api_name_taken``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology

from .specs import DataResourceSpec

logger = logging.getLogger("govshare.api_names")

SELECT_CLAIMS = "select api_name, resource_code, node_code from api_name_claims"
# A name nobody holds: the first to claim it keeps it (a concurrent worker's claim wins if it came first).
CLAIM = """insert into api_name_claims (api_name, resource_code, node_code)
    select * from unnest($1::text[], $2::text[], $3::text[]) on conflict (api_name) do nothing"""
# A released name, or the region's: moved only from the holder it was read with (compare and set).
TRANSFER = """update api_name_claims c set resource_code = t.code, node_code = t.node, claimed_at = now()
    from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as t(name, code, node, previous)
    where c.api_name = t.name and c.resource_code = t.previous"""


@dataclass(frozen=True)
class Claim:
    resource: str
    node: str


async def read_claims(pools: NodePools) -> dict[str, Claim]:
    """Every claim, from the region's database (raises NodeUnavailable when it does not answer)."""
    rows = await pools.fetch(pools.topology.region.database_node, "api_names.claims", SELECT_CLAIMS)
    return {r["api_name"]: Claim(r["resource_code"], r["node_code"]) for r in rows}


def held(topology: Topology, claims: Mapping[str, Claim], catalogs: Mapping[str, Iterable[DataResourceSpec]],
         answered: Collection[str]) -> dict[str, str]:
    """The claims still held (api name -> resource code): all but those whose resource's database
    answered this read (``answered``; ``catalogs`` as it stated them) without publishing that resource
    under that name, or whose node is no longer in the topology."""
    published = {(db, s.code, s.api_name) for db, specs in catalogs.items() for s in specs}
    kept: dict[str, str] = {}
    for name, claim in claims.items():
        node = topology.by_code.get(claim.node)
        if node is None:
            continue
        database = node.database_node
        if database in answered and (database, claim.resource, name) not in published:
            continue
        kept[name] = claim.resource
    return kept


async def record(pools: NodePools, claims: Mapping[str, Claim], served: Iterable[DataResourceSpec]) -> bool:
    """Claim for every served entry the name it is served under, when another or nobody holds it (the
    authority let it through: the claim was released, or the entry is the region's). Whether anything
    was written."""
    new = [s for s in served if s.api_name not in claims]
    moved = [s for s in served if s.api_name in claims and claims[s.api_name].resource != s.code]
    database = pools.topology.region.database_node
    if new:
        await pools.fetch(database, "api_names.claim", CLAIM, [s.api_name for s in new], [s.code for s in new],
                            [s.node for s in new])
    if moved:
        for spec in moved:
            logger.warning("api name %r moves from %s to %s (released, or taken by the region)", spec.api_name,
                           claims[spec.api_name].resource, spec.code)
        await pools.fetch(database, "api_names.transfer", TRANSFER, [s.api_name for s in moved],
                            [s.code for s in moved], [s.node for s in moved],
                            [claims[s.api_name].resource for s in moved])
    return bool(new or moved)
