"""Resources of the catalog (信息资源) and their data items (信息项)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info

from govshare.resolvers import catalog
from govshare.resolvers.context import Context

from .common import (
    Classification,
    Level,
    LocalizedText,
    PageInfo,
    ResourceStatus,
    ShareClass,
    ShareMode,
    UpdateCycle,
    values,
)
from .departments import Department


@strawberry.type(description="A data item (信息项) of a resource, with its own share class.")
class DataItem:
    name: str = strawberry.field(description="Field name in the resource's data query.")
    title: str
    titles: LocalizedText
    data_type: str
    share_class: ShareClass
    condition: str | None = strawberry.field(description="Condition of use, for CONDITIONAL items.")
    legal_basis: str | None = strawberry.field(
        description="Law or regulation that forbids sharing, for NOT_SHARED items.")
    is_key: bool


# @key: other subgraphs (a national catalog, another province) reference resources by code.
@strawberry.type(description="A resource of the catalog (信息资源目录).", directives=[Key(fields=FieldSet("code"))])
class Resource:
    code: str = strawberry.field(description="Resource code; its first six digits name the owning node.")
    node: str
    name: str
    names: LocalizedText
    summary: str
    summaries: LocalizedText
    classification: Classification
    category: str
    provider_code: str
    provider_level: Level = strawberry.field(description=(
        "The level its provider's code says (the region node's codes REGION, <node>-C<letter>-<kind> COUNTY, "
        "others PREFECTURE), as Department.level and the access rules' level: groups, whatever the node's "
        "catalog row says."))
    format: str
    update_cycle: UpdateCycle
    share_class: ShareClass
    share_conditions: str | None
    share_modes: list[ShareMode]
    legal_basis: str | None
    open_attribute: str
    status: ResourceStatus
    version: int
    published_on: date | None
    related_codes: list[str]
    api_name: str | None = strawberry.field(
        description="GraphQL query field serving this resource's data, when published.")
    provider: Department | None = None
    data_items: list[DataItem] = strawberry.field(default_factory=list)


@strawberry.type
class ResourceEdge:
    cursor: str
    node: Resource


@strawberry.type
class ResourceConnection:
    edges: list[ResourceEdge]
    page_info: PageInfo
    unavailable_nodes: list[str] = strawberry.field(
        description="Nodes that did not answer; their resources are missing from this page.")
    filter: strawberry.Private[catalog.ResourceFilter | None]

    @strawberry.field(description="Total over every node, counted only when asked for (one COUNT per node).")
    async def total_count(self, info: Info[Context, None]) -> int | None:
        return await resource_total(info.context, self.filter)


async def resource_total(context: Context, flt: catalog.ResourceFilter | None) -> int | None:
    """A connection's totalCount (also answered by schema/catalog_reads.py)."""
    if flt is None:
        return None
    total, failures = await catalog.resource_count(context.pools, flt)
    for failure in failures:
        for code in context.topology.hosted_on(failure.node):
            if not flt.nodes or code in flt.nodes:
                context.node_failures.setdefault(code, failure.extensions["reason"])
    # A partial count would be a wrong number: null plus NODE_UNAVAILABLE errors instead.
    return None if failures else total


@strawberry.input(description="Filters combine with AND; a list matches any of its values.")
class ResourceFilter:
    nodes: list[str] | None = None
    providers: list[str] | None = None
    provider_levels: list[Level] | None = strawberry.field(
        default=None, description="Levels of the providers' codes, as Resource.providerLevel says them.")
    classifications: list[Classification] | None = None
    share_classes: list[ShareClass] | None = None
    share_modes: list[ShareMode] | None = None
    update_cycles: list[UpdateCycle] | None = None
    statuses: list[ResourceStatus] | None = None
    keyword: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of names and summaries in any language.")

    def to_domain(self, sharing_catalog: bool = False) -> catalog.ResourceFilter:
        return catalog.ResourceFilter(
            nodes=self.nodes or None, providers=self.providers or None,
            provider_levels=values(self.provider_levels), classifications=values(self.classifications),
            share_classes=values(self.share_classes), share_modes=values(self.share_modes),
            update_cycles=values(self.update_cycles), statuses=values(self.statuses),
            keyword=self.keyword, sharing_catalog=sharing_catalog)
