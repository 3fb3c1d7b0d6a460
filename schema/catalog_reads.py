"""Planned catalog queries answered without graphql-core's execution walk (the catalog lane).

A catalog page (``resources`` or ``sharingCatalog``) or one resource by code (``resource(code:)``) costs
more CPU in graphql-core's walk and in building the schema objects it completes than in its SQL (issue
13). As schema/direct_reads.py does for data queries, a CatalogRead is compiled once per plan
(schema/plans.py: a document strawberry already parsed, validated and executed on this schema) when the
operation is exactly that shape:
- a query with one root field, ``resources``, ``sharingCatalog`` or ``resource``, no directives,
  fragments spread in place (``_flattened``), each field name at most once per selection set once they are
  (aliases allowed);
- below a page only ``edges { cursor node }``, ``pageInfo { hasNextPage endCursor }``, ``totalCount``,
  ``unavailableNodes``; below a resource its plain fields (``names`` and ``summaries`` with their
  languages), ``provider`` with its plain fields and ``dataItems`` with theirs; ``__typename`` anywhere.
Anything else (a provider's parent, children or resources, directives, a field repeated) keeps
graphql-core's path. A CatalogRead reads through the resolver's own steps (``query.resource_page``, ``query._lookup``
and the request's loaders, ``resources.resource_total``) and reports the same errors; only the answer
is shaped here, straight from the rows, by the builders' own conversions and each leaf type's own
``serialize``. If shaping meets anything unexpected (a value a conversion or a leaf refuses, a null
where the schema says none), the request is handed to graphql-core, which answers from the page already
read (``Context.prefetched``) and the loaders' caches, so nothing is read twice and the answer and its
errors are graphql-core's own.

tests/schema/test_catalog_reads.py answers each case both ways and compares the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    get_nullable_type,
    is_abstract_type,
    is_enum_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    located_error,
)
from strawberry import Schema
from strawberry.types import ExecutionResult
from strawberry.types.field import StrawberryField

from govshare.core.errors import InvalidRows
from govshare.resolvers import catalog
from govshare.resolvers.context import Context
from govshare.resolvers.selection import Tree

from . import builders, query
from .common import Language
from .lanes import BACKREF, RootArguments, Unsupported, object_type_of, response_key, selected_fields
from .resources import resource_total

PAGE_FIELDS = {"resources": False, "sharingCatalog": True}  # root field -> sharing catalog
LOCALIZED = ("zh", "ug", "kk", "en")
# Resource and department fields below which a selection set is a LocalizedText
LOCALIZED_FIELDS = {"names", "summaries", "titles"}

Shape = Callable[..., Any]


class _Unexpected(Exception):
    """A value the lane does not shape (a null where the schema has none): graphql-core answers."""


def _tree(selection_set: SelectionSetNode | None) -> Tree:
    """The selection as ``resolvers.selection.selection_of`` sees it (fragments spread, no directives)."""
    if selection_set is None:
        return {}
    return {node.name.value: _tree(node.selection_set) for node in selected_fields(selection_set)}


def _plain(object_type: GraphQLObjectType, name: str) -> GraphQLOutputType:
    """The type of a field the lane reads itself: one strawberry reads as a plain attribute (no resolver, no
    field extension or permission class, no directive, no argument), else Unsupported, as
    schema/execution.py decides for its compiled completions."""
    field = object_type.fields.get(name)
    if field is None:
        raise Unsupported
    definition = field.extensions.get(BACKREF)
    if field.args or not isinstance(definition, StrawberryField) or not definition.is_basic_field \
            or definition.directives:
        raise Unsupported
    graphql_type: GraphQLOutputType = field.type
    return graphql_type


def _not_null(_value: Any) -> Any:
    raise _Unexpected


def _enum_table(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An enum member's serialisation, worked out once per member (members are hashable and few)."""
    seen: dict[Any, Any] = {}

    def cached(member: Any) -> Any:
        key = (member.__class__, member)
        found = seen.get(key)
        if found is None:
            found = seen[key] = serialize(member)
        return found

    return cached


class _Cells:
    """Source text and namespace of one compiled shape function: a dict display of its cells."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.items: list[str] = []

    def add(self, key: str, expression: str) -> None:
        self.items.append(f"{key!r}: {expression}")

    def name(self, value: Any) -> str:
        name = f"v{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def compile(self, arguments: str) -> Shape:
        source = f"def shape({arguments}):\n    return {{" + ", ".join(self.items) + "}\n"
        # Keys are written as literals, values reach the code only through the namespace: nothing but the
        # conversions and serialisations named there runs.
        exec(compile(source, "<catalog lane shape>", "exec"), self.namespace)
        return cast("Shape", self.namespace["shape"])


def _list_leaf(item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda values: [item(v) for v in values]


def _serializer(graphql_type: GraphQLOutputType) -> Callable[[Any], Any]:
    """A leaf's (or a list of leaves') serialisation as a function; a null where the schema has none is
    _Unexpected."""
    nullable = not is_non_null_type(graphql_type)
    named = get_nullable_type(graphql_type)
    if is_list_type(named):
        inner = _list_leaf(_serializer(named.of_type))
    elif not is_leaf_type(named):
        raise Unsupported
    else:
        inner = _enum_table(named.serialize) if is_enum_type(named) else named.serialize

    def serialize(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Unexpected
        return inner(value)

    return serialize


def _leaf(cells: _Cells, graphql_type: GraphQLOutputType, value: str) -> str:
    """The expression serialising ``value`` (an expression) as a leaf of ``graphql_type``: a str in a String
    field is its own serialisation (others go through the leaf's own serialize)."""
    serialize = cells.name(_serializer(graphql_type))
    if get_nullable_type(graphql_type) is GraphQLString:
        return f"(c if (c := {value}).__class__ is str else {serialize}(c))"
    return f"{serialize}({value})"


def _localized(cells: _Cells, graphql_type: GraphQLOutputType, node: FieldNode, value: str) -> str:
    """A LocalizedText (names, summaries, titles) from the builders' own conversion."""
    text_type = object_type_of(graphql_type)
    inner = _Cells()
    for sub in selected_fields(node.selection_set):
        name = sub.name.value
        if name == "__typename":
            inner.add(response_key(sub), repr(text_type.name))
        elif name in LOCALIZED and sub.selection_set is None:
            inner.add(response_key(sub), _leaf(inner, _plain(text_type, name), f"t.{name}"))
        else:
            raise Unsupported
    shape = cells.name(inner.compile("t"))
    if is_non_null_type(graphql_type):
        return f"({cells.name(_not_null)}(t) if (t := {value}) is None else {shape}(t))"
    return f"(None if (t := {value}) is None else {shape}(t))"


class _EnumCells(dict[Any, Any]):
    """A column's value -> its enum field's serialisation: the builders' member by value, then the enum's own
    serialize, worked out once per value (a value the builders refuse raises, and graphql-core answers)."""

    def __init__(self, member: Callable[[Any], Any], serialize: Callable[[Any], Any]) -> None:
        super().__init__()
        self._member = member
        self._serialize = serialize

    def __missing__(self, value: Any) -> Any:
        serialised = self._serialize(self._member(value))
        if serialised is None:
            raise _Unexpected
        self[value] = serialised
        return serialised


Columns = dict[str, tuple[str, str, Callable[[Any], Any] | None]]


def _spec_cell(cells: _Cells, object_type: GraphQLObjectType, sub: FieldNode,
               specs: dict[str, tuple[str, Callable[[Any, str], Any]]], columns: Columns,
               read: Callable[[str], str]) -> str:
    """The cell of ``sub``: a field of ``columns`` read from its column (``read(column)``: the expression that
    reads it), else converted by ``specs`` (GraphQL field -> (attribute, conversion from (row, lang))) from
    the row (``read("")``), or __typename; anything else is Unsupported."""
    name = sub.name.value
    if name == "__typename":
        return repr(object_type.name)
    spec = specs.get(name)
    if spec is None:
        raise Unsupported
    _plain(object_type, name)
    field = object_type.fields[name]
    column = columns.get(name)
    if column is not None and sub.selection_set is None:
        value = read(column[1])
        member = column[2]
        if member is not None:
            enum = get_nullable_type(field.type)
            if not is_enum_type(enum):
                raise Unsupported
            return f"{cells.name(_EnumCells(member, _enum_table(enum.serialize)))}[{value}]"
        return _leaf(cells, field.type, value)
    value = f"{cells.name(spec[1])}({read('')}, lang)"
    if name in LOCALIZED_FIELDS:
        return _localized(cells, field.type, sub, value)
    if sub.selection_set is not None:
        raise Unsupported
    return _leaf(cells, field.type, value)


def _by_name(row: str) -> Callable[[str], str]:
    return lambda column: f"{row}[{column!r}]" if column else row


class _Items:
    """The items' selection: shaped straight from their records by position when every selected field is a
    column (positions depend on the language: one compiled shape per language), else from a mapping by
    the builders' conversions."""

    def __init__(self, item_type: GraphQLObjectType, node: FieldNode) -> None:
        self._type = item_type
        self._node = node
        self.tree = _tree(node.selection_set)
        self.positional = all(sub.name.value in builders.ITEM_COLUMN_FIELDS or sub.name.value == "__typename"
                              for sub in selected_fields(node.selection_set))
        self._by_lang: dict[str, Shape] = {}
        self.by_name = _object_shape(item_type, node, builders.ITEM_FIELDS, builders.ITEM_COLUMN_FIELDS, "i")

    def for_lang(self, lang: str) -> Shape:
        """``shape(i, lang)`` of an item record read with ``builders.item_columns(tree, lang)``."""
        shape = self._by_lang.get(lang)
        if shape is None:
            positions = {c: n for n, c in enumerate(builders.item_columns(self.tree, lang))}
            cells = _Cells()
            for sub in selected_fields(self._node.selection_set):
                cells.add(response_key(sub), _spec_cell(cells, self._type, sub, builders.ITEM_FIELDS,
                                                builders.ITEM_COLUMN_FIELDS,
                                                lambda column: f"i[{positions[column]}]"))
            shape = self._by_lang[lang] = cells.compile("i, lang")
        return shape


class _ResourceShape:
    """A resource's selection, compiled: ``shape(r, lang, p, items)`` where ``p`` is the provider's shaped
    answer (or None) and ``items`` the items, already shaped."""

    def __init__(self, resource_type: GraphQLObjectType, node: FieldNode) -> None:
        cells = _Cells()
        self.provider: Shape | None = None
        self.items: _Items | None = None
        self.tree = _tree(node.selection_set)
        specs = {name: (attr, convert) for name, (attr, _, convert) in builders.RESOURCE_FIELDS.items()}
        for sub in selected_fields(node.selection_set):
            name, key = sub.name.value, response_key(sub)
            if name == "provider":
                self.provider = _object_shape(object_type_of(_plain(resource_type, name)), sub,
                                              builders.DEPARTMENT_FIELDS, {}, "d")
                cells.add(key, "p")
            elif name == "dataItems":
                self.items = _Items(object_type_of(_plain(resource_type, name)), sub)
                cells.add(key, "items")
            else:
                cells.add(key, _spec_cell(cells, resource_type, sub, specs, builders.RESOURCE_COLUMN_FIELDS,
                                          _by_name("r")))
        self.shape = cells.compile("r, lang, p, items")


def _object_shape(object_type: GraphQLObjectType, node: FieldNode, specs: dict[str, Any], columns: Columns,
                  row: str) -> Shape:
    """``shape(row, lang)`` for an object whose fields ``specs`` convert from its row (a department, an item)."""
    specs = {name: (spec[0], spec[-1]) for name, spec in specs.items()}
    cells = _Cells()
    for sub in selected_fields(node.selection_set):
        cells.add(response_key(sub), _spec_cell(cells, object_type, sub, specs, columns, _by_name(row)))
    return cells.compile(f"{row}, lang")


@dataclass(frozen=True)
class _Scalar:
    type: GraphQLOutputType
    node: FieldNode


class CatalogRead:
    """One plan's catalog field, answered by its resolver's own steps without graphql-core's walk."""

    def __init__(self, schema: Schema, operation: OperationDefinitionNode, node: FieldNode,
                 selection_set: SelectionSetNode | None, field: StrawberryField, return_type: GraphQLObjectType
                 ) -> None:
        """``node`` is the root field as parsed (errors are located at it), ``selection_set`` its selection
        with fragments spread (``_flattened``)."""
        self._schema = schema
        self._operation = operation
        self._node = node
        self._field = field
        self.root = response_key(node)
        self.answered = 0  # requests this plan answered (the others went to graphql-core)
        self._name = node.name.value
        self.tree = _tree(selection_set)
        self._resource: _ResourceShape
        self._connection: list[tuple[str, str, Any]] = []  # (response key, field, its parts)
        if self._name in PAGE_FIELDS:
            self._compile_page(return_type, selection_set)
        else:
            self._resource = _ResourceShape(return_type, FieldNode(name=node.name, selection_set=selection_set))
        self._arguments = RootArguments(schema, operation, node, field)

    def _compile_page(self, connection: GraphQLObjectType, selection_set: SelectionSetNode | None) -> None:
        for sub in selected_fields(selection_set):
            name, key = sub.name.value, response_key(sub)
            if name == "__typename":
                self._connection.append((key, name, connection.name))
            elif name == "edges":
                edge_type = object_type_of(_plain(connection, name))
                parts: list[tuple[str, str]] = []
                for part in selected_fields(sub.selection_set):
                    part_name = part.name.value
                    if part_name != "__typename":
                        _plain(edge_type, part_name)
                    if part_name == "node":
                        self._resource = _ResourceShape(object_type_of(edge_type.fields["node"].type), part)
                    elif part_name not in ("cursor", "__typename") or part.selection_set is not None:
                        raise Unsupported
                    parts.append((response_key(part), part_name))
                self._connection.append((key, name, (parts, edge_type.name)))
            elif name == "pageInfo":
                info_type = object_type_of(_plain(connection, name))
                info: list[tuple[str, str]] = []
                for part in selected_fields(sub.selection_set):
                    if part.name.value not in ("hasNextPage", "endCursor", "__typename") or part.selection_set:
                        raise Unsupported
                    if part.name.value != "__typename":
                        _plain(info_type, part.name.value)
                    info.append((response_key(part), part.name.value))
                self._connection.append((key, name, (info, info_type.name)))
            elif name in ("totalCount", "unavailableNodes") and sub.selection_set is None:
                self._connection.append((key, name, _Scalar(connection.fields[name].type, sub)))
            else:
                raise Unsupported

    def _error(self, exc: Exception) -> ExecutionResult:
        # as graphql-core reports a resolver's error on a nullable root field
        return ExecutionResult(data={self.root: None}, errors=[located_error(exc, [self._node], [self.root])])

    async def execute(self, context: Context, variables: dict[str, Any] | None) -> ExecutionResult | None:
        """The answer, or None when graphql-core must answer this request (from what was read so far)."""
        arguments = self._arguments.of(variables)
        if arguments is None:
            return None
        lang_argument: Language | None = arguments.get("lang")
        lang = lang_argument.value if lang_argument is not None else context.lang
        if self._name in PAGE_FIELDS:
            return await self._page(context, arguments, lang)
        return await self._one(context, arguments["code"], lang)

    async def _page(self, context: Context, arguments: dict[str, Any], lang: str) -> ExecutionResult | None:
        try:
            fetched = await query.resource_page(
                context, arguments.get("filter"), arguments.get("first", 20), arguments.get("after"),
                PAGE_FIELDS[self._name], self.tree, lang)
        except Exception as exc:
            self.answered += 1
            return self._error(exc)
        domain, page, missing = fetched
        try:
            value = await self._connection_value(context, page, missing, lang)
        except Exception:
            # graphql-core answers from the page read here (and the loaders' caches), with its own errors
            context.prefetched[id(self._node)] = fetched
            return None
        errors: list[GraphQLError] = []
        if "totalCount" in self.tree:
            for key, name, sub in self._connection:
                if name == "totalCount":
                    # as graphql-core resolves and completes a nullable leaf: an error (the count's, or a
                    # count beyond Int's range) is a null with an error at its path
                    try:
                        total = await resource_total(context, domain)
                        value[key] = None if total is None else get_nullable_type(sub.type).serialize(total)
                    except Exception as exc:
                        value[key] = None
                        errors.append(located_error(exc, [sub.node], [self.root, key]))
        self.answered += 1
        return ExecutionResult(data={self.root: value}, errors=errors or None)

    async def _connection_value(self, context: Context, page: catalog.Page, missing: list[str], lang: str
                                ) -> dict[str, Any]:
        rows = page.rows
        has_next = page.has_next and bool(rows)
        nodes: list[Any] | None = None
        value: dict[str, Any] = {}
        for key, name, parts in self._connection:
            if name == "__typename":
                value[key] = parts
            elif name == "edges":
                edge_parts, type_name = parts
                if nodes is None and any(p == "node" for _, p in edge_parts):
                    nodes = await self._resources(context, rows, lang, page)
                edges = []
                for index in range(len(rows)):
                    edge: dict[str, Any] = {}
                    for part_key, part in edge_parts:
                        edge[part_key] = (nodes[index] if part == "node" else page.cursors[index]  # type: ignore[index]
                                          if part == "cursor" else type_name)
                    edges.append(edge)
                value[key] = edges
            elif name == "pageInfo":
                info_parts, type_name = parts
                value[key] = {part_key: has_next if part == "hasNextPage" else type_name if part == "__typename"
                              else (page.cursors[-1] if rows else None) for part_key, part in info_parts}
            elif name == "unavailableNodes":
                value[key] = list(missing)
            else:  # totalCount: counted after the page, as graphql-core completes it
                value[key] = None
        return value

    async def _resources(self, context: Context, rows: list[Any], lang: str, page: catalog.Page) -> list[Any]:
        """The page's resources shaped, their providers and items from the page's related rows (a provider
        held by another database, or missing a failed one, through the department loader)."""
        shape = self._resource
        providers: dict[str, Any] = {}
        region = context.pools.topology.region.code

        def coded(department: Any) -> Any:  # its level is its code's, as builders.departments serves it
            return builders.coded_levels([department], region)[0]

        if shape.provider is not None:
            asked: set[str] = set()
            read: set[str] = set()
            names = builders.department_columns(shape.tree["provider"], lang)
            for row in rows:
                related = page.related.get(row["code"])
                code = row["provider_code"]
                if related is not None and related.provider_known:
                    if code not in read:
                        read.add(code)
                        if related.provider is not None:
                            # keyed by the department's own code, as builders._attach_providers keys them: a
                            # related row read from another database may name another provider than the page's
                            department = dict(zip(names, related.provider, strict=True))
                            providers[department["code"]] = shape.provider(coded(department), lang)
                else:
                    asked.add(code)
            asked.difference_update(read)
            if asked:
                for found in await context.loaders.department.load_many(sorted(asked)):
                    if found is not None:
                        providers[found["code"]] = shape.provider(coded(found), lang)
        items = shape.items
        item_shape = None if items is None else items.for_lang(lang) if items.positional else items.by_name
        item_names = builders.item_columns(items.tree, lang) if items is not None else ()
        if "providerLevel" in shape.tree:  # its provider code's, as builders.resources serves it
            rows = builders.coded_provider_levels(rows, region)
        shaped = []
        for row in rows:
            related = page.related.get(row["code"])
            if related is None or item_shape is None:
                shaped_items: list[Any] = []
            elif items is not None and items.positional:
                shaped_items = [item_shape(i, lang) for i in related.items]
            else:
                shaped_items = [item_shape(dict(zip(item_names, i, strict=True)), lang) for i in related.items]
            shaped.append(shape.shape(row, lang, providers.get(row["provider_code"]) if shape.provider else None,
                                      shaped_items))
        return shaped

    async def _one(self, context: Context, code: str, lang: str) -> ExecutionResult | None:
        """``resource(code:)`` through ``query.resource_by_code``'s steps: the resource with its provider and
        items in one statement (the provider from its own database when another holds it)."""
        shape = self._resource
        provider, items = shape.provider is not None, shape.items is not None
        loaders = context.loaders
        found: Any = None
        key = (code, provider, items)
        try:
            if provider or items:
                details = await query.lookup(context, code, _Details(context), key)
                row = None if details is None else details.row
                if details is not None and provider and not details.provider_known:
                    found = await loaders.department.load(details.row["provider_code"])
            else:
                details, row = None, await query.lookup(context, code, loaders.resource)
        except Exception as exc:
            self.answered += 1
            return self._error(exc)
        if row is None:
            self.answered += 1
            return ExecutionResult(data={self.root: None}, errors=None)
        try:
            answer: Any = None
            if details is not None and shape.provider is not None:
                department = details.provider if details.provider_known else found
                answer = None if department is None else shape.provider(
                    builders.coded_levels([department], context.pools.topology.region.code)[0], lang)
            shaped_items = [] if details is None or shape.items is None else \
                [shape.items.by_name(i, lang) for i in details.items or []]
            if "providerLevel" in shape.tree:  # its provider code's, as builders serves it
                row = builders.coded_provider_levels([row], context.pools.topology.region.code)[0]
            value = shape.shape(row, lang, answer, shaped_items)
        except Exception:
            if details is not None:  # graphql-core answers, from the loaders' caches
                loaders.resource_details.prime(key, details)
            return None
        self.answered += 1
        return ExecutionResult(data={self.root: value}, errors=None)


class _Details:
    """The resource-details loader's load of one key (``catalog.resource_details``, its failures noted as the
    loader notes them) without building a dataloader: a lookup by code asks for one key."""

    def __init__(self, context: Context) -> None:
        self._context = context

    async def load(self, key: tuple[str, bool, bool]) -> catalog.ResourceDetails | None:
        code, provider, items = key
        found, failures = await catalog.resource_details(self._context.pools, [code], provider, items)
        builders.note_failures(self._context, [(failure, failure.codes if isinstance(failure, InvalidRows) else [code])
                                               for failure in failures])
        return found.get(code)


def _flattened(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
               abstract: frozenset[str] = frozenset()) -> SelectionSetNode | None:
    """The selection set with its fragments spread in place (as graphql-core collects fields, in order). In
    the lane's object types a valid fragment's type condition is the type it is spread in, so every
    fragment applies; a directive anywhere is Unsupported."""
    if selection_set is None:
        return None
    selections: list[SelectionNode] = []
    for selection in selection_set.selections:
        if selection.directives:
            raise Unsupported
        if isinstance(selection, FieldNode):
            selections.append(FieldNode(alias=selection.alias, name=selection.name, arguments=selection.arguments,
                                        directives=selection.directives, loc=selection.loc,
                                        selection_set=_flattened(selection.selection_set, fragments, abstract)))
            continue
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            inner = selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            if fragment.directives:
                raise Unsupported
            condition = fragment.type_condition
            inner = fragment.selection_set
        else:
            raise Unsupported
        # A fragment on a union or an interface (the federation's _Entity holds Resource and Department) may
        # hold parts for another member, which graphql-core leaves out: not the lane's shape.
        if condition is not None and condition.name.value in abstract:
            raise Unsupported
        flat = _flattened(inner, fragments, abstract)
        selections.extend(flat.selections if flat is not None else ())
    return SelectionSetNode(selections=tuple(selections), loc=selection_set.loc)


def _root(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> FieldNode:
    """The operation's one root field as parsed (graphql-core executes this very node), or Unsupported."""
    found: list[FieldNode] = []

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set)

    walk(operation.selection_set)
    if len(found) != 1:
        raise Unsupported
    return found[0]


def compile_catalog_read(schema: Schema, document: DocumentNode, operation: OperationDefinitionNode
                         ) -> CatalogRead | None:
    """A CatalogRead for the operation, or None when it is not of that shape."""
    others = [d for d in document.definitions if d is not operation]
    if operation.operation is not OperationType.QUERY or operation.directives or \
            not all(isinstance(d, FragmentDefinitionNode) for d in others):
        return None
    fragments = {d.name.value: d for d in others if isinstance(d, FragmentDefinitionNode)}
    query_type = schema._schema.query_type
    try:
        node = _root(operation, fragments)
        abstract = frozenset(n for n, t in schema._schema.type_map.items() if is_abstract_type(t))
        flat = _flattened(node.selection_set, fragments, abstract)
    except (Unsupported, KeyError):
        return None
    name = node.name.value
    if query_type is None or (name not in PAGE_FIELDS and name != "resource"):
        return None
    field_def = query_type.fields.get(name)
    field = field_def.extensions.get(BACKREF) if field_def is not None else None
    if field_def is None or not isinstance(field, StrawberryField):
        return None
    if field.extensions or field.permission_classes or field.directives:
        return None  # anything strawberry would run around the resolver keeps graphql-core's path
    try:
        return CatalogRead(schema, operation, node, flat, field, object_type_of(field_def.type))
    except (Unsupported, GraphQLError, KeyError):
        return None
