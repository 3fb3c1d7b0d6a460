"""A faster completion of lists of plain objects for graphql-core.

graphql-core completes every field of every list item through its general machinery (resolve info,
awaitable checks, null propagation), which costs microseconds per cell: most of the time of a
1,000-row answer. For a list whose items are object types whose selected fields are all strawberry
"basic" fields (plain attributes: no resolver, no arguments, no extensions or permission classes),
the result is fully determined by attribute reads and each leaf type's ``serialize``. This context
compiles such a selection into a small function and applies it to every item: once per request, or once
for all requests of an operation without variables (its parsed nodes are then all it depends on).
Anything else (resolvers, abstract types, @defer/@stream, a null in a non-null field, a serialize
error) falls back to graphql-core's own path, which then produces the standard result and errors.
"""

from __future__ import annotations

import asyncio
import keyword
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from graphql import (
    FieldNode,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    is_enum_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Plan = Callable[[Any], Any]
MAX_SHARED_PLANS = 2048  # list plans kept per schema across requests (cleared when full)
CHUNK = 250  # items completed between two turns of the event loop (about 5 ms of 10 scalar fields each)
_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


NOT_TEXT, TEXT, NULLABLE_TEXT = 0, 1, 2


# schema -> (item type, ids of the list field's nodes) -> (those nodes, plan or None)
_SHARED_PLANS: weakref.WeakKeyDictionary[GraphQLSchema, dict[tuple[GraphQLOutputType, tuple[int, ...]],
                                                            tuple[tuple[FieldNode, ...], Plan | None]]] = \
    weakref.WeakKeyDictionary()


class _Fallback(Exception):
    """The fast path cannot produce this value; use graphql-core's path."""


class PlainListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (item type, id(field details)) -> (field details kept alive, plan or None)
        self._plans: dict[tuple[GraphQLOutputType, int], tuple[FieldDetailsList, Plan | None]] = {}

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        if not self.get_stream_usage(field_details_list, path):
            plan = self._plan_for(item_type, field_details_list)
            if plan is not None:
                items = items if isinstance(items, list) else list(items)
                if len(items) > CHUNK:
                    return self._complete_in_chunks(plan, item_type, field_details_list, info, path, items,
                                                    position_context)
                try:
                    return [plan(item) for item in items]
                except Exception:
                    pass
        return super().complete_iterable_value(item_type, field_details_list, info, path, items,
                                               position_context)

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """A single object (``resource(code:)``, a record's provider) through the same compiled plan as a list
        item, when all of its selected fields are plain; graphql-core's path otherwise, or when the plan
        meets a null in a non-null field or a serialisation error (that path then reports it)."""
        plan = self._plan_for(return_type, field_details_list)
        if plan is not None:
            try:
                return cast("dict[str, Any]", plan(result))
            except Exception:
                pass
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)

    async def _complete_in_chunks(self, plan: Plan, item_type: GraphQLOutputType,
                                  field_details_list: FieldDetailsList, info: Any, path: Path, items: list[Any],
                                  position_context: Any) -> list[Any]:
        """A long list completed CHUNK items at a time, letting the event loop turn in between: a
        1,000-row answer must not hold every other request for its whole completion."""
        completed: list[Any] = []
        try:
            for start in range(0, len(items), CHUNK):
                if start:
                    await asyncio.sleep(0)
                completed.extend(plan(item) for item in items[start:start + CHUNK])
            return completed
        except Exception:
            pass
        result = super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)
        if self.is_awaitable(result):
            return await cast("Awaitable[list[Any]]", result)
        return cast("list[Any]", result)

    def _plan_for(self, item_type: GraphQLOutputType, field_details_list: FieldDetailsList) -> Plan | None:
        key = (item_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None:
            cached = (field_details_list, self._shared_plan(item_type, field_details_list))
            self._plans[key] = cached
        return cached[1]

    def _shared_plan(self, item_type: GraphQLOutputType, details: FieldDetailsList) -> Plan | None:
        """In an operation without variables, the plan of a list field depends only on its parsed nodes
        (kept alive by the document cache) and the schema: compiled once and reused by later requests."""
        if self.operation.variable_definitions:
            return self._plan(item_type, details)
        nodes = tuple(d.node for d in details)
        shared = _SHARED_PLANS.setdefault(self.schema, {})
        key = (item_type, tuple(id(n) for n in nodes))
        entry = shared.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], nodes, strict=True)):
            if len(shared) >= MAX_SHARED_PLANS:
                shared.clear()
            # The nodes are kept with their plan: their ids cannot be reused while the entry lives.
            entry = shared[key] = (nodes, self._plan(item_type, details))
        return entry[1]

    def _plan(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Plan | None:
        nullable = True
        if is_non_null_type(type_):
            type_, nullable = type_.of_type, False
        inner: Plan | None
        if is_enum_type(type_):
            inner = _memoised(type_.serialize)  # strawberry's enum serialize scans every value
        elif is_leaf_type(type_):
            serialize = type_.serialize
            inner = serialize
        elif is_list_type(type_):
            item = self._plan(type_.of_type, details)
            if item is None:
                return None
            inner = lambda value: [item(v) for v in value]  # noqa: E731
        elif is_object_type(type_):
            inner = self._object_plan(type_, details)
        else:
            return None
        if inner is None:
            return None
        return _with_nulls(inner, nullable)

    def _object_plan(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Plan | None:
        if type_.is_type_of is not None:
            return None  # interface implementations: let graphql-core check the runtime type
        collected = self.collect_subfields(type_, details)
        if collected.new_defer_usages:
            return None
        # (response key, attribute or None for __typename, plan, String kind): a str in a String field,
        # or None in a nullable one, is its own serialisation, so those cells skip two calls each.
        fields: list[tuple[str, str | None, Plan, int]] = []
        for response_key, sub_details in collected.grouped_field_set.items():
            name = sub_details[0].node.name.value
            if name == "__typename":
                type_name = type_.name
                fields.append((response_key, None, lambda _v, n=type_name: n, NOT_TEXT))  # type: ignore[misc]
                continue
            field_def = type_.fields.get(name)
            definition = field_def.extensions.get(_BACKREF) if field_def is not None else None
            if definition is None or field_def is None or field_def.args or not definition.is_basic_field:
                return None
            sub = self._plan(field_def.type, sub_details)
            if sub is None:
                return None
            kind = NULLABLE_TEXT if field_def.type is GraphQLString else \
                TEXT if is_non_null_type(field_def.type) and field_def.type.of_type is GraphQLString else NOT_TEXT
            fields.append((response_key, definition.python_name, sub, kind))

        compiled = _compiled(fields)
        if compiled is not None:
            return compiled

        def complete(value: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, attr, sub, kind in fields:
                if attr is None:
                    out[key] = sub(value)
                    continue
                cell = getattr(value, attr)
                if kind and (cell.__class__ is str or (cell is None and kind == NULLABLE_TEXT)):
                    out[key] = cell
                else:
                    out[key] = sub(cell)
            return out

        return complete


def _compiled(fields: list[tuple[str, str | None, Plan, int]]) -> Plan | None:
    """The object's completion as one function with a dict display (what ``complete`` does cell by cell,
    without its loop). Attribute names are checked to be plain identifiers and response keys are written
    as string literals, so nothing but attribute reads and the cell plans run; None when an attribute is
    not a plain identifier (the loop then serves)."""
    items: list[str] = []
    plans: dict[str, Plan] = {}
    for position, (key, attr, sub, kind) in enumerate(fields):
        if attr is not None and (not attr.isidentifier() or keyword.iskeyword(attr)):
            return None
        name = f"p{position}"
        plans[name] = sub
        if attr is None:
            cell = f"{name}(value)"
        elif kind == NULLABLE_TEXT:
            cell = f"(c if (c := value.{attr}).__class__ is str or c is None else {name}(c))"
        elif kind == TEXT:
            cell = f"(c if (c := value.{attr}).__class__ is str else {name}(c))"
        else:
            cell = f"{name}(value.{attr})"
        items.append(f"{key!r}: {cell}")
    source = "def complete(value):\n    return {" + ", ".join(items) + "}\n"
    namespace: dict[str, Any] = dict(plans)
    exec(compile(source, "<completion plan>", "exec"), namespace)  # attributes checked to be identifiers, keys as literals
    return cast("Plan", namespace["complete"])


def _memoised(serialize: Plan) -> Plan:
    """An enum's serialisation per member, worked out once (members are hashable and few)."""
    seen: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        key = (value.__class__, value)  # a str-valued member equals its str: keep them apart
        try:
            return seen[key]
        except KeyError:
            seen[key] = result = serialize(value)
            return result
        except TypeError:  # an unhashable value: not a member; serialize reports it
            return serialize(value)

    return cached


def _with_nulls(inner: Plan, nullable: bool) -> Plan:
    if nullable:
        return lambda value: None if value is None else inner(value)

    def non_null(value: Any) -> Any:
        if value is None:
            raise _Fallback  # graphql-core reports the error and propagates the null
        return inner(value)

    return non_null
