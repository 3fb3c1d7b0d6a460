"""What the fast lanes share (direct reads of data, schema/direct_reads.py; catalog reads,
schema/catalog_reads.py): which selections a lane may answer itself, and a planned root field's
arguments converted as its resolver receives them.

A lane answers one planned operation without graphql-core's walk; anything it does not know how to
answer exactly as graphql-core would raises ``Unsupported`` while the lane is built, and the operation
keeps graphql-core's path.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    SelectionSetNode,
    get_nullable_type,
    is_list_type,
    is_object_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry import Schema
from strawberry.schema.schema_converter import GraphQLCoreConverter, get_arguments
from strawberry.types.field import StrawberryField

BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF  # a GraphQL field's extension naming its strawberry field


class Unsupported(Exception):
    """The operation is not of a shape the lane answers: it keeps graphql-core's path."""


def selected_fields(selection_set: SelectionSetNode | None, arguments: bool = False) -> list[FieldNode]:
    """The fields of a selection set, or Unsupported for fragments, directives, a repeated name or (unless
    ``arguments``) arguments."""
    if selection_set is None:
        raise Unsupported
    fields: list[FieldNode] = []
    names: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or (selection.arguments and not arguments):
            raise Unsupported
        name = selection.name.value
        if name in names:
            raise Unsupported  # graphql-core merges repeated fields; not worth copying here
        names.add(name)
        fields.append(selection)
    return fields


def response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def object_type_of(graphql_type: GraphQLOutputType) -> GraphQLObjectType:
    """The object type of a field (through lists and non-nulls), or Unsupported."""
    named = get_nullable_type(graphql_type)
    while is_list_type(named):
        named = get_nullable_type(named.of_type)
    if not is_object_type(named):
        raise Unsupported
    return named


class RootArguments:
    """A planned root field's arguments as its resolver receives them: converted once when the operation
    has no variables (nothing can change between requests), else per request."""

    def __init__(self, schema: Schema, operation: OperationDefinitionNode, node: FieldNode,
                 field: StrawberryField) -> None:
        self._schema = schema
        self._operation = operation
        self._node = node
        self._field = field
        # literal arguments that do not convert raise here, while the lane is built: no lane then
        self._fixed = None if operation.variable_definitions else self._converted(None)

    def _converted(self, variables: VariableValues | None) -> dict[str, Any]:
        """The arguments as the resolver receives them; GraphQLError when they do not coerce."""
        query_type = self._schema._schema.query_type
        assert query_type is not None
        raw = get_argument_values(query_type.fields[self._node.name.value], self._node, variables)
        converter = self._schema.schema_converter
        _, converted = get_arguments(field=self._field, source=None, info=None, kwargs=raw,  # type: ignore[arg-type]
                                     config=converter.config, scalar_registry=converter.scalar_registry)
        converted.pop("info", None)
        return converted

    def of(self, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        """This request's arguments, or None when its variables do not coerce (graphql-core reports that)."""
        if self._fixed is not None:
            return self._fixed
        coerced = get_variable_values(self._schema._schema, self._operation.variable_definitions or (),
                                      variables or {})
        if isinstance(coerced, list):
            return None
        try:
            return self._converted(coerced)
        except Exception:  # whatever it is, graphql-core's path reports it the standard way
            return None
