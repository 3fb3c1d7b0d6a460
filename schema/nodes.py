"""Platform nodes: the region and prefecture catalog databases."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from govshare.federation.topology import Node as TopologyNode
from govshare.resolvers.context import Context

from .common import Level, LocalizedText


@strawberry.type(description="A platform node (平台节点). Hosted nodes keep their rows in the host's database.")
class Node:
    topology_node: strawberry.Private[TopologyNode]
    lang: strawberry.Private[str] = "zh"

    @strawberry.field
    def code(self) -> str:
        return self.topology_node.code

    @strawberry.field
    def level(self) -> Level:
        return Level(self.topology_node.level)

    @strawberry.field
    def name(self) -> str:
        names = self.topology_node.names
        return names.get(self.lang) or names["zh"]

    @strawberry.field
    def names(self) -> LocalizedText:
        n = self.topology_node.names
        return LocalizedText(zh=n["zh"], ug=n.get("ug"), kk=n.get("kk"), en=n.get("en"))

    @strawberry.field(description="True when this prefecture runs no platform of its own.")
    def hosted(self) -> bool:
        return self.topology_node.hosted

    @strawberry.field
    def hosted_by(self) -> str | None:
        return self.topology_node.hosted_by

    @strawberry.field(description="Whether the node's database answered a probe during this request.")
    async def reachable(self, info: Info[Context, None]) -> bool:
        return (await info.context.node_status(self.topology_node.code)).reachable

    @strawberry.field(description="Probe round trip in milliseconds; null when unreachable.")
    async def latency_ms(self, info: Info[Context, None]) -> float | None:
        return (await info.context.node_status(self.topology_node.code)).latency_ms

    @strawberry.field
    async def migration_version(self, info: Info[Context, None]) -> int | None:
        return (await info.context.node_status(self.topology_node.code)).migration_version
