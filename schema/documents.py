"""Parsed documents, cached: shared by the HTTP layer's checks and by execution.

The HTTP layer looks at a document (operations, literals, repeated fields) before strawberry
executes it; both read the same parsed object, so a document is parsed once and the validation
cache (keyed on the document object) keeps hitting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

MAX_TOKENS = 4000


@lru_cache(maxsize=512)
def parse_document(query: str) -> DocumentNode:
    """Raises GraphQLError for a syntax error or a document over MAX_TOKENS tokens."""
    return parse(query, max_tokens=MAX_TOKENS)


class DocumentCache(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # On a syntax error strawberry parses again and reports it the standard way.
        if context.query is not None:
            with suppress(GraphQLError):
                context.graphql_document = parse_document(context.query)
        yield
