"""Government departments (政务部门): a tree across nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info

from govshare.federation.pagination import clamp_first, decode_cursor, encode_cursor
from govshare.resolvers.context import Context

from .common import Level, LocalizedText, PageInfo

if TYPE_CHECKING:
    from .resources import ResourceConnection


# @key: other subgraphs (a national directory) reference departments by code.
@strawberry.type(description="A government department (政务部门).", directives=[Key(fields=FieldSet("code"))])
class Department:
    # Plain attributes, filled by schema.builders for what the query selected: strawberry resolves
    # them without a per-field resolver call.
    code: str
    name: str = strawberry.field(description="Name in the request's language (lang argument or Accept-Language).")
    names: LocalizedText
    level: Level = strawberry.field(description="The level its code says (the region node's codes REGION, "
                                   "<node>-C<letter>-<kind> COUNTY, others PREFECTURE), as for the access rules' "
                                   "level: groups, whatever its catalog row says.")
    node: str = strawberry.field(description="Code of the node that serves this department.")
    division_code: str = strawberry.field(description="GB/T 2260 division code.")
    parent_code: str | None
    parent: Department | None = None
    children: list[Department] = strawberry.field(default_factory=list)
    lang: strawberry.Private[str] = "zh"

    @strawberry.field(description="Resources this department provides, ordered by code.")
    async def resources(
        self, info: Info[Context, None], first: int = 20, after: str | None = None,
    ) -> Annotated[ResourceConnection, strawberry.lazy(".resources")]:
        from govshare.resolvers.selection import current_field

        from .builders import resource_connection

        limit = clamp_first(first)
        rows = await info.context.loaders.provider_resources.load((self.code, limit, decode_cursor(after)))
        return await resource_connection(info.context, rows[:limit], len(rows) > limit, None, [],
                                         current_field(info.selected_fields), self.lang)


@strawberry.type
class DepartmentEdge:
    cursor: str
    node: Department


@strawberry.type
class DepartmentConnection:
    edges: list[DepartmentEdge]
    page_info: PageInfo
    unavailable_nodes: list[str] = strawberry.field(
        description="Nodes that did not answer; their departments are missing from this page.")

    @classmethod
    def of(cls, departments: list[Department], has_next: bool, unavailable: list[str],
           cursors: Sequence[str] | None = None) -> DepartmentConnection:
        cursors = cursors if cursors is not None else [encode_cursor(d.code) for d in departments]
        edges = [DepartmentEdge(cursor=c, node=d) for c, d in zip(cursors, departments, strict=True)]
        return cls(edges=edges, page_info=PageInfo(has_next_page=has_next,
                                                   end_cursor=edges[-1].cursor if edges else None),
                   unavailable_nodes=unavailable)


