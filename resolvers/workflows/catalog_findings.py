"""Authority findings of a catalog entry: what the classification authority (resolvers/specs.py)
would overrule if the entry were served as it stands. Read-only: it changes nothing, it only lets a
registrar see before publishing what the register owner's classes will override."""

from __future__ import annotations

from ..specs import PROVIDER, DataItemSpec, DataResourceSpec, Finding, authorise, load_catalogs
from .catalog_records import Entry
from .steps import Step


async def authority_findings(step: Step, entry: Entry) -> list[Finding]:
    """What the classification authority (resolvers/specs.py) would overrule in this entry if it were
    served as it stands: looser classes than the register owner's, columns the owner does not classify,
    a refused reach or a taken api name. Publishing never loosens a class: these are applied anyway."""
    doc = entry.document
    if doc.data_table is None or doc.api_name is None or not doc.items:
        return []
    topology = step.admin.pools.topology
    catalogs, _ = await load_catalogs(step.admin.pools)
    database = topology.node(entry.node).database_node
    current = next((s for s in catalogs.get(database, []) if s.code == entry.code), None)
    spec = DataResourceSpec(
        entry.code, entry.node, doc.api_name, doc.data_table, current.scope if current else PROVIDER, entry.provider,
        dict(doc.names), doc.summaries.get("en") or doc.summaries.get("zh") or "",
        tuple(DataItemSpec(i.name, i.data_type, i.share_class, i.condition, i.legal_basis, i.is_key, dict(i.titles))
              for i in doc.items))
    catalogs[database] = [s for s in catalogs.get(database, []) if s.code != entry.code] + [spec]
    return [f for f in authorise(topology, catalogs).findings
            if f.resource == entry.code or entry.code in dict(f.classes)]
