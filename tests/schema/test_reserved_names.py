"""Generated data fields never take a field or type name of the fixed schema, and one entry that cannot
be built costs only that entry (schema/__init__.py ``build_checked``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from govshare.resolvers.specs import DataItemSpec, DataResourceSpec
from govshare.schema import build_checked, build_schema

ITEM = DataItemSpec("citizen_id", "string", "UNCONDITIONAL", None, None, True, {"zh": "公民身份号码", "en": None})
SPEC = DataResourceSpec("650200-B01-000001", "650200", "rogue", "population", "provider", "650200-GA",
                        {"zh": "人口", "ug": None, "kk": None, "en": None}, "test", (ITEM,))


def _query_field(schema: object, name: str) -> object:
    graphql = schema._schema  # type: ignore[attr-defined]
    return graphql.query_type.fields.get(name)


@pytest.mark.parametrize("api", ["resources", "nodes", "me", "verify", "resource", "audit", "auditRecord"])
def test_a_reserved_name_is_refused_and_the_others_are_served(api: str) -> None:
    fixed = build_schema([])
    ok = replace(SPEC, code="650200-B01-000002", api_name="kept")
    schema, refused = build_checked([replace(SPEC, api_name=api), ok])
    assert [(r.spec.api_name, r.kind) for r in refused] == [(api, "api_name_reserved")]
    assert _query_field(schema, "kept") is not None
    if _query_field(fixed, api) is not None:  # the catalog's own field is still the catalog's
        assert str(_query_field(schema, api).type) == str(_query_field(fixed, api).type)  # type: ignore[attr-defined]


def test_a_name_the_catalog_check_would_refuse_is_not_served() -> None:
    """The CHECK on api_name lives in the prefecture's own database: its owner can drop it."""
    names = ["_entities", "_service", "a_b", "bad name", "Upper", "__schema"]
    schema, refused = build_checked([replace(SPEC, code=f"650200-B01-00001{n}", api_name=a)
                                     for n, a in enumerate(names)])
    assert sorted(r.spec.api_name for r in refused) == sorted(names)
    assert _query_field(schema, "_entities") is not None


def test_an_entry_that_fails_to_build_costs_only_that_entry() -> None:
    """A failure no name check foresaw: the entry is dropped and the build retried."""
    broken = replace(SPEC, api_name="broken", items=(replace(ITEM, data_type="no_such_type"),))
    ok = replace(SPEC, code="650200-B01-000002", api_name="kept")
    schema, refused = build_checked([broken, ok])
    assert [(r.spec.api_name, r.kind) for r in refused] == [("broken", "schema_build_failed")]
    assert _query_field(schema, "kept") is not None and _query_field(schema, "broken") is None


def test_items_whose_graphql_names_collide_cost_only_their_entry() -> None:
    """``x_2`` and ``x2`` are both ``x2`` in GraphQL (the items' CHECK lives in the node's database)."""
    clashing = replace(SPEC, api_name="clashing", items=(ITEM, replace(ITEM, name="x_2", is_key=False),
                                                           replace(ITEM, name="x2", is_key=False)))
    ok = replace(SPEC, code="650200-B01-000002", api_name="kept")
    schema, refused = build_checked([clashing, ok])
    assert [(r.spec.api_name, r.kind) for r in refused] == [("clashing", "entry_refused")]
    assert _query_field(schema, "kept") is not None


def test_entries_that_build_alone_but_fail_together_cost_only_the_later_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure no check foresaw that needs two entries (injected: the build fails whenever ``pairA`` and
    ``pairB`` are both in it). Before, the retried build failed too and the whole refresh kept the previous
    schema; now the later entry (by the order given: by code) is left out and every other one is served."""
    import govshare.schema as schema_module

    real = schema_module._assemble
    builds: list[int] = []

    def assemble(specs: list[DataResourceSpec]) -> object:
        builds.append(len(specs))
        if {"pairA", "pairB"} <= {s.api_name for s in specs}:
            raise TypeError("pairA and pairB clash")
        return real(specs)

    monkeypatch.setattr(schema_module, "_assemble", assemble)
    names = ["before1", "pairA", "between", "pairB", "after1", "after2"]
    specs = [replace(SPEC, code=f"650200-B01-00002{n}", api_name=a) for n, a in enumerate(names)]
    schema, refused = build_checked(specs)
    assert [(r.spec.api_name, r.kind) for r in refused] == [("pairB", "schema_build_failed")]
    for name in names:
        assert (_query_field(schema, name) is None) == (name == "pairB"), name
    assert len(builds) < 20, builds  # bisection, not one build per prefix
