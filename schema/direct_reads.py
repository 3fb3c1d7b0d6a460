"""Planned data queries answered without graphql-core's execution walk.

Most requests a service like this one answers are one data field at the root with a flat selection:
``{ population(filter: ..., purpose: ...) { nodes { name birthDate } } }``. For those, graphql-core's
walk (resolve info, strawberry's argument conversion and Info, the completion of every cell, the
awaitable checks) cost more CPU than the decisions, the SQL and the audit record together (issue 13).

A DirectRead is compiled once per plan (schema/plans.py: a document that strawberry already parsed,
validated and executed on this schema) when the operation is exactly that shape:
- a query with one root field that is a generated data field (schema/generated.py), no directives, no
  fragments, each field name at most once per level (aliases allowed);
- below it only the connection's own fields: ``nodes`` and ``edges { cursor node }`` with item fields,
  ``pageInfo { hasNextPage endCursor }``, ``totalCount``, ``unavailableNodes``, ``rowScope`` and
  ``__typename`` anywhere.
Anything else keeps graphql-core's path. A DirectRead does the same work as the field's resolver, through
the same functions: the data request it builds (``_Generated.data_request``), the decided and audited
read (``shared_data.read``), the errors it reports (``_Generated.report``); only the walk over the
answer is compiled. Arguments with variables are coerced per request by graphql-core's own functions,
and a request whose variables do not coerce falls back to graphql-core before anything ran, so it gets
the standard errors. Nothing of a request's caller, decisions or rows is kept in a DirectRead.

tests/schema/test_direct_reads.py runs documents both ways and compares the answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    located_error,
)
from strawberry import Schema
from strawberry.types import ExecutionResult
from strawberry.types.field import StrawberryField

from govshare.resolvers import shared_data
from govshare.resolvers.context import Context

from .generated import ResponseKeys, _Generated
from .lanes import BACKREF, RootArguments, Unsupported, object_type_of, response_key, selected_fields

CHUNK = 250  # rows shaped between two turns of the event loop (as schema/execution.py completes lists)
MAX_SHAPES = 64  # compiled record shapes kept per selection (one per set of permitted items; cleared when full)
CONNECTION_SCALARS = {"totalCount": "total", "unavailableNodes": "unavailable", "rowScope": "row_scope"}

Shape = Callable[[Any], Any]
Rows = Callable[[Sequence[Any]], list[dict[str, Any]]]  # a Shape over a list of records
# A connection field's value from the page, for its rows [start, end) when it is a list; a cell that does
# not serialise is null with its error added to the list, as graphql-core completes it
Part = Callable[[shared_data.DataPage, int, int, list[GraphQLError]], Any]


def _leaf(graphql_type: GraphQLOutputType) -> tuple[Shape, bool]:
    """A nullable leaf's serialisation, and whether it is a String (a str is then its own)."""
    named = get_nullable_type(graphql_type)
    if not is_leaf_type(named):
        raise Unsupported
    return named.serialize, named is GraphQLString


class _RecordShape:
    """The selection of a record, turned into one compiled function per set of permitted items: a dict
    display reading each cell by its position in the database's record (no intermediate dict per row)."""

    def __init__(self, gen: _Generated, record_type: GraphQLObjectType, selection_set: SelectionSetNode | None
                 ) -> None:
        # (response key, item or None for __typename, serialize, is String)
        self._cells: list[tuple[str, str | None, Shape, bool]] = []
        self._nodes: list[FieldNode] = []  # each cell's field node (for the location of its error)
        self.keys: dict[str, str] = {}  # item field -> its response key
        self._type_name = record_type.name
        for node in selected_fields(selection_set):
            name = node.name.value
            self._nodes.append(node)
            if name == "__typename":
                self._cells.append((response_key(node), None, str, True))
                continue
            item = gen.by_graphql.get(name)
            field = record_type.fields.get(name)
            if item is None or field is None or node.selection_set is not None:
                raise Unsupported
            serialize, text = _leaf(field.type)
            self._cells.append((response_key(node), item, serialize, text))
            self.keys[name] = response_key(node)
        self._compiled: dict[tuple[int, ...], tuple[Shape, Rows]] = {}
        # The shape found for a page's columns (item -> position), as they came: the same for every request of
        # a department under the same decisions, so the cells' positions are not looked up again each time.
        self._by_columns: dict[tuple[tuple[str, int], ...], tuple[Shape, Rows]] = {}

    def for_page(self, page: shared_data.DataPage) -> tuple[Shape, Rows]:
        """The shape of this page's records, of one and of a list of them (denied items are absent from its
        columns: null)."""
        columns = page.columns
        key = tuple(columns.items())
        shape = self._by_columns.get(key)
        if shape is not None:
            return shape
        positions = tuple(-1 if item is None else columns.get(item, -1) for _, item, _, _ in self._cells)
        shape = self._compiled.get(positions)
        if shape is None:
            if len(self._compiled) >= MAX_SHAPES:
                self._compiled.clear()
            shape = self._compiled[positions] = self._compile(positions)
        if len(self._by_columns) >= MAX_SHAPES:
            self._by_columns.clear()
        self._by_columns[key] = shape
        return shape

    def shape(self, page: shared_data.DataPage, rows: Sequence[Any], path: list[Any], start: int,
              errors: list[GraphQLError]) -> list[dict[str, Any]]:
        """The rows shaped; a row with a cell that does not serialise is shaped again cell by cell, that
        cell null with an error at its path (``path`` + the row's index + the cell's key), as graphql-core
        completes a nullable leaf: one bad value costs its cell, not the page."""
        shape, shape_rows = self.for_page(page)
        try:
            return shape_rows(rows)
        except Exception:
            pass
        shaped = []
        for offset, row in enumerate(rows):
            try:
                shaped.append(shape(row))
            except Exception:
                shaped.append(self._cell_by_cell(page, row, [*path, start + offset], errors))
        return shaped

    def _cell_by_cell(self, page: shared_data.DataPage, row: Any, path: list[Any],
                      errors: list[GraphQLError]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (key, item, serialize, _), node in zip(self._cells, self._nodes, strict=True):
            if item is None:
                out[key] = self._type_name
                continue
            position = page.columns.get(item, -1)
            value = None if position < 0 else row[position]
            try:
                out[key] = None if value is None else serialize(value)
                if out[key] is None and value is not None:
                    raise TypeError(f"Expected `{value!r}` to be serializable")
            except Exception as exc:
                out[key] = None
                errors.append(located_error(exc, [node], [*path, key]))
        return out

    def _compile(self, positions: tuple[int, ...]) -> tuple[Shape, Rows]:
        # Response keys are GraphQL names and positions ints, both written as literals: nothing but
        # record reads and the leaves' own serialize functions runs.
        cells: list[str] = []
        namespace: dict[str, Any] = {}
        for number, ((key, item, serialize, text), position) in enumerate(zip(self._cells, positions, strict=True)):
            if item is None:
                cell = repr(self._type_name)
            elif position < 0:
                cell = "None"
            else:
                namespace[f"s{number}"] = serialize
                cell = (f"(c if (c := r[{position}]).__class__ is str or c is None else s{number}(c))" if text
                        else f"(None if (c := r[{position}]) is None else s{number}(c))")
            cells.append(f"{key!r}: {cell}")
        record = "{" + ", ".join(cells) + "}"
        # The same display for one record and in a comprehension over a page's (no call per row).
        source = f"def shape(r):\n    return {record}\n\ndef shape_rows(rows):\n    return [{record} for r in rows]\n"
        exec(compile(source, "<direct read shape>", "exec"), namespace)  # literals only, see above
        return cast("Shape", namespace["shape"]), cast("Rows", namespace["shape_rows"])


class DirectRead:
    """One plan's data field, answered by the generated field's own steps without graphql-core's walk."""

    def __init__(self, schema: Schema, operation: OperationDefinitionNode, node: FieldNode, field: StrawberryField,
                 gen: _Generated, connection: GraphQLObjectType) -> None:
        self._schema = schema
        self._operation = operation
        self._node = node
        self._field = field
        self._gen = gen
        self.root = response_key(node)
        self._tree: dict[str, Any] = {}
        self._response_keys: ResponseKeys = ("edges", "node", "nodes", {}, {})
        self._parts = self._connection(connection, node.selection_set)
        self._arguments = RootArguments(schema, operation, node, field)
        self.answered = 0  # requests this plan answered (the others fell back to graphql-core)

    def _connection(self, connection: GraphQLObjectType, selection_set: SelectionSetNode | None
                    ) -> list[tuple[str, Part, bool]]:
        """(response key, its value from the page, whether it is a list of rows) per selected field."""
        parts: list[tuple[str, Part, bool]] = []
        edges_key, edge_node_key, nodes_key = "edges", "node", "nodes"
        edge_keys: dict[str, str] = {}
        node_keys: dict[str, str] = {}
        for node in selected_fields(selection_set):
            name, key = node.name.value, response_key(node)
            if name == "__typename":
                parts.append((key, lambda _p, _s, _e, _x, n=connection.name: n, False))  # type: ignore[misc]
                self._tree[name] = {}
            elif name == "nodes":
                record = _RecordShape(self._gen, object_type_of(connection.fields[name].type), node.selection_set)
                node_keys = record.keys
                nodes_key = key
                parts.append((key, self._nodes(record, [self.root, key]), True))
                self._tree[name] = {item: {} for item in node_keys}
            elif name == "edges":
                edge_type = object_type_of(connection.fields[name].type)
                edge_parts: list[tuple[str, str]] = []
                row_shape: _RecordShape | None = None
                for sub in selected_fields(node.selection_set):
                    if sub.name.value == "node":
                        row_shape = _RecordShape(self._gen, object_type_of(edge_type.fields["node"].type),
                                                 sub.selection_set)
                        edge_keys = row_shape.keys
                        edge_node_key = response_key(sub)
                    elif sub.name.value not in ("cursor", "__typename") or sub.selection_set is not None:
                        raise Unsupported
                    edge_parts.append((response_key(sub), sub.name.value))
                edges_key = key
                parts.append((key, self._edges(edge_parts, edge_type.name, row_shape, [self.root, key]), True))
                self._tree[name] = {"node": {item: {} for item in edge_keys}} if row_shape is not None else {}
            elif name == "pageInfo":
                info_type = object_type_of(connection.fields[name].type)
                info_parts = []
                for sub in selected_fields(node.selection_set):
                    if sub.name.value not in ("hasNextPage", "endCursor", "__typename") or sub.selection_set:
                        raise Unsupported
                    info_parts.append((response_key(sub), sub.name.value))
                parts.append((key, self._page_info(info_parts, info_type.name), False))
                self._tree[name] = {}
            elif name in CONNECTION_SCALARS and node.selection_set is None:
                parts.append((key, self._scalar(CONNECTION_SCALARS[name], connection.fields[name].type, node,
                                                [self.root, key]), False))
                self._tree[name] = {}
            else:
                raise Unsupported
        self._response_keys = (edges_key, edge_node_key, nodes_key, edge_keys, node_keys)
        return parts

    @staticmethod
    def _nodes(record: _RecordShape, path: list[Any]) -> Part:
        def nodes(page: shared_data.DataPage, start: int, end: int, errors: list[GraphQLError]) -> list[Any]:
            return record.shape(page, page.records[start:end], path, start, errors)

        return nodes

    @staticmethod
    def _edges(parts: list[tuple[str, str]], type_name: str, record: _RecordShape | None, path: list[Any]) -> Part:
        node_key = next((key for key, name in parts if name == "node"), "node")

        def edges(page: shared_data.DataPage, start: int, end: int, errors: list[GraphQLError]) -> list[Any]:
            rows = page.records[start:end]
            shaped: list[Any] = [None] * len(rows)
            if record is not None:
                # each edge's node error sits at [root, edges, i, node, cell]
                found: list[GraphQLError] = []
                shaped = record.shape(page, rows, path, start, found)
                for error in found:
                    at = list(error.path or [])
                    errors.append(located_error(error.original_error or error, error.nodes,
                                                [*at[:3], node_key, *at[3:]]))
            out = []
            for cursor, node in zip(page.cursors[start:end], shaped, strict=True):
                values = {"cursor": cursor, "node": node, "__typename": type_name}
                out.append({key: values[name] for key, name in parts})
            return out

        return edges

    @staticmethod
    def _scalar(attribute: str, graphql_type: GraphQLOutputType, node: FieldNode, path: list[Any]) -> Part:
        """totalCount, unavailableNodes, rowScope: serialised as graphql-core would (a count beyond Int's range
        is null with an error, for instance)."""
        named = get_nullable_type(graphql_type)
        item = get_nullable_type(named.of_type) if is_list_type(named) else named
        serialize = item.serialize if is_leaf_type(item) else None

        def scalar(page: shared_data.DataPage, _start: int, _end: int, errors: list[GraphQLError]) -> Any:
            value = getattr(page, attribute)
            if value is None or serialize is None:
                return value
            try:
                return [serialize(v) for v in value] if is_list_type(named) else serialize(value)
            except Exception as exc:
                errors.append(located_error(exc, [node], path))
                return None

        return scalar

    @staticmethod
    def _page_info(parts: list[tuple[str, str]], type_name: str) -> Part:
        def page_info(page: shared_data.DataPage, _start: int, _end: int, _errors: list[GraphQLError]) -> dict[str, Any]:
            # hasNextPage only beside an endCursor, as the resolver sets it
            values = {"hasNextPage": page.has_next and bool(page.cursors),
                      "endCursor": page.cursors[-1] if page.cursors else None, "__typename": type_name}
            return {key: values[name] for key, name in parts}

        return page_info

    async def execute(self, context: Context, variables: dict[str, Any] | None) -> ExecutionResult | None:
        """The answer, or None (before anything ran) when graphql-core must answer this request."""
        arguments = self._arguments.of(variables)
        if arguments is None:
            return None
        self.answered += 1
        root = self.root
        try:
            request = self._gen.data_request(context, self._tree, **arguments)
            page = await shared_data.read(context.data_caller(), request)
        except shared_data.RefusedQuery as refused:
            for error in refused.errors:
                context.add_error(error, [root])
            return ExecutionResult(data={root: None}, errors=None)
        except Exception as exc:  # as graphql-core reports a resolver's error on a nullable root field
            return ExecutionResult(data={root: None}, errors=[located_error(exc, [self._node], [root])])
        try:
            self._gen.report(context, page, root, lambda: self._response_keys)
            count = len(page.records)
            value: dict[str, Any] = {}
            errors: list[GraphQLError] = []
            for key, part, of_rows in self._parts:
                if of_rows and count > CHUNK:  # a long page must not hold every other request while it is shaped
                    cells: list[Any] = []
                    for start in range(0, count, CHUNK):
                        await asyncio.sleep(0)
                        cells.extend(part(page, start, start + CHUNK, errors))
                    value[key] = cells
                else:
                    value[key] = part(page, 0, count, errors)
        except Exception as exc:
            return ExecutionResult(data={root: None}, errors=[located_error(exc, [self._node], [root])])
        return ExecutionResult(data={root: value}, errors=errors or None)


def compile_read(schema: Schema, document: DocumentNode, operation: OperationDefinitionNode) -> DirectRead | None:
    """A DirectRead for the operation, or None when it is not of that shape."""
    if operation.operation is not OperationType.QUERY or operation.directives or \
            len(document.definitions) != 1:  # fragments (or other operations) keep graphql-core's path
        return None
    query_type = schema._schema.query_type
    try:
        roots = selected_fields(operation.selection_set, arguments=True)
    except Unsupported:
        return None
    if len(roots) != 1:
        return None
    node = roots[0]
    field_def = query_type.fields.get(node.name.value) if query_type is not None else None
    field = field_def.extensions.get(BACKREF) if field_def is not None else None
    resolver = field.base_resolver if isinstance(field, StrawberryField) else None
    gen = getattr(resolver.wrapped_func, "generated", None) if resolver is not None else None
    if not isinstance(gen, _Generated) or field_def is None or not isinstance(field, StrawberryField):
        return None
    if field.extensions or field.permission_classes or field.directives:
        return None  # anything strawberry would run around the resolver keeps graphql-core's path
    try:
        return DirectRead(schema, operation, node, field, gen, object_type_of(field_def.type))
    except (Unsupported, GraphQLError, KeyError):
        return None
