"""The plain-list fast path answers exactly what graphql-core's own path answers."""

from __future__ import annotations

import json
from datetime import date
from enum import Enum

import pytest
import strawberry

from govshare.schema.documents import DocumentCache
from govshare.schema.execution import _SHARED_PLANS, NULLABLE_TEXT, TEXT, PlainListExecutionContext, _compiled


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    label: str
    when: date | None
    tags: list[str]


@strawberry.type
class Row:
    id: int
    name: str
    colour: Colour
    maybe: str | None
    leaf: Leaf | None
    leaves: list[Leaf]
    loose: str | None = None  # holds a non-str in some rows: String serialisation converts it

    @strawberry.field
    def computed(self, times: int = 2) -> str:
        return self.name * times


def _rows(bad: bool = False) -> list[Row]:
    rows = [Row(id=i, name=f"n{i}", colour=Colour.RED if i % 2 else Colour.BLUE, maybe=None if i % 3 else "m",
                leaf=Leaf(label=f"l{i}", when=date(2026, 1, 1 + i), tags=["a", "b"]) if i % 2 else None,
                leaves=[Leaf(label="x", when=None, tags=[])]) for i in range(5)]
    rows[1].loose = 7  # type: ignore[assignment]
    rows[2].loose = "text"
    if bad:
        rows[3].name = None  # type: ignore[assignment]
    return rows


@strawberry.type
class Query:
    @strawberry.field
    def rows(self, bad: bool = False) -> list[Row]:
        return _rows(bad)

    @strawberry.field
    def nullable_rows(self, bad: bool = False) -> list[Row | None] | None:
        return [*_rows(bad), None]

    @strawberry.field
    def one(self, bad: bool = False) -> Row:
        return _rows(bad)[3]

    @strawberry.field
    def maybe_one(self, bad: bool = False, none: bool = False) -> Row | None:
        return None if none else _rows(bad)[3]


QUERIES = [
    "{ rows { id name colour maybe __typename } }",
    "{ rows { a: id b: name id leaf { label when tags } leaves { label } } }",
    "fragment F on Row { name colour } { rows { ...F ... on Row { id } leaf { ...L } } } fragment L on Leaf { label }",
    "{ rows { id computed(times: 3) } }",  # a resolver field: must take graphql-core's path
    "{ rows(bad: true) { id name } }",  # null in a non-null field: error + null propagation
    "{ nullableRows(bad: true) { id name } }",
    "{ nullableRows { id leaf { when } } }",
    "query($s: Boolean!) { rows { id name @skip(if: $s) colour @include(if: $s) } }",
    "{ rows { loose maybe z: name a: id __typename } }",
    # single objects: a root field and the objects below it
    "{ one { id name colour leaf { label when tags } leaves { label } __typename } }",
    "{ one { id computed } }",  # a resolver field below the object: graphql-core's path
    "{ one(bad: true) { id name } }",  # null in a non-null field of a non-null root: data is null
    "{ maybeOne(bad: true) { id name } m: maybeOne { name } }",
    "{ maybeOne(none: true) { id } rows { leaf { label } } }",
    "{ one { ... on Row { id leaf { ...L } } } } fragment L on Leaf { label tags }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_fast_path_matches_graphql_core(query: str) -> None:
    plain = strawberry.Schema(query=Query)
    fast = strawberry.Schema(query=Query, execution_context_class=PlainListExecutionContext)
    for variables in ({"s": True}, {"s": False}):
        expected = await plain.execute(query, variable_values=variables)
        got = await fast.execute(query, variable_values=variables)
        assert got.data == expected.data
        assert json.dumps(got.data) == json.dumps(expected.data)  # the same keys in the same order
        assert [(e.message, e.path) for e in got.errors or []] == [(e.message, e.path) for e in expected.errors or []]


async def test_fast_path_is_taken_for_plain_fields() -> None:
    calls: list[int] = []
    schemas = []
    for context_class in (None, PlainListExecutionContext):
        schema = strawberry.Schema(query=Query, execution_context_class=context_class)
        field = schema._schema.type_map["Row"].fields["name"]  # type: ignore[attr-defined]
        original = field.resolve
        count = [0]

        def counting(*args: object, _o=original, _c=count, **kwargs: object) -> object:  # type: ignore[no-untyped-def]
            _c[0] += 1
            return _o(*args, **kwargs)

        field.resolve = counting
        result = await schema.execute("{ rows { id name } one { name } maybeOne { leaf { label } } }")
        assert result.errors is None
        calls.append(count[0])
        schemas.append(schema)
    assert calls == [6, 0]  # five rows and one single object: no resolver call on the fast path


async def test_plans_of_operations_without_variables_are_shared_by_later_requests() -> None:
    schema = strawberry.Schema(query=Query, execution_context_class=PlainListExecutionContext,
                               extensions=[DocumentCache])  # one parsed document for every request
    plain = strawberry.Schema(query=Query)
    query = "{ rows { id name colour leaf { label } } }  # shared plan"
    first = await schema.execute(query)
    shared = _SHARED_PLANS[schema._schema]
    entries = dict(shared)
    assert len(entries) == 1 and next(iter(entries.values()))[1] is not None
    second = await schema.execute(query)
    assert shared == entries and all(shared[k] is entries[k] for k in entries)  # the same plan, not a new one
    assert first.data == second.data == (await plain.execute(query)).data
    # Variables can change what a plan selects (@skip/@include): such operations keep per-request plans.
    with_variables = "query($s: Boolean!) { rows { id name @skip(if: $s) } }"
    for skip in (True, False):
        result = await schema.execute(with_variables, variable_values={"s": skip})
        assert all(("name" in row) is not skip for row in result.data["rows"])  # type: ignore[index]
    assert shared == entries


def test_compiled_completion_reads_only_plain_identifiers() -> None:
    def upper(value: object) -> object:
        return str(value).upper()

    class Item:
        def __init__(self) -> None:
            self.name, self.colour = "n", None

    fields = [("n", "name", upper, TEXT), ("c", "colour", upper, NULLABLE_TEXT), ("t", None, lambda _: "Item", 0)]
    compiled = _compiled(fields)
    assert compiled is not None and compiled(Item()) == {"n": "n", "c": None, "t": "Item"}
    assert _compiled([("x", "name; import os", upper, TEXT)]) is None
    assert _compiled([("x", "class", upper, TEXT)]) is None
