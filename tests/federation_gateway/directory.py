"""A second subgraph for the gateway tests: a tiny "national directory" keyed on govshare's codes.

It knows departments by code and residents by citizen ID number, adds fields of its own (a national
registry number, a national residence status) and resolves nothing else: everything else about those
entities comes from govshare, through the gateway, under govshare's rules.
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL


@strawberry.federation.type(keys=["code"])
class Department:
    code: str
    national_registry_id: str | None

    @classmethod
    def resolve_reference(cls, code: str) -> Department:
        return Department(code=code, national_registry_id=REGISTRY.get(code))


@strawberry.federation.type(keys=["citizenId"])
class PopulationRecord:
    citizen_id: str
    national_status: str | None

    @classmethod
    def resolve_reference(cls, citizen_id: str) -> PopulationRecord:
        return PopulationRecord(citizen_id=citizen_id, national_status=RESIDENTS.get(citizen_id))


REGISTRY: dict[str, str] = {}
RESIDENTS: dict[str, str] = {}


@strawberry.type
class Query:
    @strawberry.field
    def directory_departments(self) -> list[Department]:
        return [Department(code=code, national_registry_id=number) for code, number in REGISTRY.items()]

    @strawberry.field
    def national_residents(self) -> list[PopulationRecord]:
        return [PopulationRecord(citizen_id=key, national_status=status) for key, status in RESIDENTS.items()]


def create_app(departments: dict[str, str], residents: dict[str, str]) -> Starlette:
    REGISTRY.clear()
    REGISTRY.update(departments)
    RESIDENTS.clear()
    RESIDENTS.update(residents)
    schema = strawberry.federation.Schema(query=Query, federation_version="2.7")
    return Starlette(routes=[Route("/graphql", GraphQL(schema, graphql_ide=None))])
