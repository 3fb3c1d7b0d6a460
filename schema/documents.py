"""Parsed and validated documents, cached: shared by the HTTP layer and by execution.

The HTTP layer looks at a document (operations, literals, repeated fields) before strawberry
executes it, and parses and validates a document it has not seen in a worker thread:
a fresh 4,000-token document costs up to ~80 ms of parse and validation, which must not hold the
event loop. Execution then finds both in these caches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import ASTValidationRule
from strawberry import Schema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from .limits import LIMIT_RULES
from .literal_refusals import naming_literal_refusals

MAX_TOKENS = 4000
# The rules strawberry validates with once AddValidationRules(LIMIT_RULES) has run (schema/__init__.py).
RULES: tuple[type[ASTValidationRule], ...] = (*specified_rules, *LIMIT_RULES)


@lru_cache(maxsize=512)
def parse_document(query: str) -> DocumentNode:
    """Raises GraphQLError for a syntax error or a document over MAX_TOKENS tokens."""
    return parse(query, max_tokens=MAX_TOKENS)


@lru_cache(maxsize=512)
def validated(schema: GraphQLSchema, document: DocumentNode,
              rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
    # Only on a cache miss: a literal's refused scalar named like a variable's (literal_refusals.py).
    return validate_document(schema, document, naming_literal_refusals(rules))


def validate_ahead(schema: Schema, document: DocumentNode) -> None:
    """Validate into the cache execution reads (meant for a worker thread, after the HTTP layer's
    bounds: validating an unbounded document is the cost those bounds exist to avoid)."""
    validated(schema._schema, document, RULES)


class DocumentCache(SchemaExtension):
    """Replaces strawberry's ParserCache and ValidationCache with the caches above."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            context.pre_execution_errors = validated(context.schema._schema, context.graphql_document,
                                                     context.validation_rules)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # On a syntax error strawberry parses again and reports it the standard way.
        if context.query is not None:
            with suppress(GraphQLError):
                context.graphql_document = parse_document(context.query)
        yield
