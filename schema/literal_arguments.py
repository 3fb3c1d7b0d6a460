"""Arguments of a field in a document without variables, converted once per field node.

strawberry converts a field's GraphQL arguments into its Python types (input classes, enums) on every
call: 7-8% of a one-row data query's CPU (py-spy, issue 13). In an operation that declares no
variables, a field node's arguments are literals, so the conversion gives equal values every time.
For the fields given (resolvers that read their arguments and never change them), the conversion made
for a field node is remembered, per schema and bounded, and reused while the parsed document (cached
by schema/documents.py) keeps the node alive. Operations with variables take strawberry's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphql import FieldNode, GraphQLObjectType
from strawberry import Schema
from strawberry.schema.schema_converter import GraphQLCoreConverter, get_arguments
from strawberry.types.field import StrawberryField

MAX_NODES = 1024  # field nodes remembered per field (cleared when full)


def remember_arguments(schema: Schema, type_name: str, python_names: Iterable[str]) -> int:
    """Wrap the resolvers of these fields of ``type_name``; returns how many were wrapped (fields with
    field extensions, a self or root parameter, or a sync resolver are left as they are)."""
    wanted = set(python_names)
    graphql_type = schema._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    wrapped = 0
    for graphql_field in graphql_type.fields.values():
        field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(field, StrawberryField) or field.python_name not in wanted:
            continue
        resolver = field.base_resolver
        if resolver is None or field.extensions or not field.is_async or resolver.self_parameter \
                or resolver.root_parameter or resolver.parent_parameter or graphql_field.resolve is None:
            continue
        graphql_field.resolve = _remembering(schema, field, graphql_field.resolve)
        wrapped += 1
    return wrapped


def _remembering(schema: Schema, field: StrawberryField, original: Callable[..., Any]) -> Callable[..., Any]:
    converter = schema.schema_converter
    config, registry = converter.config, converter.scalar_registry
    resolver = field.base_resolver
    assert resolver is not None
    call: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    seen: dict[int, tuple[FieldNode, dict[str, Any]]] = {}

    def resolve(source: Any, info: Any, **kwargs: Any) -> Any:  # info: graphql-core's GraphQLResolveInfo
        if info.operation.variable_definitions:
            return original(source, info, **kwargs)
        node = info.field_nodes[0]
        entry = seen.get(id(node))
        strawberry_info = config.info_class(_raw_info=info, _field=field)
        if entry is None or entry[0] is not node:
            _, converted = get_arguments(field=field, source=source, info=strawberry_info, kwargs=kwargs,
                                         config=config, scalar_registry=registry)
            converted.pop(info_name or "", None)
            if len(seen) >= MAX_NODES:
                seen.clear()
            # The node is kept with its conversion: its id cannot be reused while the entry lives.
            entry = seen[id(node)] = (node, converted)
        arguments = dict(entry[1])
        if info_name is not None:
            arguments[info_name] = strawberry_info
        return call(**arguments)

    resolve.remembered = seen  # type: ignore[attr-defined]  # for tests: field node id -> (node, arguments)
    return resolve
