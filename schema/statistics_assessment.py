"""Assessment scores per department (监督考核) with the parts that make them up (formula: README)."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry
from strawberry.types import Info

from govshare.resolvers import statistics, statistics_assessment
from govshare.resolvers.context import Context


@strawberry.type(description="One part of a department's score: its weight, the ratio achieved and why.")
class ScorePart:
    name: str = strawberry.field(description="names, legal_basis, sharing, timeliness, requests or use.")
    weight: int
    ratio: float | None = strawberry.field(description="Between 0 and 1; null: the part does not apply.")
    points: float | None = strawberry.field(description="weight x ratio; null: the part does not apply.")
    detail: str = strawberry.field(description="The figures behind the ratio.")


@strawberry.type(description="A department's assessment score (0-100) and its parts.")
class DepartmentScore:
    department: str
    node: str
    score: float | None = strawberry.field(
        description="100 x (sum of points) / (sum of the weights of the parts that apply); null: none applies.")
    parts: list[ScorePart]

    @classmethod
    def of(cls, s: statistics_assessment.Score) -> DepartmentScore:
        return cls(department=s.department, node=s.node, score=s.score,
                   parts=[ScorePart(name=p.name, weight=p.weight, ratio=None if p.ratio is None else round(p.ratio, 4),
                                    points=p.points, detail=p.detail) for p in s.parts])


@strawberry.type
class Assessment:
    rows: list[DepartmentScore]
    unavailable_nodes: list[str] = strawberry.field(
        description="Nodes whose figures are missing: their departments get no score rather than a partial one.")


@strawberry.type
class AssessmentQuery:
    @strawberry.field(description="Assessment scores per department: catalog names, legal basis, sharing and "
                                  "timeliness of its published resources, share requests answered on time in "
                                  "[since, until) (default: the last 365 days) and its own refused queries. "
                                  "stats.read (supervisor, policy admin) sees the departments of its domains; "
                                  "any other caller only its own department.")
    async def assessment(self, info: Info[Context, None], departments: list[str] | None = None,
                         nodes: list[str] | None = None, since: datetime | None = None,
                         until: datetime | None = None) -> Assessment | None:
        context = info.context
        end = until or context.now
        result = await statistics_assessment.assessment(
            context.pools, context.authority, context.calendar, departments, nodes,
            since or end - timedelta(days=365), end, context.now)
        await statistics.record_reading(context.pools, context.request_id, context.caller.user,
                                        context.caller.department, "assessment", len(result.rows))
        return Assessment(rows=[DepartmentScore.of(s) for s in result.rows], unavailable_nodes=result.unavailable)
