"""Apollo Federation v2 entities: the ``_Entity`` union and ``Query._entities``.

strawberry's own ``_entities`` resolves each representation on its own and answers a bad one with a
bare ``KeyError``; ours checks every representation first (resolvers/entities.py), then resolves
them type by type in batches: resources and departments through the request's dataloaders (one
statement per node per batch, related rows one level at a time as for root fields), records of
shared data through one decided, audited data query per type. A gateway therefore gets exactly
what the caller could query directly, as the caller (its forwarded Authorization and
X-Govshare-Purpose headers), and never more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Union

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from govshare.core.errors import GovshareError, NodeUnavailable
from govshare.resolvers import catalog, entities, shared_data
from govshare.resolvers.context import Context
from govshare.resolvers.selection import Tree, selection_tree

from . import builders
from .departments import Department
from .generated import _Generated, _instance, camel
from .resources import Resource

Results = list[Any]
# Generated record types with a natural key, by GraphQL type name (filled by generated.data_fields).
KeyedRecords = dict[str, _Generated]
Build = Callable[[Context, list[Any], Tree, str], Awaitable[list[Any]]]
ENTITY_UNION = "_Entity"


def _selections(info: Info[Context, None], typename: str) -> list[Any]:
    """The selections of ``_entities`` that apply to ``typename`` (its own fragments, the union's, and
    untyped ones such as ``__typename``)."""
    found: list[Any] = []
    for field in info.selected_fields:
        for selection in field.selections:
            if isinstance(selection, InlineFragment | FragmentSpread):
                if selection.type_condition in (None, typename, ENTITY_UNION):
                    found.extend(selection.selections)
            else:
                found.append(selection)
    return found


def _response_keys(selections: list[Any]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for selection in selections:
        if isinstance(selection, SelectedField):
            keys.setdefault(selection.name, selection.alias or selection.name)
        elif isinstance(selection, InlineFragment | FragmentSpread):
            for name, key in _response_keys(selection.selections).items():
                keys.setdefault(name, key)
    return keys


async def _catalog_entities(info: Info[Context, None], reps: list[entities.Representation], results: Results,
                            loader: Any, build: Build) -> None:
    context = info.context
    codes = [code for code in dict.fromkeys(r.key for r in reps)
             if catalog.node_of_code(code) in context.topology.by_code]
    rows = await loader.load_many(codes)
    found = [(code, row) for code, row in zip(codes, rows, strict=True) if row is not None]
    tree = selection_tree(_selections(info, reps[0].typename))
    built = await build(context, [row for _, row in found], tree, context.lang)
    objects = {code: obj for (code, _), obj in zip(found, built, strict=True)}
    for rep in reps:
        node = catalog.node_of_code(rep.key)
        if rep.key not in objects and node in context.node_failures:
            # A node that did not answer is an error, not a "no such entity" null.
            results[rep.index] = NodeUnavailable(node, context.node_failures[node])
        else:
            results[rep.index] = objects.get(rep.key)


async def _record_entities(info: Info[Context, None], generated: _Generated, reps: list[entities.Representation],
                           results: Results) -> None:
    context = info.context
    selections = _selections(info, generated.record_name)
    selected = [generated.by_graphql[name] for name in selection_tree(selections) if name in generated.by_graphql]
    try:
        context.count_data_query()
        batch = await entities.records_by_key(context.data_caller(), generated.spec, selected,
                                              [r.key for r in reps], context.purpose(None))
    except shared_data.RefusedQuery as refused:
        for rep in reps:
            results[rep.index] = refused.errors[0]
        return
    except GovshareError as error:  # too many data queries, audit unavailable: these entities only
        for rep in reps:
            results[rep.index] = error
        return
    root = info.path.key
    first_found = next((r.index for r in reps if r.key in batch.rows), None)
    keys = _response_keys(selections)
    for decision in batch.denied:
        # One error per denied field (not per entity), at its first occurrence, as for root fields.
        name = camel(decision.item)
        path: list[Any] = [root, first_found, keys[name]] if first_found is not None and name in keys else [root]
        context.add_error(shared_data.forbidden_error(decision, "select"), path)
    for node in batch.unavailable:
        context.node_failures.setdefault(node, "unavailable")
    for rep in reps:
        row = batch.rows.get(rep.key)
        results[rep.index] = _instance(generated.record, row) if row is not None else None


def entities_field(records: Mapping[str, _Generated]) -> Any:
    """``_entities(representations: [_Any!]!): [_Entity]!`` over Resource, Department and ``records``
    (the generated record types with a natural key, by type name)."""
    key_fields: dict[str, tuple[str, str]] = {"Resource": ("code", "string"), "Department": ("code", "string")}
    for name, generated in records.items():
        assert generated.key is not None
        key_fields[name] = (camel(generated.key), generated.spec.item(generated.key).data_type)
    members = (Resource, Department, *(g.record for g in records.values()))
    entity: Any = Annotated[Union[members], strawberry.union(  # noqa: UP007
        ENTITY_UNION, description="Types other subgraphs may reference by key.")]

    async def resolve(info: Info[Context, None], representations: list[FederationAny]) -> Results:
        parsed = entities.parse(representations, key_fields)
        results: Results = [None] * len(parsed)
        by_type: dict[str, list[entities.Representation]] = {}
        for index, item in enumerate(parsed):
            if isinstance(item, entities.Representation):
                by_type.setdefault(item.typename, []).append(item)
            else:
                results[index] = item
        loaders = info.context.loaders
        jobs: list[Awaitable[None]] = []
        for typename, reps in by_type.items():
            if typename == "Resource":
                jobs.append(_catalog_entities(info, reps, results, loaders.resource, builders.resources))
            elif typename == "Department":
                jobs.append(_catalog_entities(info, reps, results, loaders.department, builders.departments))
            else:
                jobs.append(_record_entities(info, records[typename], reps, results))
        await asyncio.gather(*jobs)
        return results

    resolve.__annotations__ = {"info": Info[Context, None], "representations": list[FederationAny],
                               "return": list[entity | None]}
    return strawberry.field(resolver=resolve, name="_entities",
                            description="Entities by key, for a federation gateway: the same data, rules "
                                        "and audit as the root fields.")
