"""Government departments (政务部门): a tree across nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from federation.pagination import clamp_first, decode_cursor, encode_cursor
from server.context import Context

from .common import Language, LocalizedText, PageInfo, localized, pick_language

if TYPE_CHECKING:
    from .resources import ResourceConnection


@strawberry.type(description="A government department (政务部门).")
class Department:
    row: strawberry.Private[Any]

    @strawberry.field
    def code(self) -> str:
        return str(self.row["code"])

    @strawberry.field
    def name(self, info: Info[Context, None], lang: Language | None = None) -> str:
        return pick_language(self.row, "name", lang, info)

    @strawberry.field
    def names(self) -> LocalizedText:
        return localized(self.row, "name")

    @strawberry.field
    def level(self) -> str:
        return str(self.row["level"])

    @strawberry.field(description="Code of the node that serves this department.")
    def node(self) -> str:
        return str(self.row["node_code"])

    @strawberry.field(description="GB/T 2260 division code.")
    def division_code(self) -> str:
        return str(self.row["division_code"])

    @strawberry.field
    def parent_code(self) -> str | None:
        return self.row["parent_code"]  # type: ignore[no-any-return]

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Department | None:
        code = self.row["parent_code"]
        if code is None:
            return None
        row = await info.context.loaders.department.load(code)
        return Department(row=row) if row is not None else None

    @strawberry.field
    async def children(self, info: Info[Context, None]) -> list[Department]:
        rows = await info.context.loaders.children.load(self.row["code"])
        return [Department(row=r) for r in rows]

    @strawberry.field(description="Resources this department provides.")
    async def resources(
        self, info: Info[Context, None], first: int = 20, after: str | None = None,
    ) -> Annotated[ResourceConnection, strawberry.lazy(".resources")]:
        from .resources import ResourceConnection

        limit = clamp_first(first)
        key = decode_cursor(after)
        rows = await info.context.loaders.provider_resources.load((self.row["code"], limit, key))
        return ResourceConnection.from_rows(info, rows[:limit], len(rows) > limit, None)


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
    def from_rows(cls, rows: list[Any], has_next: bool, unavailable: list[str]) -> DepartmentConnection:
        edges = [DepartmentEdge(cursor=encode_cursor(r["code"]), node=Department(row=r)) for r in rows]
        return cls(edges=edges, page_info=PageInfo(has_next_page=has_next,
                                                   end_cursor=edges[-1].cursor if edges else None),
                   unavailable_nodes=unavailable)
