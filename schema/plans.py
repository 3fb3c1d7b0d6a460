"""Operation plans: the document work of a request done once per (schema, document, operation name).

strawberry's ``Schema.execute`` builds its extensions, an execution context and the extension hooks
for every request, then looks the parsed document and its validation up in caches, before it hands
the document to graphql-core. For a document it has already accepted on the same schema, all of that
gives the same answer every time. A plan remembers that answer: the parsed document and the
operation's type, recorded only after strawberry itself parsed, validated and started executing it
(the slow path stays the authority on what is a valid request). Later requests with the same text
and operation name go straight to graphql-core's execution, with the arguments strawberry would pass.

What a plan does not hold: variables (coerced per request by graphql-core), decisions, grants, rows
or audit records. Everything that depends on the caller, the policy or the grants is still worked
out per request by the resolvers, so a policy change or a revoked grant takes effect on the next
request whether or not its document has a plan.

Plans live per Schema object: a schema swap (catalog change) starts with no plans, and the old
schema's plans go with it. Schemas with extensions other than the document-level ones listed in
PLANNABLE_EXTENSIONS (whose hooks only parse and validate) get no plans at all.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, execute
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry import Schema
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from .catalog_reads import CatalogRead, compile_catalog_read
from .direct_reads import DirectRead, compile_read
from .documents import parse_document

logger = logging.getLogger("govshare.plans")

MAX_PLANS = 512
# Extensions whose hooks work on parsing and validation only: a document they accepted once on a
# schema, they accept again. So do extensions that override no hook but on_parse and on_validate.
# Any other extension (timing, masking, tracing, resolve middleware...) disables plans.
PLANNABLE_EXTENSIONS: tuple[type, ...] = (AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache)
HOOKS = ("on_operation", "on_parse", "on_validate", "on_execute", "resolve", "get_results")
DOCUMENT_HOOKS = {"on_parse", "on_validate"}
OPERATION_TYPES = {"query": OperationType.QUERY, "mutation": OperationType.MUTATION,
                   "subscription": OperationType.SUBSCRIPTION}


@dataclass(frozen=True)
class Plan:
    document: DocumentNode
    operation_type: OperationType
    # a data query (direct_reads.py) or a catalog query (catalog_reads.py) answered without graphql-core's walk
    direct: DirectRead | CatalogRead | None = None


class Plans:
    """The plans of one schema: a bounded LRU keyed on (document text, operation name)."""

    def __init__(self) -> None:
        self._plans: OrderedDict[tuple[str, str | None], Plan] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        plan = self._plans.get((query, operation_name))
        if plan is None:
            self.misses += 1
            return None
        self._plans.move_to_end((query, operation_name))
        self.hits += 1
        return plan

    def put(self, query: str, operation_name: str | None, plan: Plan) -> None:
        self._plans[(query, operation_name)] = plan
        if len(self._plans) > MAX_PLANS:
            self._plans.popitem(last=False)

    def __len__(self) -> int:
        return len(self._plans)


_by_schema: weakref.WeakKeyDictionary[Schema, Plans] = weakref.WeakKeyDictionary()
_plannable: weakref.WeakKeyDictionary[Schema, bool] = weakref.WeakKeyDictionary()


def plans_for(schema: Schema) -> Plans:
    plans = _by_schema.get(schema)
    if plans is None:
        plans = _by_schema[schema] = Plans()
    return plans


def _document_level(factory: Any) -> bool:
    cls = getattr(factory, "func", factory)  # functools.partial(cls, ...) or the class itself
    if not isinstance(cls, type) or not issubclass(cls, SchemaExtension):
        return False
    if cls in PLANNABLE_EXTENSIONS:
        return True
    overridden = {hook for hook in HOOKS if getattr(cls, hook, None) is not getattr(SchemaExtension, hook, None)}
    return overridden <= DOCUMENT_HOOKS


def plannable(schema: Schema) -> bool:
    known = _plannable.get(schema)
    if known is None:
        known = _plannable[schema] = (
            not schema.config.enable_experimental_incremental_execution and not schema.directives
            and all(_document_level(e) for e in schema.extensions))
    return known


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == operation_name), None)


def _lane(schema: Schema, document: DocumentNode, operation: OperationDefinitionNode
          ) -> DirectRead | CatalogRead | None:
    """The fast lane of a plan, or None. This runs after the request was answered: a lane that cannot be
    built for a reason its compiler did not foresee must cost the plan its lane, never that answer."""
    try:
        return compile_read(schema, document, operation) or compile_catalog_read(schema, document, operation)
    except Exception:
        logger.exception("no fast lane for operation %s: building it failed",
                         operation.name.value if operation.name else "(anonymous)")
        return None


async def execute_planned(schema: Schema, query: str, *, variable_values: dict[str, Any] | None, context_value: Any,
                          operation_name: str | None, allowed_operation_types: Iterable[OperationType],
                          operation_extensions: dict[str, Any] | None) -> ExecutionResult:
    """``schema.execute(...)``, through a plan where one exists (and recording one where it may)."""
    allowed = set(allowed_operation_types)
    if not plannable(schema):
        return await schema.execute(query, variable_values=variable_values, context_value=context_value,
                                    operation_name=operation_name, allowed_operation_types=allowed,
                                    operation_extensions=operation_extensions)
    plans = plans_for(schema)
    plan = plans.get(query, operation_name)
    if plan is None or plan.operation_type not in allowed:
        # strawberry's path: parse, limits, validation, operation type checks and their errors.
        result = await schema.execute(query, variable_values=variable_values, context_value=context_value,
                                      operation_name=operation_name, allowed_operation_types=allowed,
                                      operation_extensions=operation_extensions)
        if plan is None and result.data is not None:
            # Data means it parsed, validated and its operation ran: the document is fit for a plan.
            # (Variables are coerced per request; the plan keeps none of this request's values.)
            document = parse_document(query)  # the same cached object strawberry executed
            operation = _operation(document, operation_name)
            if operation is not None:
                plans.put(query, operation_name, Plan(document, OPERATION_TYPES[operation.operation.value],
                                                      _lane(schema, document, operation)))
        return result
    if plan.direct is not None:
        answered = await plan.direct.execute(context_value, variable_values)
        if answered is not None:
            return answered
    # As strawberry's Schema._execute_operation calls graphql-core, with no middleware (none of the
    # plannable extensions resolves) and no root value.
    try:
        outcome = execute(schema._schema, plan.document, root_value=None, middleware=None,
                          variable_values=variable_values, operation_name=operation_name,
                          context_value=context_value, is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                          executor_class=schema.execution_context_class, operation_extensions=operation_extensions)
        if not isinstance(outcome, GraphQLExecutionResult):
            outcome = await outcome
    except Exception as exc:  # as strawberry does: an escaping error becomes a request error
        error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
        return ExecutionResult(data=None, errors=[error], extensions=None)
    if not isinstance(outcome, GraphQLExecutionResult):  # incremental results are not planned
        raise TypeError("a plan produced an incremental result")
    return ExecutionResult(data=outcome.data, errors=outcome.errors, extensions=None)
