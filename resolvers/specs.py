"""The data resources the schema is generated from, read from every node's catalog and checked
against the classification authority before any of them is served.

A node's catalog is trusted only about its own database:
- an entry is served only when the node it names keeps its rows in the database it was read from
  and its resource and provider codes belong to nodes of that database (``<node>-``: the catalog's rule,
  resolvers/hosting.py);
- ``data_scope = all_nodes`` (a register whose rows live in every node) is honoured only for an
  entry of the region node read from the region database; anywhere else it is narrowed to the
  entry's own node rows;
- each (register, column) has one authoritative class, set by the node that owns the register (the
  region for an all-nodes register, otherwise the node whose database holds the table). Entries
  describing the same column are clamped to the strictest class among them and the authority's; a
  column the owner does not classify is NOT_SHARED for everyone else. Disagreements are reported
  (the 一数一源 conflicts supervision lists) and never loosen anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from govshare.core.errors import BadRequest, NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.federation.topology import Topology
from govshare.policies.decisions import ItemPolicy

from . import catalog, hosting

ALL_NODES = "all_nodes"
PROVIDER = "provider"
# Strictest first: the class applied to a column is the first of these any entry (or the authority) names.
STRICTNESS = ("NOT_SHARED", "CONDITIONAL", "UNCONDITIONAL")

# is_register: the data table is a shared-data register (it has the node_code and row_id columns every
# register carries, see migration 0005); platform tables (audit trail, grants, roles...) have not.
SELECT_SPECS = """select code, node_code, api_name, data_table, data_scope, provider_code,
    name_zh, name_ug, name_kk, name_en, summary_zh, summary_en,
    (select count(*) = 2 from pg_attribute a
     where a.attrelid = to_regclass('public.' || quote_ident(data_table))
       and a.attname in ('node_code', 'row_id') and not a.attisdropped) as is_register
    from resources where status = 'published' and data_table is not null and api_name is not null"""
# The platform's own tables are never shared data, whatever a catalog entry says (also checked
# structurally: a data table must be a register).
PLATFORM_TABLES = frozenset({
    "audit_log", "audit_checkpoints", "grants", "policy_rules", "policy_changes", "role_assignments",
    "department_groups", "govshare_meta", "schema_migrations", "resources", "data_items", "departments",
    "catalog_entries", "catalog_history", "catalog_versions", "catalog_duty_changes", "share_requests",
    "share_request_events", "objections", "exchange_jobs", "register_change_columns", "database_accesses",
})
SELECT_SPEC_ITEMS = """select resource_code, name, position, title_zh, title_ug, title_kk, title_en, data_type,
    share_class, share_condition, legal_basis, is_key
    from data_items where resource_code = any($1::text[]) order by resource_code, position"""


@dataclass(frozen=True)
class DataItemSpec:
    name: str
    data_type: str
    share_class: str
    condition: str | None
    legal_basis: str | None
    is_key: bool
    titles: dict[str, str | None]


@dataclass(frozen=True)
class DataResourceSpec:
    code: str
    node: str
    api_name: str
    table: str
    scope: str  # 'provider' or 'all_nodes'
    provider: str
    names: dict[str, str | None]
    summary: str
    items: tuple[DataItemSpec, ...]
    # False when the database says the data table is no register (see SELECT_SPECS): never served.
    register: bool = True

    def item(self, name: str) -> DataItemSpec:
        for item in self.items:
            if item.name == name:
                return item
        raise BadRequest(f"{self.api_name} has no item {name!r}")

    def policy(self, name: str) -> ItemPolicy:
        policy = self._policies.get(name)
        if policy is None:
            self.item(name)  # raises: no such item
        assert policy is not None
        return policy

    @functools.cached_property
    def _policies(self) -> dict[str, ItemPolicy]:
        # One ItemPolicy per item for the spec's life: decisions are remembered across requests by them.
        return {item.name: ItemPolicy(self.code, item.name, item.share_class, item.condition, item.legal_basis,
                                      self.provider) for item in self.items}

    @property
    def key(self) -> str:
        return next((i.name for i in self.items if i.is_key), self.items[0].name)


@dataclass(frozen=True)
class Finding:
    """A catalog entry the authority rules overruled: a class conflict (一数一源) or a refused reach."""

    # class_conflict | unclassified_by_owner | scope_narrowed | entry_refused | api_name_taken; added when the
    # schema is built (server/schemas.py): api_name_reserved | schema_build_failed
    kind: str
    resource: str
    database: str
    detail: str
    table: str | None = None
    column: str | None = None
    classes: tuple[tuple[str, str], ...] = ()  # (resource code, class it states) of every entry naming the column
    applied: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "resource": self.resource, "database": self.database,
                                "detail": self.detail}
        if self.table is not None:
            body.update(table=self.table, column=self.column, applied=self.applied,
                        classes={code: cls for code, cls in self.classes})
        return body


@dataclass(frozen=True)
class Authorised:
    specs: tuple[DataResourceSpec, ...]
    findings: tuple[Finding, ...]


def _strictest(classes: Iterable[str]) -> str:
    present = set(classes)
    return next(c for c in STRICTNESS if c in present)


def _reach(topology: Topology, database: str, spec: DataResourceSpec) -> tuple[DataResourceSpec | None, Finding | None]:
    """The entry as far as its own database lets it reach: refused, narrowed, or unchanged."""
    if spec.table in PLATFORM_TABLES or not spec.register:
        return None, Finding("entry_refused", spec.code, database,
                             f"data table {spec.table!r} is not a shared-data register of database {database}")
    node = topology.by_code.get(spec.node)
    if node is None or node.database_node != database:
        return None, Finding("entry_refused", spec.code, database,
                             f"entry names node {spec.node}, whose rows are not kept in database {database}")
    # The catalog's rule (README *Trust model*, resolvers/hosting.py): the codes belong to nodes of this
    # database, so the data API serves exactly the entries the catalog lists (a hosted prefecture's entry
    # may name a department of its host as provider: both are that database's own).
    if not hosting.owns(topology, database, spec.node, spec.code, spec.provider, with_provider=True):
        return None, Finding("entry_refused", spec.code, database,
                             f"resource or provider code belongs to no node of database {database}")
    region = topology.region
    if spec.scope == ALL_NODES and (spec.node != region.code or database != region.database_node):
        return replace(spec, scope=PROVIDER), Finding(
            "scope_narrowed", spec.code, database,
            f"only the region node ({region.code}) may declare a register held in every node; "
            f"reading only node {spec.node}'s rows")
    if spec.scope not in (ALL_NODES, PROVIDER):
        return None, Finding("entry_refused", spec.code, database, f"unknown data scope {spec.scope!r}")
    return spec, None


def authorise(topology: Topology, catalogs: Mapping[str, Iterable[DataResourceSpec]],
              claims: Mapping[str, str] | None = None) -> Authorised:
    """Apply the authority rules to the entries read from each database (``catalogs``: database ->
    its published data resources). A database missing from ``catalogs`` is unknown: when that is
    the region's, no other node's entry is served, since no class could be checked against it.
    ``claims`` (api name -> the resource holding it, resolvers/api_names.py): a name held by one resource
    is served by no other entry but the region's."""
    region = topology.region
    findings: list[Finding] = []
    entries: list[tuple[str, DataResourceSpec]] = []
    for database, specs in sorted(catalogs.items()):
        for spec in specs:
            reached, finding = _reach(topology, database, spec)
            if finding is not None:
                findings.append(finding)
            if reached is not None:
                entries.append((database, reached))
    if region.database_node not in catalogs:
        withheld = [(db, s) for db, s in entries if db != region.database_node]
        findings.extend(Finding("entry_refused", s.code, db, "the region catalog is unavailable, so its classes "
                                "cannot be checked: not served until it answers") for db, s in withheld)
        entries = [(db, s) for db, s in entries if db == region.database_node]

    # A register: the all-nodes register of that name, or one table of one database.
    shared_tables = {s.table for db, s in entries if s.scope == ALL_NODES}

    def register(database: str, spec: DataResourceSpec) -> tuple[str, str]:
        return ("*", spec.table) if spec.table in shared_tables else (database, spec.table)

    def authoritative(reg: tuple[str, str], spec: DataResourceSpec) -> bool:
        return spec.scope == ALL_NODES if reg[0] == "*" else spec.node == reg[0]

    by_register: dict[tuple[str, str], list[DataResourceSpec]] = {}
    for database, spec in entries:
        by_register.setdefault(register(database, spec), []).append(spec)

    applied: dict[tuple[str, str, str], DataItemSpec] = {}  # (register db, table, column) -> the item that sets it
    for reg, specs in by_register.items():
        owners = [s for s in specs if authoritative(reg, s)]
        columns = dict.fromkeys(item.name for s in specs for item in s.items)
        for column in columns:
            stated = [(s.code, i) for s in specs for i in s.items if i.name == column]
            owner_items = [i for s in owners for i in s.items if i.name == column]
            candidates = owner_items or [i for _, i in stated]
            strictest = _strictest(i.share_class for _, i in stated)
            if owners and not owner_items:
                owner_codes = ", ".join(s.code for s in owners)
                setter = replace(stated[0][1], share_class="NOT_SHARED", condition=None,
                                 legal_basis=f"not classified by the register's owner ({owner_codes}); "
                                             "no other catalog entry may classify it")
                findings.append(Finding("unclassified_by_owner", stated[0][0], reg[0], setter.legal_basis or "",
                                        reg[1], column, tuple((c, i.share_class) for c, i in stated), "NOT_SHARED"))
            else:
                setter = next(i for i in [*candidates, *(i for _, i in stated)] if i.share_class == strictest)
                if len({i.share_class for _, i in stated}) > 1:
                    overruled = next(code for code, i in stated if i.share_class != strictest)
                    findings.append(Finding(
                        "class_conflict", overruled, reg[0],
                        f"entries classify {reg[1]}.{column} differently; the strictest ({strictest}) applies",
                        reg[1], column, tuple((c, i.share_class) for c, i in stated), strictest))
            applied[(*reg, column)] = setter

    served: list[DataResourceSpec] = []
    names: dict[str, str] = {}
    # The region's entries first, so a prefecture entry cannot take an api name from the region; then the
    # other entries of the region's own (trusted) database, those of the nodes it hosts, so a prefecture
    # database's entry cannot take a hosted node's name by sorting before it; a name another resource holds
    # (its claim) is not another prefecture entry's, whatever its code.
    held = claims or {}
    for database, spec in sorted(entries, key=lambda e: (e[1].node != region.code, e[0] != region.database_node,
                                                         e[1].code)):
        holder = names.get(spec.api_name)
        if holder is None and spec.node != region.code and held.get(spec.api_name, spec.code) != spec.code:
            holder = f"{held[spec.api_name]} (which claimed it first)"
        if holder is not None:
            findings.append(Finding("api_name_taken", spec.code, database,
                                    f"api name {spec.api_name!r} is already used by {holder}"))
            continue
        names[spec.api_name] = spec.code
        reg = register(database, spec)
        items = tuple(_clamped(item, applied[(*reg, item.name)]) for item in spec.items)
        served.append(replace(spec, items=items))
    return Authorised(tuple(sorted(served, key=lambda s: s.code)), tuple(findings))


def _clamped(item: DataItemSpec, setter: DataItemSpec) -> DataItemSpec:
    """The item with the applied class of its column (never looser than the item states)."""
    if setter.share_class == item.share_class:
        return item
    return replace(item, share_class=setter.share_class, condition=setter.condition,
                   legal_basis=setter.legal_basis)


async def load_catalogs(pools: NodePools) -> tuple[dict[str, list[DataResourceSpec]], list[str]]:
    """Published resources with a data location as each database states them (unchecked); also the
    databases that failed."""
    results = await pools.fetch_each([n.code for n in pools.topology.databases], "specs.resources", SELECT_SPECS)
    failed = [db for db, r in results.items() if isinstance(r, NodeUnavailable)]
    catalogs: dict[str, list[DataResourceSpec]] = {}
    for db, rows in results.items():
        if isinstance(rows, NodeUnavailable):
            continue
        catalogs[db] = []
        if not rows:
            continue
        try:
            items = await pools.fetch(db, "specs.items", SELECT_SPEC_ITEMS, [r["code"] for r in rows])
        except NodeUnavailable:
            failed.append(db)
            del catalogs[db]
            continue
        if not (catalog.text_keys(db, rows, "specs.resources", "code")
                and catalog.text_keys(db, items, "specs.items", "resource_code")):
            failed.append(db)  # codes compared and hashed below: a list there is that database's failure alone
            del catalogs[db]
            continue
        by_resource: dict[str, list[DataItemSpec]] = {}
        for i in items:
            by_resource.setdefault(i["resource_code"], []).append(DataItemSpec(
                i["name"], i["data_type"], i["share_class"], i["share_condition"], i["legal_basis"], i["is_key"],
                {lang: i[f"title_{lang}"] for lang in ("zh", "ug", "kk", "en")}))
        for r in rows:
            if by_resource.get(r["code"]):
                catalogs[db].append(DataResourceSpec(
                    r["code"], r["node_code"], r["api_name"], r["data_table"], r["data_scope"], r["provider_code"],
                    {lang: r[f"name_{lang}"] for lang in ("zh", "ug", "kk", "en")},
                    r["summary_en"] or r["summary_zh"], tuple(by_resource[r["code"]]), bool(r["is_register"])))
    return catalogs, failed


async def load_specs(pools: NodePools) -> tuple[list[DataResourceSpec], list[str]]:
    """The resources that may be served (authority applied); also the databases that failed."""
    catalogs, failed = await load_catalogs(pools)
    return list(authorise(pools.topology, catalogs).specs), failed
