"""The federation subgraph SDL of the demo catalog, built from the seed definitions without a database.

The SDL a running govshare serves (``_service { sdl }``) follows its catalog; the demo catalog's is
committed as ``schema/subgraph.graphql`` so that a change to the schema shows up in review, and a
test fails when the two drift apart (regenerate with ``./dev sdl > schema/subgraph.graphql``).
"""

from __future__ import annotations

import random
from typing import Any

from strawberry.printer import print_schema

from govshare.federation.topology import Topology
from govshare.resolvers.specs import DataItemSpec, DataResourceSpec
from govshare.schema import build_schema
from govshare.seed import catalog
from govshare.seed.writer import SeedOptions

LANGS = ("zh", "ug", "kk", "en")


def demo_specs(topology: Topology, seed: int = SeedOptions.seed) -> list[DataResourceSpec]:
    """The data resources ``govshare seed --seed SEED`` publishes, as the schema builder reads them."""
    region = topology.region.code
    specs: list[DataResourceSpec] = []
    # Same random stream as the seeder's (seed/writer.py): the share conditions are drawn from it.
    for row, item_rows in catalog.data_resource_rows(topology, random.Random(f"{seed}:catalog:{region}")):
        r: dict[str, Any] = dict(zip(catalog.RESOURCE_COLUMNS, row, strict=True))
        items: list[dict[str, Any]] = [dict(zip(catalog.ITEM_COLUMNS, i, strict=True)) for i in item_rows]
        specs.append(DataResourceSpec(
            r["code"], r["node_code"], r["api_name"], r["data_table"], r["data_scope"], r["provider_code"],
            {lang: r[f"name_{lang}"] for lang in LANGS}, r["summary_en"] or r["summary_zh"],
            tuple(DataItemSpec(i["name"], i["data_type"], i["share_class"], i["share_condition"], i["legal_basis"],
                               i["is_key"], {lang: i[f"title_{lang}"] for lang in LANGS})
                  for i in sorted(items, key=lambda i: i["position"]))))
    return sorted(specs, key=lambda s: s.code)


def demo_sdl(topology: Topology, seed: int = SeedOptions.seed) -> str:
    return print_schema(build_schema(demo_specs(topology, seed))) + "\n"
