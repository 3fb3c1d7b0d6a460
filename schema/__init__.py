"""Assembles the GraphQL schema; the type families live in their own modules."""

from __future__ import annotations

from functools import partial

from strawberry import Schema
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from .query import Query

# Factories, not instances: strawberry builds extensions per request. The parse and validation
# caches are module-level LRUs shared by every request (a parsed document is not re-parsed).
EXTENSIONS = [
    partial(QueryDepthLimiter, max_depth=10),
    partial(MaxAliasesLimiter, max_alias_count=30),
    partial(MaxTokensLimiter, max_token_count=4000),
    partial(ParserCache, maxsize=512),
    partial(ValidationCache, maxsize=512),
]


def build_schema() -> Schema:
    return Schema(query=Query, extensions=EXTENSIONS)  # type: ignore[arg-type]
