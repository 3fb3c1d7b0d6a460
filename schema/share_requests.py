"""Share requests, the grants they create, and objections in GraphQL."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from govshare.policies.workdays import china_date
from govshare.resolvers.context import Context
from govshare.resolvers.workflows import held_grants, objections, request_records, requests

from .common import ShareMode

REVISION_HELP = "the revision you read (a stale one is refused with CONFLICT)"


@strawberry.enum(description="Where a share request stands.")
class ShareRequestState(Enum):
    SUBMITTED = "submitted"
    INFO_REQUESTED = "info_requested"
    AWAITING_REGION = strawberry.enum_value("awaiting_region", description=(
        "Approved by the provider; an institution outside government also needs the region's sharing authority."))
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@strawberry.enum(description="Which requests to list: your department's, or those your node must answer.")
class RequestSide(Enum):
    APPLICANT = "applicant"
    PROVIDER = "provider"


@strawberry.enum(description="The provider's answer to an objection.")
class ObjectionOutcome(Enum):
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"


@strawberry.type(description="One step of a share request: who, when, from which state to which, note.")
class ShareRequestEvent:
    at: datetime
    actor: str
    actor_department: str
    action: str
    from_state: ShareRequestState | None
    to_state: ShareRequestState
    note: str | None


@strawberry.type(description="A request for CONDITIONAL items of a published resource (申请共享).")
class ShareRequest:
    id: int
    applicant_department: str
    applicant_user: str
    resource_code: str
    provider_code: str
    items: list[str]
    purpose: str
    scenario: str
    users: list[str]
    share_modes: list[ShareMode]
    requested_until: date
    basis: str
    state: ShareRequestState
    revision: int
    submitted_at: datetime
    due_on: date | None = strawberry.field(
        description="Last day (CST) of the provider's 10 working days; null while the clock is paused.")
    remaining_working_days: int | None = strawberry.field(
        description="Working days left when the clock was paused for information.")
    overdue: bool
    question: str | None
    answer: str | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    decision_grounds: str | None
    approved_items: list[str] | None
    approved_until: date | None
    divisions: list[str] | None
    grant_id: int | None
    request: strawberry.Private[request_records.ShareRequest]

    @classmethod
    def of(cls, r: request_records.ShareRequest, now: datetime) -> ShareRequest:
        return cls(id=r.id, applicant_department=r.applicant, applicant_user=r.applicant_user,
                   resource_code=r.resource, provider_code=r.provider, items=r.items, purpose=r.purpose,
                   scenario=r.scenario, users=r.users, share_modes=[ShareMode(m) for m in r.share_modes],
                   requested_until=r.requested_until, basis=r.basis, state=ShareRequestState(r.state),
                   revision=r.revision, submitted_at=r.submitted_at, due_on=r.due_on,
                   remaining_working_days=r.remaining_days, overdue=r.overdue(china_date(now)),
                   question=r.question, answer=r.answer, decided_at=r.decided_at, decided_by=r.decided_by,
                   decision_reason=r.decision_reason, decision_grounds=r.decision_grounds,
                   approved_items=r.approved_items, approved_until=r.approved_until, divisions=r.divisions,
                   grant_id=r.grant_id, request=r)

    @strawberry.field(description="Every step, oldest first.")
    async def history(self, info: Info[Context, None]) -> list[ShareRequestEvent]:
        found = await request_records.events(info.context.step(), self.request)
        return [ShareRequestEvent(at=e.at, actor=e.actor, actor_department=e.actor_department, action=e.action,
                                  from_state=ShareRequestState(e.from_state) if e.from_state else None,
                                  to_state=ShareRequestState(e.to_state), note=e.note) for e in found]


@strawberry.type(description="A grant your department holds, with its remaining validity.")
class HeldGrant:
    id: int
    resource_code: str
    items: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime
    state: str
    share_modes: list[ShareMode]
    request_id: int | None
    remaining_days: int = strawberry.field(description="Calendar days left (CST), today included; 0 unless active.")


@strawberry.type(description="An objection (疑义) to a shared value, and the provider's answer.")
class Objection:
    id: int
    consumer_department: str
    resource_code: str
    provider_code: str
    key: str
    item: str
    expected: str
    state: str
    revision: int
    raised_at: datetime
    due_on: date
    age_days: int = strawberry.field(description="Calendar days (CST) open, or until answered.")
    overdue: bool
    answer: str | None
    answered_by: str | None

    @classmethod
    def of(cls, o: objections.Objection, now: datetime) -> Objection:
        return cls(id=o.id, consumer_department=o.consumer, resource_code=o.resource, provider_code=o.provider,
                   key=o.key, item=o.item, expected=o.expected, state=o.state, revision=o.revision,
                   raised_at=o.raised_at, due_on=o.due_on, age_days=o.age_days(now),
                   overdue=o.state == "open" and china_date(now) > o.due_on, answer=o.answer,
                   answered_by=o.answered_by)


async def share_request(info: Info[Context, None], id: int) -> ShareRequest:
    return ShareRequest.of(await request_records.read(info.context.step(), id), info.context.now)


async def share_requests(info: Info[Context, None], side: RequestSide = RequestSide.APPLICANT,
                         state: ShareRequestState | None = None, overdue: bool = False) -> list[ShareRequest]:
    found = await request_records.listed(info.context.step(), side.value, state.value if state else None, overdue)
    return [ShareRequest.of(r, info.context.now) for r in found]


async def my_grants(info: Info[Context, None]) -> list[HeldGrant]:
    found = await held_grants.held_grants(info.context.step())
    return [HeldGrant(id=g.id, resource_code=g.resource, items=g.items, purpose=g.purpose, valid_from=g.valid_from,
                      valid_until=g.valid_until, state=g.state, share_modes=[ShareMode(m) for m in g.share_modes],
                      request_id=g.request_id, remaining_days=g.remaining_days) for g in found]


async def objection_list(info: Info[Context, None], open_only: bool = True) -> list[Objection]:
    found = await objections.listed(info.context.step(), open_only)
    return [Objection.of(o, info.context.now) for o in found]


@strawberry.type
class ShareRequestQuery:
    share_request: ShareRequest = strawberry.field(
        resolver=share_request, description="One request (the applicant department or a reviewer of its node).")
    share_requests: list[ShareRequest] = strawberry.field(
        resolver=share_requests, description="APPLICANT: your department's requests; PROVIDER: requests your "
                                             "node must answer. overdue: open requests past their deadline.")
    my_grants: list[HeldGrant] = strawberry.field(
        resolver=my_grants, description="Grants your department holds and their remaining validity.")
    objections: list[Objection] = strawberry.field(
        resolver=objection_list, description="Objections raised by your department or on resources you answer "
                                             "for, oldest first, with their age.")


@strawberry.type
class ShareRequestMutation:
    @strawberry.mutation(description="Apply for CONDITIONAL items of a published resource; the provider answers "
                                     "within 10 working days.")
    async def submit_share_request(self, info: Info[Context, None], resource_code: str, items: list[str],
                                   purpose: str, scenario: str, users: list[str], share_modes: list[ShareMode],
                                   until: date, basis: str) -> ShareRequest:
        found = await requests.submit(info.context.step(), resource_code, items, purpose, scenario, users,
                                      [m.value for m in share_modes], until, basis)
        return ShareRequest.of(found, info.context.now)

    @strawberry.mutation(description="Approve all or some items (optionally a shorter validity or a row scope "
                                     "of division codes); creates the grant.")
    async def approve_share_request(self, info: Info[Context, None], id: int, revision: int,
                                    items: list[str] | None = None, until: date | None = None,
                                    divisions: list[str] | None = None, opinion: str | None = None) -> ShareRequest:
        found = await requests.approve(info.context.step(), id, revision, items, until, divisions, opinion)
        return ShareRequest.of(found, info.context.now)

    @strawberry.mutation(description="Reject: a reason and its legal grounds are mandatory.")
    async def reject_share_request(self, info: Info[Context, None], id: int, revision: int,
                                   reason: str, grounds: str) -> ShareRequest:
        return ShareRequest.of(await requests.reject(info.context.step(), id, revision, reason, grounds),
                               info.context.now)

    @strawberry.mutation(description="Ask the applicant for more information: the clock pauses until it answers.")
    async def ask_share_request_information(self, info: Info[Context, None], id: int,
                                            revision: int, question: str) -> ShareRequest:
        return ShareRequest.of(await requests.ask_information(info.context.step(), id, revision, question),
                               info.context.now)

    @strawberry.mutation(description="The applicant answers a request for information: the clock resumes.")
    async def answer_share_request(self, info: Info[Context, None], id: int, revision: int,
                                   answer: str) -> ShareRequest:
        return ShareRequest.of(await requests.answer(info.context.step(), id, revision, answer), info.context.now)

    @strawberry.mutation(description="The applicant withdraws its request before a decision.")
    async def withdraw_share_request(self, info: Info[Context, None], id: int,
                                     revision: int) -> ShareRequest:
        return ShareRequest.of(await requests.withdraw(info.context.step(), id, revision), info.context.now)

    @strawberry.mutation(description="Flag a shared value as wrong (疑义): the provider must confirm or correct "
                                     "it within 5 working days.")
    async def raise_objection(self, info: Info[Context, None], resource_code: str, key: str, item: str,
                              expected: str) -> Objection:
        found = await objections.raise_objection(info.context.step(), resource_code, key, item, expected)
        return Objection.of(found, info.context.now)

    @strawberry.mutation(description="The provider confirms the value or records its correction.")
    async def answer_objection(self, info: Info[Context, None], id: int, revision: int,
                               outcome: ObjectionOutcome, answer: str) -> Objection:
        found = await objections.answer_objection(info.context.step(), id, revision, outcome.value, answer)
        return Objection.of(found, info.context.now)
