"""一数一源 conflicts (one data, one source): the same register column offered under different classes,
or classified by an entry that does not own the register.

The classification authority (resolvers/specs.py) finds them whenever the schema is rebuilt, from the
catalogs every node database returned (one statement per database, re-run on every catalog change);
this module only lists the current findings, so answering costs no statement. A prefecture's domain
sees the conflicts that involve one of its node's resources.
"""

from __future__ import annotations

from collections.abc import Sequence

from govshare.federation.nodes import NodePools
from govshare.policies.authority import Authority, domain_of_code

from .specs import Finding
from .statistics import permitted_nodes

CONFLICT_KINDS = ("class_conflict", "unclassified_by_owner")


def source_conflicts(findings: Sequence[Finding], pools: NodePools, authority: Authority,
                     nodes: Sequence[str] | None) -> list[Finding]:
    wanted = set(permitted_nodes(authority, pools, nodes))
    chosen = []
    for finding in findings:
        if finding.kind not in CONFLICT_KINDS:
            continue
        involved = {domain_of_code(finding.resource), *(domain_of_code(code) for code, _ in finding.classes)}
        if involved & wanted:
            chosen.append(finding)
    return sorted(chosen, key=lambda f: (f.table or "", f.column or "", f.resource, f.kind))
