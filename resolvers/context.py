"""Per-request context handed to resolvers: caller, node pools, dataloaders, decisions, errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from govshare.core.callers import Caller
from govshare.core.errors import BadRequest, GovshareError, LimitExceeded
from govshare.federation.nodes import NodePools, NodeStatus, StatementLog
from govshare.federation.topology import Topology
from govshare.policies.authority import Authority, AuthorityModel
from govshare.policies.cached_grants import SELECT_GRANTS_AT, CachedGrants, grants_at
from govshare.policies.decisions import AccessDecider, EngineSource, PolicyEngine
from govshare.policies.grants import Grant, normalise_purpose
from govshare.policies.ratelimits import SharedRateLimiter
from govshare.policies.workdays import WorkCalendar

from .administration import Admin
from .loaders import Loaders
from .shared_data import Caller as DataCaller
from .specs import DataResourceSpec, Finding
from .workflows.steps import Step

LANGUAGES = ("zh", "ug", "kk", "en")
MAX_DATA_QUERIES = 5


def language_from_header(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header (q-values honoured), else zh."""
    if not accept_language:
        return "zh"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "zh"


async def read_grants(pools: NodePools, department: str, resources: Sequence[str]) -> list[Any]:
    """A department's grants on some resources, with the access version they were read at."""
    return await pools.fetch(pools.topology.region.database_node, "grants.by_department", SELECT_GRANTS_AT,
                             department, list(resources))


# Visible ASCII and %XX only: raw UTF-8 bytes arrive as Latin-1 characters, and would be read as another
# purpose (a silent PURPOSE_MISMATCH) instead of refused.
_PERCENT_ENCODED = re.compile(r"(?:[\x20-\x24\x26-\x7e]|%[0-9A-Fa-f]{2})*")


class _GrantReader:
    """A request's grants: from the process's cache when there is one, else read from the region."""

    __slots__ = ("cache", "pools")

    def __init__(self, cache: CachedGrants | None, pools: NodePools) -> None:
        self.cache = cache
        self.pools = pools

    async def __call__(self, department: str, resource: str, known: int) -> tuple[int, list[Grant]]:
        if self.cache is not None:
            return await self.cache.get(department, resource, known)
        return grants_at(await read_grants(self.pools, department, [resource]))


@dataclass
class Context:
    caller: Caller
    pools: NodePools
    request_id: str
    engine: PolicyEngine
    limiter: SharedRateLimiter
    lang: str = "zh"
    # X-Govshare-Purpose, percent-encoded UTF-8 (HTTP headers are Latin-1)
    purpose_header: str | None = None
    statements: StatementLog = field(default_factory=StatementLog)
    # node code -> reason, for nodes whose rows are missing from this answer (one error each)
    node_failures: dict[str, str] = field(default_factory=dict)
    # expected errors reported beside data (denied fields), already formatted
    errors: list[dict[str, Any]] = field(default_factory=list)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    data_queries: int = 0
    # Role assignments as loaded (None until they load: then everyone is only a developer)
    authority_model: AuthorityModel | None = None
    # Working days the workflows' deadlines are counted on (GOVSHARE_WORKDAYS_FILE)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    client_request_id: str | None = None  # the caller's X-Request-Id, never trusted as unique
    # The data resources of the schema this request runs on (exports look their resource up here)
    specs: tuple[DataResourceSpec, ...] = ()
    # What the classification authority found when the current schema was built (一数一源 conflicts...)
    catalog_findings: tuple[Finding, ...] = ()
    # The process's grants cache (read per request when None) and how to get an engine at least as new
    # as an access version a request has seen (server/app.py)
    grant_cache: CachedGrants | None = None
    engines: EngineSource | None = None
    # root field node id -> what the catalog lane read for it before handing the field to graphql-core
    # (schema/catalog_reads.py): the resolver answers from it instead of reading again
    prefetched: dict[int, Any] = field(default_factory=dict)
    _loaders: Loaders | None = None
    _statuses: asyncio.Future[dict[str, NodeStatus]] | None = None
    _decider: AccessDecider | None = None

    @property
    def topology(self) -> Topology:
        return self.pools.topology

    @property
    def loaders(self) -> Loaders:
        # Built lazily, per request: a loader's cache must never outlive the request it serves.
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    async def node_status(self, code: str) -> NodeStatus:
        """Probe every node once per request, however many node fields ask."""
        if self._statuses is None:
            self._statuses = asyncio.ensure_future(self.pools.probe_all())
        return (await self._statuses)[code]

    @property
    def authority(self) -> Authority:
        """What the caller may administer: ``require(action, domain)``, ``roles()`` (policies/authority.py)."""
        model = self.authority_model or AuthorityModel.empty(self.topology.region.code)
        return Authority(model, self.caller.user, self.caller.department)

    def admin(self) -> Admin:
        return Admin(self.pools, self.authority, self.request_id)

    def step(self) -> Step:
        """The caller of a workflow step (catalog lifecycle, share requests)."""
        return Step(self.admin(), self.calendar, self.now)

    @property
    def decider(self) -> AccessDecider:
        if self._decider is None:
            # The grants source holds the cache and the pools, not this context: the decider it keeps would
            # otherwise make a reference cycle of every request's state, freed only by the garbage collector.
            self._decider = AccessDecider(self.engine, self.caller.department,
                                          _GrantReader(self.grant_cache, self.pools), self.now, self.engines)
        return self._decider

    def data_caller(self) -> DataCaller:
        return DataCaller(self.request_id, self.caller.user, self.caller.department, self.decider, self.pools,
                          self.client_request_id)

    def count_data_query(self) -> None:
        """Each data query may read 1,000 rows on every node: a request carries a few, not dozens."""
        self.data_queries += 1
        if self.data_queries > MAX_DATA_QUERIES:
            raise LimitExceeded(f"at most {MAX_DATA_QUERIES} data queries (including verifications) per request",
                                limit="dataQueries", maximum=MAX_DATA_QUERIES)

    def purpose(self, argument: str | None) -> str | None:
        """The purpose stated for a query: its argument, else the request's header."""
        if argument is not None:
            return normalise_purpose(argument)
        if not self.purpose_header:
            return None
        # Percent-encoded UTF-8 (HTTP headers are Latin-1): anything else is refused, not guessed at, so a
        # garbled header is a clear error instead of a silent PURPOSE_MISMATCH.
        if not _PERCENT_ENCODED.fullmatch(self.purpose_header):
            raise BadRequest("X-Govshare-Purpose must be percent-encoded UTF-8", header="X-Govshare-Purpose")
        try:
            decoded = unquote(self.purpose_header, errors="strict")
        except UnicodeDecodeError as exc:
            raise BadRequest("X-Govshare-Purpose must be percent-encoded UTF-8",
                             header="X-Govshare-Purpose") from exc
        return normalise_purpose(decoded)

    def add_error(self, error: GovshareError, path: list[Any]) -> None:
        self.errors.append({"message": error.message, "path": path, "extensions": dict(error.extensions)})
