"""The catalog lifecycle in GraphQL: working copies, their transitions, history, versions and duty changes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from govshare.policies.workdays import china_date
from govshare.resolvers.context import Context
from govshare.resolvers.workflows import catalog, catalog_findings, catalog_records
from govshare.resolvers.workflows.documents import Document, Violation

from .common import Classification, ShareClass, ShareMode, UpdateCycle

REVISION_HELP = "the revision you read (a stale one is refused with CONFLICT)"


@strawberry.enum(description="Where a catalog entry stands in its lifecycle.")
class CatalogState(Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    RETIRED = "retired"


@strawberry.enum(description="A reviewer's decision on a submitted entry.")
class ReviewDecision(Enum):
    APPROVE = "approve"
    RETURN = "return"


@strawberry.enum(description="What changed: a law or regulation, or the department's duties (职责).")
class DutyKind(Enum):
    LAW = "law"
    DUTIES = "duties"


@strawberry.type(description="Text in each language the platform keeps (any may be missing in a draft).")
class Texts:
    zh: str | None
    ug: str | None
    kk: str | None
    en: str | None


@strawberry.type(description="A submit rule an entry breaks, or a warning (missing Uyghur or Kazakh names).")
class RuleFinding:
    code: str
    message: str
    item: str | None

    @classmethod
    def of(cls, v: Violation) -> RuleFinding:
        return cls(code=v.code, message=v.message, item=v.item)


@strawberry.type(description="A data item of a catalog entry's working copy or of a published version.")
class CatalogItem:
    name: str
    titles: Texts
    data_type: str
    share_class: ShareClass
    condition: str | None
    legal_basis: str | None
    is_key: bool


@strawberry.type(description="The content of a catalog entry, as edited or as published.")
class CatalogDocument:
    classification: Classification
    category: str
    names: Texts
    summaries: Texts
    format: str
    update_cycle: UpdateCycle | None
    share_modes: list[ShareMode]
    open_attribute: str
    data_table: str | None
    api_name: str | None
    related_codes: list[str]
    items: list[CatalogItem]

    @classmethod
    def of(cls, d: Document) -> CatalogDocument:
        return cls(classification=Classification(d.classification), category=d.category, names=Texts(**d.names),
                   summaries=Texts(**d.summaries), format=d.format,
                   update_cycle=UpdateCycle(d.update_cycle) if d.update_cycle else None,
                   share_modes=[ShareMode(m) for m in d.share_modes], open_attribute=d.open_attribute,
                   data_table=d.data_table, api_name=d.api_name, related_codes=list(d.related_codes),
                   items=[CatalogItem(name=i.name, titles=Texts(**i.titles), data_type=i.data_type,
                                      share_class=ShareClass(i.share_class), condition=i.condition,
                                      legal_basis=i.legal_basis, is_key=i.is_key) for i in d.items])


@strawberry.type(description="One step of an entry's history: who, when, from which state to which, opinion.")
class CatalogEvent:
    at: datetime
    actor: str
    actor_department: str
    action: str
    from_state: CatalogState | None
    to_state: CatalogState
    revision: int
    version: int
    opinion: str | None


@strawberry.type(description="A published version of a resource, readable after newer versions replace it.")
class CatalogVersion:
    version: int
    published_at: datetime
    published_by: str
    document: CatalogDocument


@strawberry.type(description="A change of law or duties: the catalog must be updated within 15 working days.")
class DutyChange:
    id: int
    code: str
    kind: DutyKind
    changed_on: date
    reference: str
    due_on: date = strawberry.field(description="Last day (China Standard Time) of the 15 working days.")
    recorded_at: datetime
    recorded_by: str
    fulfilled_at: datetime | None = strawberry.field(description="When a new version was published.")
    fulfilled_version: int | None
    overdue: bool

    @classmethod
    def of(cls, d: catalog_records.DutyChange, now: datetime) -> DutyChange:
        return cls(**{**asdict(d), "kind": DutyKind(d.kind)}, overdue=d.overdue(china_date(now)))


@strawberry.type(description="What the classification authority overrules in an entry (it is applied anyway).")
class AuthorityFinding:
    kind: str = strawberry.field(description="class_conflict, unclassified_by_owner, scope_narrowed, "
                                             "entry_refused, api_name_taken, api_name_reserved "
                                             "or schema_build_failed")
    detail: str
    column: str | None
    applied: str | None = strawberry.field(description="The class applied to the column.")


@strawberry.type(description="A catalog entry (资源目录条目) in its lifecycle: the working copy and its record.")
class CatalogEntry:
    code: str
    node: str
    provider_code: str
    state: CatalogState
    revision: int = strawberry.field(
        description="Name it in the next change; 0: published before the workflow, no working copy yet.")
    version: int = strawberry.field(description="The catalog version this working copy is or will be published as.")
    document: CatalogDocument
    warnings: list[RuleFinding] = strawberry.field(description="Missing Uyghur or Kazakh names (not refused).")
    entry: strawberry.Private[catalog_records.Entry]

    @classmethod
    def of(cls, e: catalog_records.Entry) -> CatalogEntry:
        return cls(code=e.code, node=e.node, provider_code=e.provider, state=CatalogState(e.state),
                   revision=e.revision, version=e.version, document=CatalogDocument.of(e.document),
                   warnings=[RuleFinding.of(w) for w in e.warnings], entry=e)

    @strawberry.field(description="Every transition, oldest first.")
    async def history(self, info: Info[Context, None]) -> list[CatalogEvent]:
        events = await catalog_records.history(info.context.step(), self.entry)
        return [CatalogEvent(at=e.at, actor=e.actor, actor_department=e.actor_department, action=e.action,
                             from_state=CatalogState(e.from_state) if e.from_state else None,
                             to_state=CatalogState(e.to_state), revision=e.revision, version=e.version,
                             opinion=e.opinion) for e in events]

    @strawberry.field(description="Published versions, oldest first.")
    async def versions(self, info: Info[Context, None]) -> list[CatalogVersion]:
        found = await catalog_records.versions(info.context.step(), self.entry)
        return [CatalogVersion(version=v.version, published_at=v.published_at, published_by=v.published_by,
                               document=CatalogDocument.of(v.document)) for v in found]

    @strawberry.field(description="What the register owner's classes would overrule if this entry were served "
                                  "as it stands (a catalog never loosens a class set by the register's owner).")
    async def authority_findings(self, info: Info[Context, None]) -> list[AuthorityFinding]:
        found = await catalog_findings.authority_findings(info.context.step(), self.entry)
        return [AuthorityFinding(kind=f.kind, detail=f.detail, column=f.column, applied=f.applied) for f in found]

    @strawberry.field(description="Changes of law or duties recorded against this resource.")
    async def duty_changes(self, info: Info[Context, None]) -> list[DutyChange]:
        found = await catalog_records.duty_changes(info.context.step(), self.entry)
        return [DutyChange.of(d, info.context.now) for d in found]


@strawberry.input(description="A data item of a catalog entry.")
class CatalogItemInput:
    name: str
    title_zh: str | None = None
    title_ug: str | None = None
    title_kk: str | None = None
    title_en: str | None = None
    data_type: str = "string"
    share_class: ShareClass = ShareClass.UNCONDITIONAL
    condition: str | None = strawberry.field(default=None, description="Condition of use (CONDITIONAL).")
    legal_basis: str | None = strawberry.field(default=None, description="Law or regulation (NOT_SHARED).")
    is_key: bool = False


@strawberry.input(description="The content of a catalog entry. Rules are checked on submit, not on edit.")
class CatalogEntryInput:
    classification: Classification
    category: str
    format: str
    name_zh: str | None = None
    name_ug: str | None = None
    name_kk: str | None = None
    name_en: str | None = None
    summary_zh: str | None = None
    summary_ug: str | None = None
    summary_kk: str | None = None
    summary_en: str | None = None
    update_cycle: UpdateCycle | None = None
    share_modes: list[ShareMode] = strawberry.field(default_factory=list)
    open_attribute: str = "not_open"
    data_table: str | None = strawberry.field(default=None, description="Table of the provider's database.")
    api_name: str | None = strawberry.field(default=None, description="Field name of its data query.")
    related_codes: list[str] = strawberry.field(default_factory=list)
    items: list[CatalogItemInput] = strawberry.field(default_factory=list)

    def body(self) -> dict[str, Any]:
        plain: dict[str, Any] = {k: getattr(self, k) for k in (
            "category", "format", "name_zh", "name_ug", "name_kk", "name_en", "summary_zh", "summary_ug",
            "summary_kk", "summary_en", "open_attribute", "data_table", "api_name")}
        plain.update(classification=self.classification.value,
                     update_cycle=self.update_cycle.value if self.update_cycle else None,
                     share_modes=[m.value for m in self.share_modes], related_codes=list(self.related_codes),
                     items=[{**{k: getattr(i, k) for k in ("name", "title_zh", "title_ug", "title_kk", "title_en",
                                                            "data_type", "condition", "legal_basis", "is_key")},
                             "share_class": i.share_class.value} for i in self.items])
        return plain


async def catalog_entry(info: Info[Context, None], code: str) -> CatalogEntry:
    return CatalogEntry.of(await catalog_records.read(info.context.step(), code))


async def catalog_entries(info: Info[Context, None], state: CatalogState | None = None,
                          provider_code: str | None = None) -> list[CatalogEntry]:
    found = await catalog_records.entries(info.context.step(), state.value if state else None, provider_code)
    return [CatalogEntry.of(e) for e in found]


async def open_duty_changes(info: Info[Context, None]) -> list[DutyChange]:
    found = await catalog_records.open_duty_changes(info.context.step())
    return [DutyChange.of(d, info.context.now) for d in found]


@strawberry.type
class CatalogWorkflowQuery:
    catalog_entry: CatalogEntry = strawberry.field(
        resolver=catalog_entry, description="A catalog entry's working copy, history and versions.")
    catalog_entries: list[CatalogEntry] = strawberry.field(
        resolver=catalog_entries, description="Working copies of your department and of the nodes you edit or "
                                              "review (at most 500).")
    open_duty_changes: list[DutyChange] = strawberry.field(
        resolver=open_duty_changes, description="Changes of law or duties whose catalog update is still due, "
                                                "earliest deadline first (overdue ones marked).")


@strawberry.type
class CatalogWorkflowMutation:
    @strawberry.mutation(description="Create a draft entry (registrar of the provider department).")
    async def create_catalog_entry(self, info: Info[Context, None], code: str, provider_code: str,
                                   entry: CatalogEntryInput) -> CatalogEntry:
        return CatalogEntry.of(await catalog.create(info.context.step(), code, provider_code, entry.body()))

    @strawberry.mutation(description=f"Replace a draft's content; revision: {REVISION_HELP}.")
    async def edit_catalog_entry(self, info: Info[Context, None], code: str, revision: int,
                                 entry: CatalogEntryInput) -> CatalogEntry:
        return CatalogEntry.of(await catalog.edit(info.context.step(), code, revision, entry.body()))

    @strawberry.mutation(description="Submit a draft for review; every submit rule is checked (each its own code).")
    async def submit_catalog_entry(self, info: Info[Context, None], code: str, revision: int) -> CatalogEntry:
        return CatalogEntry.of(await catalog.submit(info.context.step(), code, revision))

    @strawberry.mutation(description="Approve a submitted entry, or return it to draft with an opinion "
                                     "(sharing reviewer of the node).")
    async def review_catalog_entry(self, info: Info[Context, None], code: str, revision: int,
                                   decision: ReviewDecision, opinion: str | None = None) -> CatalogEntry:
        return CatalogEntry.of(await catalog.review(info.context.step(), code, revision,
                                                    decision == ReviewDecision.APPROVE, opinion))

    @strawberry.mutation(description="Publish an approved entry: the schema is regenerated on every process.")
    async def publish_catalog_entry(self, info: Info[Context, None], code: str, revision: int,
                                    opinion: str | None = None) -> CatalogEntry:
        return CatalogEntry.of(await catalog.publish(info.context.step(), code, revision, opinion))

    @strawberry.mutation(description="Start a new version of a published entry; the published one keeps "
                                     "serving until the new one is published.")
    async def new_catalog_version(self, info: Info[Context, None], code: str, revision: int) -> CatalogEntry:
        return CatalogEntry.of(await catalog.new_version(info.context.step(), code, revision))

    @strawberry.mutation(description="Retire a published entry (sharing reviewer; opinion required).")
    async def retire_catalog_entry(self, info: Info[Context, None], code: str, revision: int,
                                   opinion: str) -> CatalogEntry:
        return CatalogEntry.of(await catalog.retire(info.context.step(), code, revision, opinion))

    @strawberry.mutation(description="Record a change of law or duties; the entry must be updated (a new "
                                     "version published) within 15 working days.")
    async def record_duty_change(self, info: Info[Context, None], code: str, revision: int, kind: DutyKind,
                                 changed_on: date, reference: str) -> DutyChange:
        _, change = await catalog.record_duty_change(info.context.step(), code, revision, kind.value, changed_on,
                                                     reference)
        return DutyChange.of(change, info.context.now)
