"""The node topology: which catalog databases exist and which prefectures they host."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from govshare.core.errors import ConfigurationError, TopologyError
from govshare.core.settings import check_dsn

LEVELS = ("region", "prefecture")
NODE_CODE = re.compile(r"[0-9]{6}")  # a GB/T 2260 division code


@dataclass(frozen=True)
class Node:
    code: str
    level: str
    names: Mapping[str, str]
    hosted_by: str | None = None
    dsn: str | None = None

    @property
    def database_node(self) -> str:
        """Code of the node whose database holds this node's rows."""
        return self.hosted_by or self.code

    @property
    def hosted(self) -> bool:
        return self.hosted_by is not None


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]
    timeout_seconds: float = 2.0
    by_code: Mapping[str, Node] = field(init=False, repr=False)
    # hosted_on is asked once for every row a node database returns (resolvers/hosting.py): made once here
    hosting: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", {node.code: node for node in self.nodes})
        hosting: dict[str, list[str]] = {}
        for node in self.nodes:
            hosting.setdefault(node.database_node, []).append(node.code)
        object.__setattr__(self, "hosting", {db: tuple(codes) for db, codes in hosting.items()})

    @property
    def region(self) -> Node:
        return next(node for node in self.nodes if node.level == "region")

    @property
    def databases(self) -> tuple[Node, ...]:
        """The self-hosted nodes: one PostgreSQL database each."""
        return tuple(node for node in self.nodes if not node.hosted)

    def node(self, code: str) -> Node:
        try:
            return self.by_code[code]
        except KeyError:
            raise TopologyError(f"unknown node {code!r}") from None

    def hosted_on(self, database_node: str) -> tuple[str, ...]:
        """Every node code whose rows live in ``database_node``'s database (itself first)."""
        return self.hosting.get(database_node, ())

    def with_dsns(self, dsns: Mapping[str, str]) -> Topology:
        """The same topology with these DSNs; one for a node that is unknown or hosted is refused
        (it would otherwise be ignored silently, and the operator believe it in use)."""
        for code in dsns:
            node = self.by_code.get(code)
            if node is None:
                raise TopologyError(f"GOVSHARE_DSN_{code}: the topology has no node {code!r} "
                                    f"(nodes: {', '.join(n.code for n in self.databases)})")
            if node.hosted:
                raise TopologyError(f"GOVSHARE_DSN_{code}: node {code} is hosted by {node.hosted_by} and has no "
                                    f"database of its own; its rows are read through GOVSHARE_DSN_{node.hosted_by}")
        nodes = tuple(
            Node(n.code, n.level, n.names, n.hosted_by, dsns.get(n.code, n.dsn)) for n in self.nodes
        )
        return Topology(nodes, self.timeout_seconds)

    @property
    def needs_embedded(self) -> bool:
        return all(node.dsn is None for node in self.databases)

    @classmethod
    def load(cls, path: Path, dsns: Mapping[str, str] | None = None) -> Topology:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TopologyError(f"cannot read topology {path}: {exc}") from exc
        nodes: list[Node] = []
        for entry in raw.get("nodes", []):
            try:
                code, level = str(entry["code"]), str(entry["level"])
            except KeyError as exc:
                raise TopologyError(f"topology node without {exc.args[0]!r}: {entry}") from exc
            if not NODE_CODE.fullmatch(code):
                raise TopologyError(f"topology {path}: node code {code!r} must be 6 digits (a GB/T 2260 code)")
            if level not in LEVELS:
                raise TopologyError(f"node {code}: level must be one of {LEVELS}, got {level!r}")
            names = {lang: str(entry[f"name_{lang}"]) for lang in ("zh", "ug", "kk", "en")
                     if f"name_{lang}" in entry}
            if "zh" not in names:
                raise TopologyError(f"node {code} needs name_zh")
            dsn = entry.get("dsn")
            if dsn is not None:
                try:
                    check_dsn(f"dsn of node {code} in {path}", code, str(dsn))
                except ConfigurationError as exc:
                    raise TopologyError(exc.message) from exc
            nodes.append(Node(code, level, names, entry.get("hosted_by"), dsn))
        timeout = raw.get("defaults", {}).get("timeout_seconds", 2.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
                or timeout <= 0:
            raise TopologyError(f"topology {path}: defaults.timeout_seconds must be a positive number of "
                                f"seconds, got {timeout!r}")
        topology = cls(tuple(nodes), float(timeout))
        topology._validate()
        return topology.with_dsns(dsns or {})

    def _validate(self) -> None:
        if len(self.by_code) != len(self.nodes):
            raise TopologyError("duplicate node codes in topology")
        regions = [n for n in self.nodes if n.level == "region"]
        if len(regions) != 1:
            raise TopologyError("the topology needs exactly one region node")
        for node in self.nodes:
            if node.hosted_by is not None:
                if node.dsn is not None:
                    raise TopologyError(f"node {node.code} is hosted by {node.hosted_by}: it takes no dsn of its own")
                host = self.by_code.get(node.hosted_by)
                if host is None or host.hosted:
                    raise TopologyError(f"node {node.code} is hosted by {node.hosted_by!r}, "
                                        "which is not a self-hosted node")
