"""Per-request context handed to resolvers: caller, node pools, dataloaders, statement log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from federation.nodes import NodePools, NodeStatus, StatementLog
from federation.topology import Topology

from .identity import Caller

if TYPE_CHECKING:
    from resolvers.loaders import Loaders

LANGUAGES = ("zh", "ug", "kk", "en")


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


@dataclass
class Context:
    caller: Caller
    pools: NodePools
    request_id: str
    lang: str = "zh"
    statements: StatementLog = field(default_factory=StatementLog)
    # node code -> reason, for nodes whose rows are missing from this answer (one error each)
    node_failures: dict[str, str] = field(default_factory=dict)
    _loaders: Loaders | None = None
    _statuses: asyncio.Future[dict[str, NodeStatus]] | None = None

    async def node_status(self, code: str) -> NodeStatus:
        """Probe every node once per request, however many node fields ask."""
        if self._statuses is None:
            self._statuses = asyncio.ensure_future(self.pools.probe_all())
        return (await self._statuses)[code]

    @property
    def topology(self) -> Topology:
        return self.pools.topology

    @property
    def loaders(self) -> Loaders:
        # Built lazily, per request: a loader's cache must never outlive the request it serves.
        if self._loaders is None:
            from resolvers.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders
