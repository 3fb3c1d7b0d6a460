"""Objections (疑义): a consumer flags a shared value as wrong; the provider confirms or corrects it
within OBJECTION_WORKING_DAYS working days. Open objections are listed with their age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from govshare.core.errors import BadRequest, Conflict, InvalidTransition, NotFound
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.workdays import china_date

from .. import validation
from ..administration import region_transaction
from .steps import Step, audited

# The issue leaves the deadline open; the provider has this many working days (a choice, see README).
OBJECTION_WORKING_DAYS = 5
OUTCOMES = ("confirmed", "corrected")

COLUMNS = """id, consumer_department, consumer_user, resource_code, provider_code, record_key, item, expected, state,
    revision, raised_at, due_on, answered_at, answered_by, answer"""
INSERT_OBJECTION = f"""insert into objections (consumer_department, consumer_user, resource_code, provider_code,
    record_key, item, expected, due_on) values ($1, $2, $3, $4, $5, $6, $7, $8) returning {COLUMNS}"""
LOCK_OBJECTION = f"select {COLUMNS} from objections where id = $1 for update"
ANSWER_OBJECTION = f"""update objections set state = $2, answer = $3, answered_at = clock_timestamp(),
    answered_by = $4, revision = revision + 1 where id = $1 returning {COLUMNS}"""
SELECT_OBJECTIONS = f"""select {COLUMNS} from objections
    where (($1::text is not null and consumer_department = $1)
           or ($2::text[] is not null and left(resource_code, 6) = any($2::text[]))
           or ($3::text is not null and provider_code = $3))
      and ($4::boolean is false or state = 'open')
    order by raised_at, id limit 500"""


@dataclass(frozen=True)
class Objection:
    id: int
    consumer: str
    consumer_user: str
    resource: str
    provider: str
    key: str
    item: str
    expected: str
    state: str
    revision: int
    raised_at: datetime
    due_on: date
    answered_at: datetime | None
    answered_by: str | None
    answer: str | None

    @classmethod
    def from_row(cls, r: Any) -> Objection:
        return cls(r["id"], r["consumer_department"], r["consumer_user"], r["resource_code"], r["provider_code"],
                   r["record_key"], r["item"], r["expected"], r["state"], r["revision"], r["raised_at"], r["due_on"],
                   r["answered_at"], r["answered_by"], r["answer"])

    def age_days(self, now: datetime) -> int:
        """Calendar days (CST) since it was raised, until it was answered."""
        end = self.answered_at or now
        return (china_date(end) - china_date(self.raised_at)).days


def _text(value: str, name: str, limit: int = 1000) -> str:
    text = " ".join((value or "").split())
    if not text or len(text) > limit or "\x00" in text:
        raise BadRequest(f"{name}: 1 to {limit} characters of text", field=name)
    return text


async def raise_objection(step: Step, resource: str, key: str, item: str, expected: str) -> Objection:
    step.admin.authority.require(Action.REQUEST_SUBMIT, domain_of_code(step.department))
    record_key = _text(key, "key", 200)
    wanted = _text(expected, "expected")
    found = await validation.resource(step.admin.pools, resource)
    if found.status != "published":
        raise BadRequest(f"resource {found.code} is {found.status}", field="resource")
    # A key that names nobody (the check verify makes) would start the provider's deadline for nothing.
    record_key = validation.record_key(found, record_key)
    if validation.item(found, item).share_class == "NOT_SHARED":
        # A NOT_SHARED value never reaches a consumer, so no consumer can dispute it (found from outside:
        # such objections started the provider's deadline for nothing).
        raise BadRequest(f"{item} of {found.code} is not shared, so there is no shared value to object to",
                         field="item")
    due = step.calendar.due(step.now, OBJECTION_WORKING_DAYS)
    async with region_transaction(step.admin) as conn:
        row = await conn.fetchrow(INSERT_OBJECTION, step.department, step.user, found.code, found.provider,
                                  record_key, item, wanted, due)
        objection = Objection.from_row(row)
        await audited(step, "objection.raise", found.code, f"objection {objection.id} on {item} of {record_key}")
    return objection


async def answer_objection(step: Step, objection_id: int, revision: int, outcome: str, text: str) -> Objection:
    if outcome not in OUTCOMES:
        raise BadRequest(f"outcome is one of {', '.join(OUTCOMES)}", field="outcome", accepted=list(OUTCOMES))
    reply = _text(text, "answer")
    async with region_transaction(step.admin) as conn:
        row = await conn.fetchrow(LOCK_OBJECTION, objection_id)
        if row is None:
            raise NotFound(f"no objection {objection_id}", field="id")
        objection = Objection.from_row(row)
        node = domain_of_code(objection.resource)
        if not (step.department == objection.provider and step.admin.authority.allows(Action.CATALOG_EDIT, node)):
            step.admin.authority.require(Action.REQUEST_REVIEW, node)
        if objection.revision != revision:
            raise Conflict(f"objection {objection_id} is at revision {objection.revision}, not {revision}",
                           current=objection.revision, read=revision)
        if objection.state != "open":
            raise InvalidTransition(f"objection {objection_id} is already {objection.state}", state=objection.state,
                                    allowed=["open"])
        answered = Objection.from_row(await conn.fetchrow(ANSWER_OBJECTION, objection_id, outcome, reply, step.user))
        await audited(step, f"objection.{outcome}", objection.resource, f"objection {objection_id}: {reply}")
    return answered


async def listed(step: Step, open_only: bool) -> list[Objection]:
    """The caller's department's objections, those on its own resources, and those on resources of the
    nodes where it reviews requests."""
    topology = step.admin.pools.topology
    domains = step.admin.authority.domains(Action.REQUEST_REVIEW)
    nodes = [n.code for n in topology.nodes] if topology.region.code in domains else domains
    rows = await step.admin.pools.fetch(step.admin.region_database, "objections.list", SELECT_OBJECTIONS,
                                        step.department, nodes or None, step.department, open_only)
    return [Objection.from_row(r) for r in rows]
