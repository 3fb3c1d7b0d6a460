"""What a data query asks for: the items, conditions, order and page (kept free of SQL and GraphQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .specs import DataResourceSpec

MAX_FIRST = 1000
SCOPE_ITEM = "division_code"


@dataclass(frozen=True)
class Condition:
    item: str
    op: str  # eq | in | gte | lte | is_null
    value: Any


@dataclass(frozen=True)
class Order:
    item: str | None = None
    descending: bool = False


@dataclass
class DataRequest:
    spec: DataResourceSpec
    selected: list[str]
    conditions: list[Condition] = field(default_factory=list)
    order: Order = field(default_factory=Order)
    first: int = 100
    after: str | None = None
    nodes: list[str] | None = None
    purpose: str | None = None
    want_total: bool = False
