"""The current schema and the data resources it was generated from, swapped atomically.

A request takes ``holder.current`` once at its start, so a swap never changes the schema under a
request in flight. Catalog changes (NOTIFY govshare_catalog from any node) trigger a rebuild.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from strawberry import Schema

from federation.nodes import NodePools
from resolvers.shared_data import DataResourceSpec, load_specs
from schema import build_schema

logger = logging.getLogger("govshare.schemas")


@dataclass(frozen=True)
class SchemaVersion:
    schema: Schema
    specs: tuple[DataResourceSpec, ...]
    number: int


class SchemaHolder:
    def __init__(self) -> None:
        self.current = SchemaVersion(build_schema([]), (), 0)
        self._lock = asyncio.Lock()

    async def refresh(self, pools: NodePools) -> bool:
        """Rebuild from the catalog; keep the resources of databases that did not answer."""
        async with self._lock:
            specs, failed = await load_specs(pools)
            if failed:
                kept = [s for s in self.current.specs
                        if pools.topology.node(s.node).database_node in failed]
                specs = sorted([*specs, *kept], key=lambda s: s.code)
            if tuple(specs) == self.current.specs and self.current.number > 0:
                return False
            schema = build_schema(specs)
            self.current = SchemaVersion(schema, tuple(specs), self.current.number + 1)
            logger.info("schema version %d: %d data resources", self.current.number, len(specs))
            return True
