"""一数一源 conflicts for supervision: register columns offered under more than one class or source."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from govshare.resolvers import statistics_conflicts
from govshare.resolvers.context import Context
from govshare.resolvers.specs import Finding


@strawberry.type(description="The class one catalog entry states for the column.")
class StatedClass:
    resource: str
    share_class: str


@strawberry.type(description="One register column described by several catalog entries that disagree.")
class SourceConflict:
    kind: str = strawberry.field(description="class_conflict: entries state different classes (the strictest "
                                             "applies); unclassified_by_owner: the register's owner does not "
                                             "classify a column another entry offers (NOT_SHARED applies).")
    resource: str = strawberry.field(description="The entry overruled.")
    database: str = strawberry.field(description="The node database holding the register ('*': every node).")
    table: str | None
    column: str | None
    applied: str | None = strawberry.field(description="The class applied to every entry.")
    detail: str
    classes: list[StatedClass]

    @classmethod
    def of(cls, finding: Finding) -> SourceConflict:
        return cls(kind=finding.kind, resource=finding.resource, database=finding.database, table=finding.table,
                   column=finding.column, applied=finding.applied, detail=finding.detail,
                   classes=[StatedClass(resource=code, share_class=c) for code, c in finding.classes])


@strawberry.type
class ConflictQuery:
    @strawberry.field(description="一数一源 conflicts found when the current schema was built from every "
                                  "node's catalog (no statement at query time). Needs stats.read; a "
                                  "prefecture's domain sees conflicts involving its own node's resources.")
    def source_conflicts(self, info: Info[Context, None], nodes: list[str] | None = None
                         ) -> list[SourceConflict] | None:
        context = info.context
        return [SourceConflict.of(f) for f in statistics_conflicts.source_conflicts(
            context.catalog_findings, context.pools, context.authority, nodes)]
