"""Share requests as records: their row shape, their history, and who may read which.

The transitions (requests.py) write these rows; this module only reads them, for the applicant
department (its own requests) and for sharing reviewers (requests for resources of the nodes they
review). Anyone else gets ``NOT_FOUND``, as if the request did not exist: its existence is not shared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from govshare.core.errors import NotFound
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.workdays import china_date

from .steps import Step

COLUMNS = """id, applicant_department, applicant_user, resource_code, provider_code, items, purpose, scenario, users,
    share_modes, requested_until, basis, state, revision, submitted_at, due_on, remaining_days, question, answer,
    decided_at, decided_by, decision_reason, decision_grounds, approved_items, approved_until, row_scope,
    grant_id"""
SELECT_REQUEST = f"select {COLUMNS} from share_requests where id = $1"
SELECT_EVENTS = """select at, actor, actor_department, action, from_state, to_state, note from share_request_events
    where request_id = $1 order by id"""
# Requests of one applicant department, or for resources of the given nodes; open ones can be filtered
# by their deadline. NULL parameters match everything.
SELECT_REQUESTS = f"""select {COLUMNS} from share_requests
    where ($1::text is null or applicant_department = $1)
      and ($2::text[] is null or left(resource_code, 6) = any($2::text[]))
      and ($3::text is null or state = $3)
      and ($4::date is null or (state = 'submitted' and due_on < $4))
    order by id desc limit 500"""


@dataclass(frozen=True)
class ShareRequest:
    id: int
    applicant: str
    applicant_user: str
    resource: str
    provider: str
    items: list[str]
    purpose: str
    scenario: str
    users: list[str]
    share_modes: list[str]
    requested_until: date
    basis: str
    state: str
    revision: int
    submitted_at: datetime
    due_on: date | None
    remaining_days: int | None
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

    @classmethod
    def from_row(cls, r: Any) -> ShareRequest:
        scope = json.loads(r["row_scope"]) if isinstance(r["row_scope"], str) else r["row_scope"]
        return cls(r["id"], r["applicant_department"], r["applicant_user"], r["resource_code"], r["provider_code"],
                   list(r["items"]), r["purpose"], r["scenario"], list(r["users"]), list(r["share_modes"]),
                   r["requested_until"], r["basis"], r["state"], r["revision"], r["submitted_at"], r["due_on"],
                   r["remaining_days"], r["question"], r["answer"], r["decided_at"], r["decided_by"],
                   r["decision_reason"], r["decision_grounds"],
                   list(r["approved_items"]) if r["approved_items"] is not None else None, r["approved_until"],
                   scope.get("division_codes") if isinstance(scope, dict) else None, r["grant_id"])

    def overdue(self, today: date) -> bool:
        return self.state == "submitted" and self.due_on is not None and today > self.due_on

    @property
    def node(self) -> str:
        return domain_of_code(self.resource)


@dataclass(frozen=True)
class RequestEvent:
    at: datetime
    actor: str
    actor_department: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None


def _may_read(step: Step, request: ShareRequest) -> bool:
    return step.department == request.applicant or step.admin.authority.allows(Action.REQUEST_REVIEW, request.node)


async def read(step: Step, request_id: int) -> ShareRequest:
    rows = await step.admin.pools.fetch(step.admin.region_database, "requests.one", SELECT_REQUEST, request_id)
    if not rows or not _may_read(step, ShareRequest.from_row(rows[0])):
        raise NotFound(f"no share request {request_id}", field="id")
    return ShareRequest.from_row(rows[0])


async def events(step: Step, request: ShareRequest) -> list[RequestEvent]:
    rows = await step.admin.pools.fetch(step.admin.region_database, "requests.events", SELECT_EVENTS, request.id)
    return [RequestEvent(r["at"], r["actor"], r["actor_department"], r["action"], r["from_state"], r["to_state"],
                         r["note"]) for r in rows]


async def listed(step: Step, side: str, state: str | None, overdue: bool) -> list[ShareRequest]:
    """``side`` applicant: the caller's department's requests; provider: requests for resources of the
    nodes where the caller reviews requests. ``overdue``: open requests past their deadline."""
    today = china_date(step.now)
    if side == "applicant":
        department, nodes = step.department, None
    else:
        department = None
        topology = step.admin.pools.topology
        domains = step.admin.authority.domains(Action.REQUEST_REVIEW)
        if not domains:
            step.admin.authority.require(Action.REQUEST_REVIEW, domain_of_code(step.department))
        nodes = None if topology.region.code in domains else domains
    rows = await step.admin.pools.fetch(step.admin.region_database, "requests.list", SELECT_REQUESTS, department,
                                        nodes, state, today if overdue else None)
    return [ShareRequest.from_row(r) for r in rows]


