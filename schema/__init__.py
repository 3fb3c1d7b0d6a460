"""Assembles the GraphQL schema; the type families live in their own modules."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
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
from .generated import camel, data_fields, field_name, type_names
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


logger = logging.getLogger("govshare.schema")
# The catalog's CHECK on api_name, again: it lives in each node's own database, whose owner can drop it.
API_NAME: Final = re.compile(r"[a-z][A-Za-z0-9]*")
ITEM_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Refusal:
    """A data resource left out of the schema, and why (a catalog finding of this kind)."""

    spec: DataResourceSpec
    reason: str
    kind: str = "api_name_reserved"


def _assemble(specs: Sequence[DataResourceSpec]) -> Schema:
    fields: dict[str, object] = {}
    keyed: KeyedRecords = {}
    fields.update(data_fields(list(specs), keyed))
    fields["_entities"] = entities_field(keyed)
    query: type = strawberry.type(type("Query", QUERY_PARTS, fields))
    mutation: type = strawberry.type(type("Mutation", MUTATION_PARTS, {}))
    schema = FederationSchema(query=query, mutation=mutation, extensions=EXTENSIONS,  # type: ignore[arg-type]
                              execution_context_class=PlainListExecutionContext,
                              federation_version=FEDERATION_VERSION,
                              scalar_overrides=SCALAR_OVERRIDES)  # type: ignore[arg-type]
    # The data fields' literal arguments are converted once per parsed field node (schema/literal_arguments.py).
    remember_arguments(schema, "Query", [*(s.api_name for s in specs), *LITERAL_ARGUMENT_FIELDS])
    return schema


@cache
def reserved_names() -> tuple[frozenset[str], frozenset[str]]:
    """The root query fields and the type names of the fixed schema (no data resource), read from that
    schema itself, so that a new catalog field or type is reserved without a list to keep."""
    fixed = _assemble([])._schema
    assert fixed.query_type is not None
    return frozenset(fixed.query_type.fields), frozenset(fixed.type_map)


def refusals(specs: Sequence[DataResourceSpec]) -> list[Refusal]:
    """Entries whose root field or generated types would take a name of the fixed schema or of an
    earlier entry (in the order given: by code, so the region's entries come first)."""
    fields, types = reserved_names()
    taken_fields, taken_types = set(fields), set(types)
    refused: list[Refusal] = []
    for spec in specs:
        if API_NAME.fullmatch(spec.api_name) is None:
            refused.append(Refusal(spec, f"api name {spec.api_name!r} is not of the form [a-z][A-Za-z0-9]*",
                                   "entry_refused"))
            continue
        items = [i.name for i in spec.items]
        if not all(ITEM_NAME.fullmatch(i) for i in items) or len({camel(i) for i in items}) != len(items):
            refused.append(Refusal(spec, "item names not of the form [a-z][a-z0-9_]*, or two with one GraphQL name",
                                   "entry_refused"))
            continue
        name, generated = field_name(spec.api_name), type_names(spec.api_name)
        clash = sorted({name} & taken_fields) or sorted(set(generated) & taken_types)
        if clash:
            refused.append(Refusal(spec, f"api name {spec.api_name!r} would take the schema's name "
                                         f"{clash[0]!r}; not served"))
            continue
        taken_fields.add(name)
        taken_types.update(generated)
    return refused


def build_checked(specs: Sequence[DataResourceSpec]) -> tuple[Schema, tuple[Refusal, ...]]:
    """The schema of the entries that can be served, and the entries left out. No entry can stop the
    build: one whose name is reserved is left out before building; if building still fails (a cause no
    check foresaw), each entry is tried alone with the fixed schema, those that fail are left out too,
    and the build is retried; if it still fails (entries that build alone but not together), the entries
    are kept in the order given (by code: the region's first) as long as they build together, and each
    one that makes the build fail is left out (``_together``). Raises only when the fixed schema with
    the entries kept cannot be built."""
    refused = refusals(specs)
    left_out = {id(r.spec) for r in refused}
    kept = [s for s in specs if id(s) not in left_out]
    try:
        return _assemble(kept), tuple(refused)
    except Exception:
        logger.exception("schema build failed with %d data resources; trying each alone", len(kept))
    failing: list[Refusal] = []
    for spec in kept:
        try:
            _assemble([spec])
        except Exception as exc:
            failing.append(Refusal(spec, f"its schema types cannot be built ({type(exc).__name__}); not served",
                                   "schema_build_failed"))
    bad = {id(r.spec) for r in failing}
    rest = [s for s in kept if id(s) not in bad]
    try:
        return _assemble(rest), (*refused, *failing)
    except Exception:
        logger.exception("schema build failed with %d data resources that build alone; leaving out each one that "
                         "fails with the entries before it", len(rest))
    schema, clashing = _together(rest)
    return schema, (*refused, *failing, *clashing)


def _builds(specs: Sequence[DataResourceSpec]) -> Schema | None:
    try:
        return _assemble(specs)
    except Exception:
        return None


def _together(specs: Sequence[DataResourceSpec]) -> tuple[Schema, list[Refusal]]:
    """The entries kept in order while they build together, each one that fails with those before it left
    out: the longest prefix of the rest that builds is found by bisection (a few builds per entry left
    out, not one per entry), the entry after it is left out, and so on."""
    kept: list[DataResourceSpec] = []
    left_out: list[Refusal] = []
    rest = list(specs)
    schema = _assemble(kept)
    while rest:
        whole = _builds([*kept, *rest])
        if whole is not None:
            return whole, left_out
        good, bad = 0, len(rest)  # kept + rest[:good] builds, kept + rest[:bad] does not
        while bad - good > 1:
            middle = (good + bad) // 2
            if _builds([*kept, *rest[:middle]]) is not None:
                good = middle
            else:
                bad = middle
        kept.extend(rest[:good])
        offending = rest[good]
        left_out.append(Refusal(offending, "its schema types cannot be built with the entries before it "
                                           "(by code); not served", "schema_build_failed"))
        rest = rest[good + 1:]
        schema = _assemble(kept)
    return schema, left_out


def build_schema(specs: list[DataResourceSpec] | None = None) -> Schema:
    """The catalog query plus one field per published data resource (and ``verify``); admin mutations.
    Served as an Apollo Federation v2 subgraph (``_service``, ``_entities``; see schema/entities.py).
    Entries that cannot be served are left out (see ``build_checked``, which also says which)."""
    return build_checked(specs or [])[0]
