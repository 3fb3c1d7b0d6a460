"""The current schema and the data resources it was generated from, swapped atomically.

A request takes ``holder.current`` once at its start, so a swap never changes the schema under a
request in flight. Catalog changes (NOTIFY govshare_catalog from any node) trigger a rebuild.
Every rebuild applies the classification authority (resolvers/specs.py) to all catalogs at once,
including the last known catalog of a database that did not answer, so that a node outage never
lets another node's entry go unchecked.

The authority and the build cost ~10 ms of CPU per catalog entry, and any node can publish entries and
announce a change once a second: both run in a worker thread (``asyncio.to_thread``), so a rebuild never
holds the event loop (the loop's thread takes the GIL back every switch interval). Building a schema not
yet in use touches no state a request reads: strawberry creates new types and a new converter, and the
fixed schema's shared field objects only get attributes set on the first build (at start-up, the same
values every time); the holder's lock keeps one build per worker at a time. The thread's CPU is still
the worker's: a refresh starts no sooner after the last one ended than ``REBUILD_SPACING`` times the CPU
that one spent off the loop, so whatever a node publishes, rebuilds take at most half a core per worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from strawberry import Schema

from govshare.core.errors import NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.resolvers import api_names
from govshare.resolvers.specs import Authorised, DataResourceSpec, Finding, authorise, load_catalogs
from govshare.resolvers.statistics_conflicts import CONFLICT_KINDS
from govshare.schema import Refusal, build_checked, build_schema, refusals

logger = logging.getLogger("govshare.schemas")
T = TypeVar("T")

# The least time between the end of a refresh and the start of the next, per second of CPU that refresh
# spent in its thread (the authority and the build): 1.0 keeps rebuilds to half a core per worker. The
# catalog's usual ~50 entries cost ~0.4 s; a refresh that did not rebuild costs little and waits little.
REBUILD_SPACING = 1.0


@dataclass(frozen=True)
class SchemaVersion:
    schema: Schema
    specs: tuple[DataResourceSpec, ...]
    number: int
    # What the authority overruled (一数一源 conflicts, refused or narrowed entries), for /readyz.
    findings: tuple[Finding, ...] = ()
    # Each database's catalog as last read (unchecked), reused while that database does not answer.
    catalogs: Mapping[str, tuple[DataResourceSpec, ...]] = field(default_factory=dict)


class SchemaHolder:
    def __init__(self) -> None:
        self.current = SchemaVersion(build_schema([]), (), 0)
        self._lock = asyncio.Lock()
        self._claims: dict[str, api_names.Claim] | None = None  # the api names' claims, as last read
        self._cpu = 0.0  # CPU spent off the loop by the refresh running
        self._next_at = 0.0  # loop time before which no refresh starts (REBUILD_SPACING)

    @property
    def conflicts(self) -> tuple[Finding, ...]:
        """The 一数一源 conflicts: columns classified differently, or by someone other than their owner."""
        return tuple(f for f in self.current.findings if f.kind in CONFLICT_KINDS)

    async def refresh(self, pools: NodePools) -> bool:
        """Rebuild from the catalogs; keep the last known catalog of databases that did not answer."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, self._next_at - loop.time()))
            self._cpu = 0.0
            try:
                return await self._refresh(pools)
            finally:
                self._next_at = loop.time() + REBUILD_SPACING * self._cpu

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """``work`` in a worker thread, its CPU counted for the spacing of refreshes."""
        def timed() -> tuple[T, float]:
            started = time.thread_time()
            result = work()
            return result, time.thread_time() - started

        result, spent = await asyncio.to_thread(timed)
        self._cpu += spent
        return result

    async def _refresh(self, pools: NodePools) -> bool:
        """One refresh, under the lock."""
        fresh, failed = await load_catalogs(pools)
        catalogs = {db: tuple(specs) for db, specs in fresh.items()}
        for db in failed:
            if db in self.current.catalogs:
                catalogs[db] = self.current.catalogs[db]
        authorised = await self._authorised(pools, catalogs, set(fresh))
        # An entry whose names are the fixed schema's is left out before building (schema/__init__.py).
        reserved = await self._off_loop(partial(refusals, authorised.specs))
        left_out = {r.spec.code for r in reserved}
        specs = tuple(s for s in authorised.specs if s.code not in left_out)
        findings = (*authorised.findings, *self._findings(pools, reserved))
        if specs == self.current.specs and findings == self.current.findings and self.current.number > 0:
            self.current = SchemaVersion(self.current.schema, specs, self.current.number, findings, catalogs)
            return False
        try:
            schema, failed_entries = await self._off_loop(partial(build_checked, specs))
        except Exception as exc:
            # Not even the entries left once each failing one was dropped could be built: keep serving
            # the previous schema and its resources, and report the failure.
            logger.exception("schema build failed: keeping schema version %d", self.current.number)
            findings = (*findings, Finding("schema_build_failed", "*", "*",
                                           f"{type(exc).__name__}; the previous schema is kept"))
            self._log_new(findings)
            self.current = SchemaVersion(self.current.schema, self.current.specs, self.current.number, findings,
                                         catalogs)
            return False
        if failed_entries:
            dropped = {r.spec.code for r in failed_entries}
            specs = tuple(s for s in specs if s.code not in dropped)
            findings = (*findings, *self._findings(pools, failed_entries))
        self._log_new(findings)
        self.current = SchemaVersion(schema, specs, self.current.number + 1, findings, catalogs)
        logger.info("schema version %d: %d data resources, %d catalog authority findings",
                    self.current.number, len(specs), len(findings))
        return True

    async def _authorised(self, pools: NodePools, catalogs: Mapping[str, tuple[DataResourceSpec, ...]],
                          answered: set[str]) -> Authorised:
        """The authority applied with the api names' claims (resolvers/api_names.py), and the names of the
        entries served claimed. Claims never read (the region's database has not answered since start):
        only the region's entries are served, as no name could be settled."""
        await self._read_claims(pools)
        if self._claims is None:
            authorised = await self._off_loop(partial(authorise, pools.topology, catalogs))
            region = pools.topology.region
            withheld = [s for s in authorised.specs if s.node != region.code]
            return Authorised(tuple(s for s in authorised.specs if s.node == region.code), (*authorised.findings, *(
                Finding("entry_refused", s.code, pools.topology.by_code[s.node].database_node,
                        "the region's database has not answered, so its api name cannot be settled: not served "
                        "until it answers") for s in withheld)))
        authorised = await self._off_loop(partial(authorise, pools.topology, catalogs,
                                                   api_names.held(pools.topology, self._claims, catalogs, answered)))
        try:
            if await api_names.record(pools, self._claims, authorised.specs):
                # read again: another process may have claimed a name first
                await self._read_claims(pools)
                authorised = await self._off_loop(partial(authorise, pools.topology, catalogs, api_names.held(
                    pools.topology, self._claims, catalogs, answered)))
        except NodeUnavailable as exc:
            logger.warning("api names not claimed (the region's database did not answer: %s); claimed at the next "
                           "refresh", exc)
        return authorised

    async def _read_claims(self, pools: NodePools) -> None:
        try:
            self._claims = await api_names.read_claims(pools)
        except NodeUnavailable as exc:
            logger.warning("api name claims not read (%s): the last read are kept", exc)

    def _log_new(self, findings: tuple[Finding, ...]) -> None:
        for finding in set(findings) - set(self.current.findings):
            logger.warning("catalog authority: %s %s (database %s): %s", finding.kind, finding.resource,
                           finding.database, finding.detail)

    @staticmethod
    def _findings(pools: NodePools, refused: tuple[Refusal, ...] | list[Refusal]) -> tuple[Finding, ...]:
        """Refused entries as catalog findings, each under the database its entry was read from."""
        by_code = pools.topology.by_code
        return tuple(Finding(r.kind, r.spec.code, by_code[r.spec.node].database_node if r.spec.node in by_code
                             else r.spec.node, r.reason) for r in refused)
