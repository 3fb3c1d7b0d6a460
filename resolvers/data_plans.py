"""Planning one data query: which databases to ask for which nodes, the WHERE (filters, the grant's row
scope, the cursor) and the ORDER BY, with identifiers from the catalog and values as $n parameters."""

from __future__ import annotations

from typing import Any

from govshare.core.errors import BadRequest
from govshare.federation.nodes import NodePools
from govshare.policies.decisions import Decision, Reason

from .data_requests import SCOPE_ITEM, DataRequest, Order
from .specs import ALL_NODES, DataResourceSpec
from .sql import Where

COUNT_HEAD = "select count(*) as n from "


def _q(identifier: str) -> str:
    # Identifiers come from the catalog, whose CHECK constraints allow only [a-z][a-z0-9_]*.
    return '"' + identifier + '"'


def _where(request: DataRequest, database_nodes: list[str] | None, scope: list[str] | None,
           cursor: dict[str, Any] | None) -> Where:
    where = Where()
    if database_nodes is not None:
        where.add("node_code = any({}::text[])", database_nodes)
    for cond in request.conditions:
        column = _q(cond.item)
        if cond.op == "eq":
            where.add(column + " = {}", cond.value)
        elif cond.op == "in":
            where.add(column + " = any({})", list(cond.value))
        elif cond.op == "gte":
            where.add(column + " >= {}", cond.value)
        elif cond.op == "lte":
            where.add(column + " <= {}", cond.value)
        elif cond.op == "is_null":
            where.fragments.append(column + (" is null" if cond.value else " is not null"))
    if scope is not None:
        where.add(_q(SCOPE_ITEM) + " = any({}::text[])", scope)
    if cursor is not None:
        tie = "(node_code, row_id) > ({}, "
        if request.order.item is None:
            n = where.param(cursor["n"])
            where.add(tie.replace("{}", n) + "{})", cursor["r"])
        else:
            column = _q(request.order.item)
            if cursor["v"] is None:
                n = where.param(cursor["n"])
                where.add(f"({column} is null and " + tie.replace("{}", n) + "{}))", cursor["r"])
            else:
                beyond = "<" if request.order.descending else ">"
                v1, v2, n = where.param(cursor["v"]), where.param(cursor["v"]), where.param(cursor["n"])
                r = where.param(cursor["r"])
                where.fragments.append(f"({column} {beyond} {v1} or ({column} = {v2} and "
                                       f"(node_code, row_id) > ({n}, {r})) or {column} is null)")
    return where


def _order_sql(order: Order) -> str:
    if order.item is None:
        return " order by node_code, row_id"
    return f" order by {_q(order.item)} {'desc' if order.descending else 'asc'} nulls last, node_code, row_id"


def _targets(pools: NodePools, spec: DataResourceSpec, nodes: list[str] | None, scope: list[str] | None = None
             ) -> dict[str, list[str] | None]:
    """database -> node codes to restrict to there (None: every node that database holds); under a grant's
    row scope, only the databases that can hold rows of its divisions (data pages, exports, verify alike)."""
    targets = _all_targets(pools, spec, nodes)
    return targets if scope is None else _of_scope(pools, targets, scope)


def _all_targets(pools: NodePools, spec: DataResourceSpec, nodes: list[str] | None) -> dict[str, list[str] | None]:
    topology = pools.topology
    if nodes:
        unknown = [n for n in nodes if n not in topology.by_code]
        if unknown:
            raise BadRequest(f"unknown node(s): {', '.join(unknown)}", nodes=unknown)
    if spec.scope != ALL_NODES or spec.node != topology.region.code:
        # The provider's table may hold other nodes' rows too (a hosted prefecture shares its host's
        # tables): always restrict to the provider node; asking for other nodes yields nothing.
        # Only the region's registers reach every node (resolvers/specs.py enforces it; this is the
        # second lock on the same door).
        if nodes and spec.node not in nodes:
            return {}
        return {topology.node(spec.node).database_node: [spec.node]}
    if not nodes:
        # A node database is trusted only for its own nodes' rows (README, trust model): it is asked for
        # those alone, so rows it holds of other nodes are neither served nor counted. The region's own
        # database (trusted, and holding its hosted nodes' rows) is asked for everything it holds.
        region_db = topology.region.database_node
        return {n.code: None if n.code == region_db else list(topology.hosted_on(n.code)) for n in topology.databases}
    targets: dict[str, list[str] | None] = {}
    for code in nodes:
        db = topology.node(code).database_node
        targets.setdefault(db, [])
        targets[db].append(code)  # type: ignore[union-attr]
    return targets


def _of_scope(pools: NodePools, targets: dict[str, list[str] | None], scope: list[str]
              ) -> dict[str, list[str] | None]:
    """The targets narrowed to the nodes that can hold rows of the scope's divisions: the region (whose rows
    may be of any division) and each node sharing a division's first 4 digits (a prefecture's rows are of
    its own divisions, as _own_rows checks). The others are not asked: they could add no row, and they are
    not told which divisions the grant allows."""
    region = pools.topology.region.code
    prefixes = {division[:4] for division in scope}
    narrowed: dict[str, list[str] | None] = {}
    for db, nodes in targets.items():
        if nodes is None:  # the region's own database, asked for everything it holds
            narrowed[db] = None
        elif kept := [n for n in nodes if n == region or n[:4] in prefixes]:
            narrowed[db] = kept
    return narrowed


def _requested_divisions(request: DataRequest) -> set[str] | None:
    values: set[str] | None = None
    for cond in request.conditions:
        if cond.item == SCOPE_ITEM and cond.op in ("eq", "in"):
            chosen = {cond.value} if cond.op == "eq" else set(cond.value)
            values = chosen if values is None else values & chosen
    if request.nodes:
        values = set(request.nodes) if values is None else values & set(request.nodes)
    return values


def _apply_scopes(spec: DataResourceSpec, request: DataRequest, decisions: dict[str, Decision]
                  ) -> tuple[dict[str, Decision], list[str] | None]:
    """Row scopes of the grants in use: deny items whose scope the request lies outside of, and
    return the division codes the rows are restricted to (None: unrestricted)."""
    requested = _requested_divisions(request)
    has_scope_item = any(i.name == SCOPE_ITEM for i in spec.items)
    scope: set[str] | None = None
    result = dict(decisions)
    for name, decision in decisions.items():
        grant = decision.grant
        if not decision.allowed or grant is None or grant.division_codes is None:
            continue
        if not has_scope_item or (requested is not None and not requested & grant.division_codes):
            result[name] = Decision(decision.policy, decision.action, False, Reason.OUT_OF_SCOPE)
            continue
        scope = set(grant.division_codes) if scope is None else scope & grant.division_codes
    return result, sorted(scope) if scope is not None else None
