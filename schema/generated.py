"""GraphQL types generated from the published resources of the catalog.

Every published resource with a data location becomes a query field (its ``api_name``) returning a
connection of records whose fields are the resource's data items. Types, descriptions and filters
follow the catalog; the schema is rebuilt when the catalog changes (see server/schemas.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Any, Optional

import strawberry
from graphql import FieldNode
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from govshare.core.errors import BadRequest
from govshare.resolvers import shared_data, specs, verification
from govshare.resolvers.context import Context
from govshare.resolvers.selection import Tree, current_field, response_keys
from govshare.resolvers.values import check as check_value

from .common import PageInfo
from .data_inputs import (
    FILTERS,
    PYTHON_TYPES,
    Direction,
    Verification,
    VerificationOutcome,
    VerifiedItem,
    VerifyValue,
)

Spec = specs.DataResourceSpec
logger = logging.getLogger("govshare.schema")
MAX_SELECTIONS = 1024  # selections remembered per data field (cleared when full)
# (edges key, its node's key, nodes key, item -> response key under edges.node, item -> response key under nodes)
ResponseKeys = tuple[str, str, str, dict[str, str], dict[str, str]]


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


TYPE_SUFFIXES = ("Record", "Filter", "Field", "Order", "Edge", "Connection")


def type_names(api_name: str) -> tuple[str, ...]:
    """Every GraphQL type name a resource's field generates (see ``_Generated``)."""
    return tuple(f"{pascal(api_name)}{suffix}" for suffix in TYPE_SUFFIXES)


def field_name(api_name: str) -> str:
    """The root field's GraphQL name (strawberry converts the Python name)."""
    return to_camel_case(api_name)


def camel(name: str) -> str:
    """An item's GraphQL field name: strawberry's own conversion, so that by_graphql, error paths and
    @key fields name exactly the fields strawberry generates (x_2nd is x2nd, not x2Nd)."""
    return to_camel_case(name)


def _item_description(item: specs.DataItemSpec) -> str:
    title = f"{item.titles.get('zh')} ({item.titles.get('en')})"
    if item.share_class == "UNCONDITIONAL":
        return f"{title}. Share class UNCONDITIONAL: readable by every department."
    if item.share_class == "CONDITIONAL":
        return (f"{title}. Share class CONDITIONAL: readable only under an active grant for the stated purpose. "
                f"Condition: {item.condition}")
    return f"{title}. Share class NOT_SHARED: never returned. Legal basis: {item.legal_basis}"


def _instance(cls: type, values: dict[str, Any]) -> Any:
    # Plain attribute objects (see schema/builders.py): strawberry resolves them without resolver calls.
    obj: Any = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _adopting(cls: type, values: dict[str, Any]) -> Any:
    """``_instance`` for a dict made for this one object and used by nothing else: no copy per row."""
    obj: Any = object.__new__(cls)
    obj.__dict__ = values
    return obj


class _Generated:
    """The types of one resource."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._selections: dict[tuple[int, ...], tuple[tuple[FieldNode, ...], Tree]] = {}
        # The names schema/__init__.py checks against the fixed schema's before building.
        record_name, filter_name, field_name_, order_name, edge_name, connection_name = type_names(spec.api_name)
        self.by_graphql = {camel(i.name): i.name for i in spec.items}
        record_ns: dict[str, Any] = {"__annotations__": {}}
        filter_ns: dict[str, Any] = {"__annotations__": {"nodes": Optional[list[str]]},  # noqa: UP045
                                     "nodes": strawberry.field(default=None, description="Node codes to ask.")}
        for item in spec.items:
            record_ns["__annotations__"][item.name] = Optional[PYTHON_TYPES[item.data_type]]  # noqa: UP045
            record_ns[item.name] = strawberry.field(default=None, description=_item_description(item))
            filter_ns["__annotations__"][item.name] = Optional[FILTERS[item.data_type]]  # noqa: UP045
            filter_ns[item.name] = strawberry.field(default=None)
        # A natural key (is_key item: citizen ID number, unified social credit code, ...) makes the record
        # a federation entity that other subgraphs can reference; ``_entities`` resolves it through the
        # same decided, audited data query as this root field (schema/entities.py).
        key = next((i.name for i in spec.items if i.is_key), None)
        self.key: str | None = key
        self.record_name = record_name
        self.record = strawberry.type(type(self.record_name, (), record_ns),
                                      description=f"A record of {spec.names.get('zh')} ({spec.code}).",
                                      directives=[Key(fields=FieldSet(camel(key)))] if key else ())
        self.filter = strawberry.input(type(filter_name, (), filter_ns),
                                       description="Conditions combine with AND; conditions on items you may not "
                                                   "read are refused (FIELD_FORBIDDEN).")
        members = Enum(field_name_, {i.name.upper(): i.name for i in spec.items})  # type: ignore[misc]
        self.field_enum: Any = strawberry.enum(members)
        self.order = strawberry.input(type(order_name, (), {
            "__annotations__": {"field": self.field_enum, "direction": Direction},
            "direction": strawberry.field(default=Direction.ASC)}))
        self.edge = strawberry.type(type(edge_name, (), {"__annotations__": {"cursor": str, "node": self.record}}))
        self.connection = strawberry.type(type(connection_name, (), {
            "__annotations__": {
                "edges": list[self.edge],  # type: ignore[name-defined]
                "nodes": list[self.record],  # type: ignore[name-defined]
                "page_info": PageInfo,
                "total_count": Optional[int],  # noqa: UP045
                "unavailable_nodes": list[str],
                "row_scope": Optional[list[str]],  # noqa: UP045
            },
            "total_count": strawberry.field(default=None, description="Rows matching, counted on request; null "
                                                                      "when a node did not answer."),
            "row_scope": strawberry.field(default=None, description="Division codes your grant restricts rows to."),
        }))

    def selection(self, info: Info[Context, None]) -> Tree:
        """What the query selected below this field; worked out once per parsed field node when the
        operation has no variables (nothing in it can then change from one request to the next)."""
        raw = info._raw_info
        if raw.operation.variable_definitions:
            return current_field(info.selected_fields)
        nodes = tuple(raw.field_nodes)
        key = tuple(id(n) for n in nodes)
        entry = self._selections.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], nodes, strict=True)):
            if len(self._selections) >= MAX_SELECTIONS:
                self._selections.clear()
            # The nodes are kept with their selection: their ids cannot be reused while the entry lives.
            entry = self._selections[key] = (nodes, current_field(info.selected_fields))
        return entry[1]

    def conditions(self, flt: Any) -> tuple[list[shared_data.Condition], list[str] | None]:
        if flt is None:
            return [], None
        found: list[shared_data.Condition] = []
        for item in self.spec.items:
            value = getattr(flt, item.name, None)
            if value is None:
                continue
            for op, attr in (("eq", "eq"), ("in", "in_"), ("gte", "gte"), ("lte", "lte"), ("is_null", "is_null")):
                given = getattr(value, attr, None)
                if given is not None:
                    if op == "in" and not given:
                        raise BadRequest(f"'in' for {camel(item.name)} must not be empty")
                    check_value(given, f"filter {camel(item.name)}.{op}")
                    found.append(shared_data.Condition(item.name, op, given))
        return found, flt.nodes

    def data_request(self, context: Context, selection: Tree, filter: Any, first: int | None, after: str | None,
                     order_by: Any, purpose: str | None) -> shared_data.DataRequest:
        """The data query a selection and the field's (converted) arguments ask for; raises BadRequest."""
        context.count_data_query()
        if first is None:  # an explicit null (a variable): the caller's mistake, not ours
            raise BadRequest("'first' must be a number of rows, not null")
        edge_fields = selection.get("edges", {}).get("node", {})
        node_fields = selection.get("nodes", {})
        selected = [self.by_graphql[n] for n in dict.fromkeys([*edge_fields, *node_fields]) if n in self.by_graphql]
        conditions, nodes = self.conditions(filter)
        order = shared_data.Order(order_by.field.value, order_by.direction is Direction.DESC) if order_by \
            else shared_data.Order()
        return shared_data.DataRequest(self.spec, selected, conditions, order, first, after, nodes,
                                       context.purpose(purpose), "totalCount" in selection)

    @staticmethod
    def report(context: Context, page: shared_data.DataPage, root: Any, keys: Callable[[], ResponseKeys]) -> None:
        """One FIELD_FORBIDDEN error per denied item (at its first cell when there are rows) and the nodes
        that did not answer; ``keys`` gives the response keys, worked out only when an item was denied."""
        if page.denied:
            edges_key, node_key, nodes_key, edge_keys, node_keys = keys()
        for decision in page.denied:
            name = camel(decision.item)
            if page.records and name in edge_keys:
                path: list[Any] = [root, edges_key, 0, node_key, edge_keys[name]]
            elif page.records and name in node_keys:
                path = [root, nodes_key, 0, node_keys[name]]
            else:
                path = [root]
            context.add_error(shared_data.forbidden_error(decision, "select"), path)
        for node in page.unavailable:
            context.node_failures.setdefault(node, "unavailable")

    def resolver(self) -> Callable[..., Any]:
        gen = self

        async def resolve(info: Info[Context, None], filter: Any = None, first: int | None = 100,
                          after: str | None = None, order_by: Any = None, purpose: str | None = None) -> Any:
            context = info.context
            selection = gen.selection(info)
            request = gen.data_request(context, selection, filter, first, after, order_by, purpose)
            root = info.path.key
            try:
                page = await shared_data.read(context.data_caller(), request)
            except shared_data.RefusedQuery as refused:
                for error in refused.errors:
                    context.add_error(error, [root])
                return None

            def keys() -> ResponseKeys:
                return (response_keys(info.selected_fields, []).get("edges", "edges"),
                        response_keys(info.selected_fields, ["edges"]).get("node", "node"),
                        response_keys(info.selected_fields, []).get("nodes", "nodes"),
                        response_keys(info.selected_fields, ["edges", "node"]),
                        response_keys(info.selected_fields, ["nodes"]))

            gen.report(context, page, root, keys)
            records = [_adopting(gen.record, row) for row in page.rows]  # each row dict is this page's own
            edges = [_instance(gen.edge, {"cursor": c, "node": r}) for c, r in zip(page.cursors, records, strict=True)] \
                if "edges" in selection else []
            return _instance(gen.connection, {
                "edges": edges, "nodes": records,
                # hasNextPage only beside an endCursor: `first: 0` must not invite an endless loop.
                "page_info": PageInfo(has_next_page=page.has_next and bool(page.cursors),
                                      end_cursor=page.cursors[-1] if page.cursors else None),
                "total_count": page.total, "unavailable_nodes": page.unavailable, "row_scope": page.row_scope})

        # Planned reads (schema/direct_reads.py) find the generated types of a root field from its resolver.
        resolve.generated = gen  # type: ignore[attr-defined]
        resolve.__annotations__ = {
            "info": Info[Context, None], "filter": Optional[self.filter], "first": Optional[int],  # noqa: UP045
            "after": Optional[str], "order_by": Optional[self.order], "purpose": Optional[str],  # noqa: UP045
            "return": Optional[self.connection],  # noqa: UP045
        }
        return resolve


def data_fields(specs: list[Spec], keyed: dict[str, _Generated] | None = None) -> dict[str, Any]:
    """Root query fields, one per data resource, plus ``verify``; ``keyed`` collects the generated
    record types that have a natural key (federation entities), by GraphQL type name."""
    fields: dict[str, Any] = {}
    by_name: dict[str, Spec] = {}
    for spec in specs:
        if spec.api_name in by_name:
            # api_name is unique per node database only: the first published (by code) keeps the name.
            logger.warning("resource %s: api name %r already used by %s; not exposed", spec.code, spec.api_name,
                           by_name[spec.api_name].code)
            continue
        by_name[spec.api_name] = by_name[spec.code] = spec
        generated = _Generated(spec)
        if keyed is not None and generated.key is not None:
            keyed[generated.record_name] = generated
        fields[spec.api_name] = strawberry.field(
            resolver=generated.resolver(),
            description=f"{spec.names.get('zh')} ({spec.names.get('en')}), resource {spec.code}: {spec.summary}. "
                        "Fields you may not read are null with one FIELD_FORBIDDEN error each. State your "
                        "purpose (argument or X-Govshare-Purpose header) to read CONDITIONAL items under a grant.")

    async def verify(info: Info[Context, None], resource: str, key: str, values: list[VerifyValue],
                     purpose: str | None = None) -> Verification | None:
        spec = by_name.get(resource)
        if spec is None:
            raise BadRequest(f"no published data resource {resource!r}")
        names = [v.item for v in values]
        if len(set(names)) != len(names):
            raise BadRequest("each item may be verified once per call")
        for name in names:
            spec.item(name)
        context = info.context
        context.count_data_query()
        found, outcomes = await verification.verify(context.data_caller(), spec, key,
                                                    {v.item: v.value for v in values}, context.purpose(purpose),
                                                    context.limiter)
        return Verification(resource=spec.code, found=found, items=[
            VerifiedItem(item=o.item, outcome=VerificationOutcome(o.outcome), reason=o.reason) for o in outcomes])

    fields["verify"] = strawberry.field(
        resolver=verify,
        description="Verify values you hold against the source (比对核查): MATCH / MISMATCH / NOT_FOUND per item, "
                    "or FORBIDDEN with its reason for an item you may not verify; never the stored value. Rate-limited per department; every call is audited. A citizen ID or "
                    "credit code key of the wrong length, characters or check character is BAD_USER_INPUT "
                    "(reason INVALID_KEY, fault), asked of no node.")
    return fields

