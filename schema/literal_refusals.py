"""A scalar value refused in a literal is reported as BAD_USER_INPUT naming its argument, as in a variable.

graphql-core checks literals during validation (ValuesOfCorrectTypeRule) and reports a scalar's refusal bare:
no argument named, no location, and, having no code of its own, GRAPHQL_VALIDATION_FAILED. The same value
in a variable is reported as "Variable '$since' has invalid value: ..." and BAD_USER_INPUT. A day out of
range or a time without its UTC offset is the input's fault either way, so the literal's refusal
(schema/scalars.py InputRefusal) gets the same code and says where it was written. Errors graphql-core
finds itself (a string for an Int, an unknown enum value) stay its validation errors.
"""

from __future__ import annotations

from typing import Any

from graphql import ArgumentNode, DirectiveNode, FieldNode, GraphQLError, ValueNode, VisitorAction
from graphql.type import GraphQLInputType
from graphql.validation import ASTValidationRule, ValuesOfCorrectTypeRule

from .scalars import InputRefusal


class NamedLiteralValuesRule(ValuesOfCorrectTypeRule):
    """ValuesOfCorrectTypeRule whose scalar refusals name the argument and point at the literal."""

    _owner = ""
    _argument: str | None = None
    _value: ValueNode | None = None

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        self._owner = f"field '{node.name.value}'"

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        self._owner = f"directive '@{node.name.value}'"

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = node.name.value

    def leave_argument(self, _node: ArgumentNode, *_args: Any) -> None:
        self._argument = None

    def is_valid_value_node(self, node: ValueNode, input_type: GraphQLInputType | None) -> VisitorAction:
        self._value = node
        return super().is_valid_value_node(node, input_type)

    def report_error(self, error: GraphQLError) -> None:
        if isinstance(error, InputRefusal):
            where = (f"Argument '{self._argument}' of {self._owner}" if self._argument is not None
                     else "A variable's default value")  # a variable's default value is the only other literal
            error = InputRefusal(f"{where} has invalid value: {error.message}",
                                 nodes=[self._value] if self._value is not None else None)
        super().report_error(error)


def naming_literal_refusals(rules: tuple[type[ASTValidationRule], ...]) -> tuple[type[ASTValidationRule], ...]:
    """The rules with graphql-core's ValuesOfCorrectTypeRule replaced by NamedLiteralValuesRule."""
    return tuple(NamedLiteralValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in rules)
