"""Resources of the catalog (信息资源) and their data items (信息项)."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.types import Info

from federation.pagination import encode_cursor
from resolvers import catalog
from server.context import Context

from .common import (
    Classification,
    Language,
    Level,
    LocalizedText,
    PageInfo,
    ResourceStatus,
    ShareClass,
    ShareMode,
    UpdateCycle,
    localized,
    pick_language,
    values,
)
from .departments import Department


@strawberry.type(description="A data item (信息项) of a resource, with its own share class.")
class DataItem:
    row: strawberry.Private[Any]

    @strawberry.field(description="Field name in the resource's data query.")
    def name(self) -> str:
        return str(self.row["name"])

    @strawberry.field
    def title(self, info: Info[Context, None], lang: Language | None = None) -> str:
        return pick_language(self.row, "title", lang, info)

    @strawberry.field
    def titles(self) -> LocalizedText:
        return localized(self.row, "title")

    @strawberry.field
    def data_type(self) -> str:
        return str(self.row["data_type"])

    @strawberry.field
    def share_class(self) -> ShareClass:
        return ShareClass(self.row["share_class"])

    @strawberry.field(description="Condition of use, for CONDITIONAL items.")
    def condition(self) -> str | None:
        return self.row["share_condition"]  # type: ignore[no-any-return]

    @strawberry.field(description="Law or regulation that forbids sharing, for NOT_SHARED items.")
    def legal_basis(self) -> str | None:
        return self.row["legal_basis"]  # type: ignore[no-any-return]

    @strawberry.field
    def is_key(self) -> bool:
        return bool(self.row["is_key"])


@strawberry.type(description="A resource of the catalog (信息资源目录).")
class Resource:
    row: strawberry.Private[Any]

    @strawberry.field(description="Resource code; its first six digits name the owning node.")
    def code(self) -> str:
        return str(self.row["code"])

    @strawberry.field
    def node(self) -> str:
        return str(self.row["node_code"])

    @strawberry.field
    def name(self, info: Info[Context, None], lang: Language | None = None) -> str:
        return pick_language(self.row, "name", lang, info)

    @strawberry.field
    def names(self) -> LocalizedText:
        return localized(self.row, "name")

    @strawberry.field
    def summary(self, info: Info[Context, None], lang: Language | None = None) -> str:
        return pick_language(self.row, "summary", lang, info)

    @strawberry.field
    def summaries(self) -> LocalizedText:
        return localized(self.row, "summary")

    @strawberry.field
    def classification(self) -> Classification:
        return Classification(self.row["classification"])

    @strawberry.field
    def category(self) -> str:
        return str(self.row["category"])

    @strawberry.field
    def provider_code(self) -> str:
        return str(self.row["provider_code"])

    @strawberry.field
    async def provider(self, info: Info[Context, None]) -> Department | None:
        row = await info.context.loaders.department.load(self.row["provider_code"])
        return Department(row=row) if row is not None else None

    @strawberry.field
    def provider_level(self) -> Level:
        return Level(self.row["provider_level"])

    @strawberry.field
    def format(self) -> str:
        return str(self.row["format"])

    @strawberry.field
    def update_cycle(self) -> UpdateCycle:
        return UpdateCycle(self.row["update_cycle"])

    @strawberry.field
    def share_class(self) -> ShareClass:
        return ShareClass(self.row["share_class"])

    @strawberry.field
    def share_conditions(self) -> str | None:
        return self.row["share_conditions"]  # type: ignore[no-any-return]

    @strawberry.field
    def share_modes(self) -> list[ShareMode]:
        return [ShareMode(m) for m in self.row["share_modes"]]

    @strawberry.field
    def legal_basis(self) -> str | None:
        return self.row["legal_basis"]  # type: ignore[no-any-return]

    @strawberry.field
    def open_attribute(self) -> str:
        return str(self.row["open_attribute"])

    @strawberry.field
    def status(self) -> ResourceStatus:
        return ResourceStatus(self.row["status"])

    @strawberry.field
    def version(self) -> int:
        return int(self.row["version"])

    @strawberry.field
    def published_on(self) -> date | None:
        return self.row["published_on"]  # type: ignore[no-any-return]

    @strawberry.field
    def related_codes(self) -> list[str]:
        return list(self.row["related_codes"])

    @strawberry.field(description="GraphQL query field serving this resource's data, when published.")
    def api_name(self) -> str | None:
        return self.row["api_name"] if self.row["status"] == "published" else None

    @strawberry.field
    async def data_items(self, info: Info[Context, None]) -> list[DataItem]:
        rows = await info.context.loaders.items.load(self.row["code"])
        return [DataItem(row=r) for r in rows]


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
        if self.filter is None:
            return None
        total, failures = await catalog.resource_count(info.context.pools, self.filter)
        for failure in failures:
            for code in info.context.topology.hosted_on(failure.node):
                if not self.filter.nodes or code in self.filter.nodes:
                    info.context.node_failures.setdefault(code, failure.extensions["reason"])
        # A partial count would be a wrong number: null plus NODE_UNAVAILABLE errors instead.
        return None if failures else total

    @classmethod
    def from_rows(cls, info: Info[Context, None], rows: list[Any], has_next: bool,
                  flt: catalog.ResourceFilter | None, unavailable: list[str] | None = None
                  ) -> ResourceConnection:
        info.context.loaders.prime_resources(rows)
        edges = [ResourceEdge(cursor=encode_cursor(r["code"]), node=Resource(row=r)) for r in rows]
        return cls(edges=edges, page_info=PageInfo(has_next_page=has_next,
                                                   end_cursor=edges[-1].cursor if edges else None),
                   unavailable_nodes=unavailable or [], filter=flt)


@strawberry.input(description="Filters combine with AND; a list matches any of its values.")
class ResourceFilter:
    nodes: list[str] | None = None
    providers: list[str] | None = None
    provider_levels: list[Level] | None = None
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
