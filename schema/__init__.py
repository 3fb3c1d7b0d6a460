"""Assembles the GraphQL schema; the type families live in their own modules."""

from __future__ import annotations

from functools import partial
from typing import Final

import strawberry
from strawberry import Schema
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.federation import Schema as FederationSchema

from govshare.resolvers.specs import DataResourceSpec

from .catalog_workflow import CatalogWorkflowMutation, CatalogWorkflowQuery
from .database_access import DatabaseAccessMutation
from .documents import MAX_TOKENS, DocumentCache
from .entities import KeyedRecords, entities_field
from .exchanges import ExchangeMutation, ExchangeQuery
from .execution import PlainListExecutionContext
from .explanations import ExplanationQuery
from .generated import data_fields
from .grants import GrantMutation, GrantQuery
from .history import HistoryMutation, HistoryQuery
from .limits import LIMIT_RULES
from .literal_arguments import remember_arguments
from .previews import PreviewQuery
from .query import LITERAL_ARGUMENT_FIELDS, Query
from .roles import RoleMutation, RoleQuery
from .rules import RuleMutation, RuleQuery
from .scalars import SCALAR_OVERRIDES
from .share_requests import ShareRequestMutation, ShareRequestQuery
from .statistics import StatisticsQuery
from .statistics_assessment import AssessmentQuery
from .statistics_conflicts import ConflictQuery
from .statistics_requests import RequestStatisticsQuery
from .statistics_use import UseStatisticsQuery

# Factories, not instances: strawberry builds extensions per request. The parse and validation caches
# (schema/documents.py) are module-level LRUs shared by every request.
EXTENSIONS = [
    partial(AddValidationRules, LIMIT_RULES),
    partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
    DocumentCache,
]


# Only @key is used, which every Federation 2 gateway knows; strawberry's default (2.11) is refused by
# composers that stop earlier (@theguild/federation-composition 0.27 knows up to 2.9).
FEDERATION_VERSION: Final = "2.7"

# Root types assembled from the type families: catalog, then administration.
QUERY_PARTS: tuple[type, ...] = (Query, RoleQuery, RuleQuery, GrantQuery, ExplanationQuery, HistoryQuery,
                                 PreviewQuery, CatalogWorkflowQuery, ShareRequestQuery, StatisticsQuery, ExchangeQuery,
                                 RequestStatisticsQuery, UseStatisticsQuery, ConflictQuery, AssessmentQuery)
MUTATION_PARTS: tuple[type, ...] = (RoleMutation, RuleMutation, GrantMutation, HistoryMutation,
                                    CatalogWorkflowMutation, ShareRequestMutation, ExchangeMutation,
                                    DatabaseAccessMutation)


def build_schema(specs: list[DataResourceSpec] | None = None) -> Schema:
    """The catalog query plus one field per published data resource (and ``verify``); admin mutations.
    Served as an Apollo Federation v2 subgraph (``_service``, ``_entities``; see schema/entities.py)."""
    fields: dict[str, object] = {}
    keyed: KeyedRecords = {}
    if specs is not None:
        fields.update(data_fields(specs, keyed))
    fields["_entities"] = entities_field(keyed)
    query: type = strawberry.type(type("Query", QUERY_PARTS, fields))
    mutation: type = strawberry.type(type("Mutation", MUTATION_PARTS, {}))
    schema = FederationSchema(query=query, mutation=mutation, extensions=EXTENSIONS,  # type: ignore[arg-type]
                              execution_context_class=PlainListExecutionContext,
                              federation_version=FEDERATION_VERSION,
                              scalar_overrides=SCALAR_OVERRIDES)  # type: ignore[arg-type]
    # The data fields' literal arguments are converted once per parsed field node (schema/literal_arguments.py).
    remember_arguments(schema, "Query", [*(s.api_name for s in specs or ()), *LITERAL_ARGUMENT_FIELDS])
    return schema
