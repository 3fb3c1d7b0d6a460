"""The current schema and the data resources it was generated from, swapped atomically.

A request takes ``holder.current`` once at its start, so a swap never changes the schema under a
request in flight. Catalog changes (NOTIFY govshare_catalog from any node) trigger a rebuild.
Every rebuild applies the classification authority (resolvers/specs.py) to all catalogs at once,
including the last known catalog of a database that did not answer, so that a node outage never
lets another node's entry go unchecked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from strawberry import Schema

from govshare.federation.nodes import NodePools
from govshare.resolvers.specs import DataResourceSpec, Finding, authorise, load_catalogs
from govshare.resolvers.statistics_conflicts import CONFLICT_KINDS
from govshare.schema import build_schema

logger = logging.getLogger("govshare.schemas")


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

    @property
    def conflicts(self) -> tuple[Finding, ...]:
        """The 一数一源 conflicts: columns classified differently, or by someone other than their owner."""
        return tuple(f for f in self.current.findings if f.kind in CONFLICT_KINDS)

    async def refresh(self, pools: NodePools) -> bool:
        """Rebuild from the catalogs; keep the last known catalog of databases that did not answer."""
        async with self._lock:
            fresh, failed = await load_catalogs(pools)
            catalogs = {db: tuple(specs) for db, specs in fresh.items()}
            for db in failed:
                if db in self.current.catalogs:
                    catalogs[db] = self.current.catalogs[db]
            authorised = authorise(pools.topology, catalogs)
            for finding in set(authorised.findings) - set(self.current.findings):
                logger.warning("catalog authority: %s %s (database %s): %s", finding.kind, finding.resource,
                               finding.database, finding.detail)
            specs = authorised.specs
            if specs == self.current.specs and authorised.findings == self.current.findings \
                    and self.current.number > 0:
                self.current = SchemaVersion(self.current.schema, specs, self.current.number, authorised.findings,
                                             catalogs)
                return False
            schema = build_schema(list(specs))
            self.current = SchemaVersion(schema, specs, self.current.number + 1, authorised.findings, catalogs)
            logger.info("schema version %d: %d data resources, %d catalog authority findings",
                        self.current.number, len(specs), len(authorised.findings))
            return True
