"""Assembles the GraphQL schema; the type families live in their own modules."""

from __future__ import annotations

from strawberry import Schema
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from .query import Query


def build_schema() -> Schema:
    return Schema(
        query=Query,
        extensions=[
            QueryDepthLimiter(max_depth=10),  # type: ignore[list-item]
            MaxAliasesLimiter(max_alias_count=30),  # type: ignore[list-item]
            MaxTokensLimiter(max_token_count=4000),  # type: ignore[list-item]
            ParserCache(maxsize=512),  # type: ignore[list-item]
            ValidationCache(maxsize=512),  # type: ignore[list-item]
        ],
    )
