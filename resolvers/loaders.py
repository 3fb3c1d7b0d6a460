"""Dataloaders, built per request: one SQL statement per node per batch, whatever the batch size."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Protocol

import asyncpg
from aiodataloader import DataLoader

from govshare.core.errors import InvalidRows, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology

from . import catalog, row_values


class LoaderContext(Protocol):
    """What a loader needs of the request context; the context module imports loaders, not the reverse."""

    @property
    def pools(self) -> NodePools: ...

    @property
    def topology(self) -> Topology: ...

    @property
    def node_failures(self) -> dict[str, str]: ...


class _Loader(DataLoader[Any, Any]):
    def __init__(self, context: LoaderContext) -> None:
        super().__init__()
        self.context = context

    def note(self, failures: Sequence[NodeUnavailable], codes: Sequence[str] | None = None) -> None:
        """Record the nodes whose rows are missing: those of ``codes`` on a failed database
        (or, without codes, every node that database holds); rows left out as invalid, those of their codes."""
        topology = self.context.topology
        for failure in failures:
            hosted = topology.hosted_on(failure.node)
            named = failure.codes if isinstance(failure, InvalidRows) else codes
            nodes = hosted if named is None else sorted({c[:6] for c in named if c[:6] in hosted})
            for node in nodes:
                self.context.node_failures.setdefault(node, failure.extensions["reason"])


class ResourceByCode(_Loader):
    async def batch_load_fn(self, codes: list[str]) -> list[asyncpg.Record | None]:
        found, failures = await catalog.rows_by_code(self.context.pools, "resources.by_code",
                                                     catalog.SELECT_RESOURCES_BY_CODE, list(codes), hosted=True,
                                                     own=catalog.own_resource, invalid=row_values.invalid_resources)
        self.note(failures, codes)
        return [found.get(code) for code in codes]


class ResourceDetailsByCode(_Loader):
    """Keys are (code, with provider, with items); one statement per node per distinct pair of flags."""

    async def batch_load_fn(self, keys: list[tuple[str, bool, bool]]) -> list[catalog.ResourceDetails | None]:
        by_flags: dict[tuple[bool, bool], list[str]] = {}
        for code, provider, items in keys:
            by_flags.setdefault((provider, items), []).append(code)
        answers: dict[tuple[str, bool, bool], catalog.ResourceDetails] = {}
        for (provider, items), codes in by_flags.items():
            found, failures = await catalog.resource_details(self.context.pools, codes, provider, items)
            self.note(failures, codes)
            answers.update(((code, provider, items), details) for code, details in found.items())
        return [answers.get(key) for key in keys]


class DepartmentByCode(_Loader):
    async def batch_load_fn(self, codes: list[str]) -> list[asyncpg.Record | None]:
        found, failures = await catalog.departments_by_code(self.context.pools, "departments.by_code", list(codes),
                                                            checked=True)
        self.note(failures, codes)
        return [found.get(code) for code in codes]


class ItemsByResource(_Loader):
    async def batch_load_fn(self, codes: list[str]) -> list[list[asyncpg.Record]]:
        grouped, failures = await catalog.items_by_resource(self.context.pools, list(codes))
        self.note(failures, codes)
        return [grouped[code] for code in codes]


class ChildrenByDepartment(_Loader):
    async def batch_load_fn(self, codes: list[str]) -> list[list[asyncpg.Record]]:
        grouped, failures = await catalog.children_of(self.context.pools, list(codes))
        self.note(failures)
        return [grouped[code] for code in codes]


class ResourcesByProvider(_Loader):
    """Keys are (provider code, first, after); one statement per node per distinct (first, after)."""

    async def batch_load_fn(self, keys: list[tuple[str, int, str | None]]) -> list[list[asyncpg.Record]]:
        by_window: dict[tuple[int, str | None], list[str]] = {}
        for provider, first, after in keys:
            by_window.setdefault((first, after), []).append(provider)
        answers: dict[tuple[str, int, str | None], list[asyncpg.Record]] = {}
        for (first, after), providers in by_window.items():
            grouped, failures = await catalog.resources_by_provider(self.context.pools, providers, first, after)
            self.note(failures, providers)
            for provider in providers:
                answers[(provider, first, after)] = grouped[provider]
        return [answers[key] for key in keys]


class Loaders:
    """The request's loaders, each built when first used (building all six cost ~3% of a small request)."""

    def __init__(self, context: LoaderContext) -> None:
        self._context = context

    @cached_property
    def resource(self) -> ResourceByCode:
        return ResourceByCode(self._context)

    @cached_property
    def resource_details(self) -> ResourceDetailsByCode:
        return ResourceDetailsByCode(self._context)

    @cached_property
    def department(self) -> DepartmentByCode:
        return DepartmentByCode(self._context)

    @cached_property
    def items(self) -> ItemsByResource:
        return ItemsByResource(self._context)

    @cached_property
    def children(self) -> ChildrenByDepartment:
        return ChildrenByDepartment(self._context)

    @cached_property
    def provider_resources(self) -> ResourcesByProvider:
        return ResourcesByProvider(self._context)
