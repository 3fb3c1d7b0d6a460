"""Validation rules that bound a document's shape: depth and aliases (tokens are bounded at parse).

Built once: the validation cache is keyed on the rule classes, and strawberry's limiter extensions
would build new classes for every request (a cache miss each time).
"""

from __future__ import annotations

from graphql.validation import ASTValidationRule
from strawberry.extensions import max_aliases, query_depth_limiter

LIMIT_RULES: list[type[ASTValidationRule]] = [
    query_depth_limiter.create_validator(10, None, None),
    max_aliases.create_validator(30),
]
