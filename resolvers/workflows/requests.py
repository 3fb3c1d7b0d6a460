"""Share requests (申请共享) → grants, on the 10-working-day clock.

=====================  ====================================  ===========================================
step                   from → to                             who
=====================  ====================================  ===========================================
submit                 — → submitted (due in 10 working      any user (request.submit), for its own
                       days)                                 department
request information    submitted → info_requested (clock     sharing reviewer (request.review) of the
                       paused: working days left kept)       resource's node
answer                 info_requested → submitted (clock     the applicant department
                       resumes with the days left)
approve                submitted → approved |                sharing reviewer; creates the grant (the one
                       partially_approved                    grant validator, resolvers/validation.py) in
                                                             the same transaction
approve (institution   submitted → awaiting_region →         the provider's reviewer, then the region's
outside government)    approved | partially_approved         (a region reviewer approving first: both)
reject                 submitted | awaiting_region →         sharing reviewer (awaiting_region: the region's);
                       rejected                              reason and legal grounds
withdraw               submitted | info_requested →          the applicant department
                       withdrawn
=====================  ====================================  ===========================================

Only CONDITIONAL items are requested: UNCONDITIONAL ones need no request (``NO_REQUEST_NEEDED``) and
NOT_SHARED ones cannot be granted (``ITEM_NOT_SHARED``, citing the legal basis).

This module holds the transitions only; reading requests (and who may) is request_records.py, and
the grants a department holds, whatever made them, held_grants.py.
"""

from __future__ import annotations

import json
import re
from datetime import date

import asyncpg

from govshare.core.errors import BadRequest, Conflict, Forbidden, InvalidTransition, NotFound, RuleViolated
from govshare.policies.authority import Action, domain_of_code
from govshare.policies.workdays import china_date

from .. import grants as grant_store
from .. import validation
from ..administration import region_transaction
from .documents import SHARE_MODES
from .request_records import COLUMNS, SELECT_REQUEST, ShareRequest
from .steps import Step, audited

ANSWER_WORKING_DAYS = 10
MAX_USERS = 50
USER = re.compile(r"[^\x00]{1,200}")
OPEN_STATES = ("submitted", "info_requested")

INSERT_REQUEST = f"""insert into share_requests (applicant_department, applicant_user, resource_code, provider_code,
    items, purpose, scenario, users, share_modes, requested_until, basis, state, due_on)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'submitted', $12) returning {COLUMNS}"""
LOCK_REQUEST = SELECT_REQUEST + " for update"
UPDATE_REQUEST = f"""update share_requests set state = $2, revision = revision + 1, due_on = $3,
    remaining_days = $4, question = coalesce($5, question), answer = coalesce($6, answer),
    decided_at = case when $7 then clock_timestamp() else decided_at end, decided_by = coalesce($8, decided_by),
    decision_reason = $9, decision_grounds = $10, approved_items = $11, approved_until = $12,
    row_scope = $13::jsonb, grant_id = $14, updated_at = clock_timestamp() where id = $1 returning {COLUMNS}"""
INSERT_EVENT = """insert into share_request_events (request_id, actor, actor_department, action, from_state,
    to_state, note) values ($1, $2, $3, $4, $5, $6, $7)"""
SELECT_OFFERED_MODES = "select share_modes from resources where code = $1"
SET_REGION_DECISION = """update share_requests set region_decided_by = $2, region_decided_at = clock_timestamp()
    where id = $1"""


def _text(value: str | None, name: str, limit: int = 2000) -> str:
    text = " ".join((value or "").split())
    if not text or len(text) > limit or "\x00" in text:
        raise BadRequest(f"{name} is required: 1 to {limit} characters of text", field=name)
    return text


async def submit(step: Step, resource: str, items: list[str], purpose: str, scenario: str, users: list[str],
                 share_modes: list[str], until: date, basis: str) -> ShareRequest:
    step.admin.authority.require(Action.REQUEST_SUBMIT, domain_of_code(step.department))
    chosen_purpose = validation.purpose(purpose)
    why = _text(basis, "basis")
    what = _text(scenario, "scenario")
    named = [" ".join(u.split()) for u in users]
    if not named or len(named) > MAX_USERS or not all(USER.fullmatch(u) for u in named):
        raise BadRequest(f"users: 1 to {MAX_USERS} named users or systems", field="users")
    modes = list(dict.fromkeys(share_modes))
    if not modes or any(m not in SHARE_MODES for m in modes):
        raise BadRequest(f"shareModes: one or more of {', '.join(SHARE_MODES)}", field="shareModes",
                         accepted=list(SHARE_MODES))
    validation.validity(None, until, step.now)
    found = await validation.resource(step.admin.pools, resource)
    if found.status != "published":
        raise BadRequest(f"resource {found.code} is {found.status}: requests only for published resources",
                         field="resource")
    names = sorted(set(items))
    if not names or len(names) > validation.MAX_ITEMS:
        raise BadRequest(f"items: 1 to {validation.MAX_ITEMS} item names", field="items")
    for name in names:
        known = validation.item(found, name, "items")
        if known.share_class == "NOT_SHARED":
            raise RuleViolated(f"item {name} is not shared: {known.legal_basis}", "ITEM_NOT_SHARED", item=name,
                               legalBasis=known.legal_basis)
        if known.share_class == "UNCONDITIONAL":
            raise RuleViolated(f"item {name} is UNCONDITIONAL: every department may read it without a request",
                               "NO_REQUEST_NEEDED", item=name)
    database = step.admin.pools.topology.node(found.node).database_node
    offered = await step.admin.pools.fetch(database, "requests.modes", SELECT_OFFERED_MODES, found.code)
    not_offered = [m for m in modes if m not in (offered[0]["share_modes"] if offered else [])]
    if not_offered:
        raise BadRequest(f"resource {found.code} does not offer {', '.join(not_offered)}", field="shareModes",
                         accepted=list(offered[0]["share_modes"]) if offered else [])
    due = step.calendar.due(step.now, ANSWER_WORKING_DAYS)
    async with region_transaction(step.admin) as conn:
        row = await conn.fetchrow(INSERT_REQUEST, step.department, step.user, found.code, found.provider, names,
                                  chosen_purpose, what, named, modes, until, why, due)
        request = ShareRequest.from_row(row)
        await _event(step, conn, request.id, "submit", None, "submitted", f"due {due.isoformat()}")
    return request


async def _event(step: Step, conn: asyncpg.Connection, request_id: int, action: str, from_state: str | None,
                 to_state: str, note: str | None) -> None:
    await conn.execute(INSERT_EVENT, request_id, step.user, step.department, action, from_state, to_state, note)
    await audited(step, f"request.{action}", f"share request {request_id}", f"{from_state} -> {to_state}"
                  + (f": {note}" if note else ""))


async def _locked(conn: asyncpg.Connection, request_id: int, revision: int) -> ShareRequest:
    row = await conn.fetchrow(LOCK_REQUEST, request_id)
    if row is None:
        raise NotFound(f"no share request {request_id}", field="id")
    request = ShareRequest.from_row(row)
    if request.revision != revision:
        raise Conflict(f"share request {request_id} is at revision {request.revision}, not {revision}: read it "
                       "again", current=request.revision, read=revision)
    return request


def _allowed(request: ShareRequest, step_name: str, *states: str) -> None:
    if request.state not in states:
        raise InvalidTransition(f"{step_name} needs a request in state {' or '.join(states)}; request "
                                f"{request.id} is {request.state}", state=request.state, allowed=list(states))


def _applicant(step: Step, request: ShareRequest) -> None:
    if step.department != request.applicant:
        raise Forbidden(f"only the applicant department {request.applicant} may do this",
                        action=Action.REQUEST_SUBMIT.value, department=request.applicant)


async def _update(step: Step, conn: asyncpg.Connection, before: ShareRequest, action: str, state: str, *,
                  due: date | None, remaining: int | None, question: str | None = None, answer: str | None = None,
                  decided: bool = False, reason: str | None = None, grounds: str | None = None,
                  approved: list[str] | None = None, until: date | None = None, divisions: list[str] | None = None,
                  grant_id: int | None = None, note: str | None = None) -> ShareRequest:
    scope = json.dumps({"division_codes": divisions}) if divisions is not None else None
    row = await conn.fetchrow(UPDATE_REQUEST, before.id, state, due, remaining, question, answer, decided,
                              step.user if decided else None, reason, grounds, approved, until, scope, grant_id)
    await _event(step, conn, before.id, action, before.state, state, note)
    return ShareRequest.from_row(row)


async def ask_information(step: Step, request_id: int, revision: int, question: str) -> ShareRequest:
    text = _text(question, "question")
    async with region_transaction(step.admin) as conn:
        request = await _locked(conn, request_id, revision)
        step.admin.authority.require(Action.REQUEST_REVIEW, request.node)
        _allowed(request, "asking for information", "submitted")
        today = china_date(step.now)
        remaining = step.calendar.between(today, request.due_on) if request.due_on else 0
        return await _update(step, conn, request, "ask_information", "info_requested", due=None,
                             remaining=remaining, question=text, note=f"{text} (clock paused, {remaining} working "
                                                                      "days left)")


async def answer(step: Step, request_id: int, revision: int, text: str) -> ShareRequest:
    reply = _text(text, "answer")
    async with region_transaction(step.admin) as conn:
        request = await _locked(conn, request_id, revision)
        _applicant(step, request)
        _allowed(request, "answering", "info_requested")
        due = step.calendar.add(china_date(step.now), request.remaining_days or 0)
        return await _update(step, conn, request, "answer", "submitted", due=due, remaining=None, answer=reply,
                             note=f"clock resumed, due {due.isoformat()}")


async def withdraw(step: Step, request_id: int, revision: int) -> ShareRequest:
    async with region_transaction(step.admin) as conn:
        request = await _locked(conn, request_id, revision)
        _applicant(step, request)
        _allowed(request, "withdrawing", *OPEN_STATES)
        return await _update(step, conn, request, "withdraw", "withdrawn", due=None, remaining=None)


async def reject(step: Step, request_id: int, revision: int, reason: str, grounds: str) -> ShareRequest:
    why = _text(reason, "reason")
    law = _text(grounds, "grounds")
    async with region_transaction(step.admin) as conn:
        request = await _locked(conn, request_id, revision)
        # Awaiting the region: only the region's sharing authority decides now.
        step.admin.authority.require(Action.REQUEST_REVIEW, step.admin.authority.region
                                     if request.state == "awaiting_region" else request.node)
        _allowed(request, "rejecting", "submitted", "awaiting_region")
        return await _update(step, conn, request, "reject", "rejected", due=request.due_on, remaining=None,
                             decided=True, reason=why, grounds=law, note=f"{why} ({law})")


async def approve(step: Step, request_id: int, revision: int, items: list[str] | None, until: date | None,
                  divisions: list[str] | None, opinion: str | None) -> ShareRequest:
    """The provider's reviewer approves; for an institution outside government the grant also needs the
    region's sharing authority (seed §2.2): a reviewer without it leaves the request awaiting_region, and a
    region reviewer's approval then creates the grant. A region reviewer approving first gives both."""
    async with region_transaction(step.admin) as conn:
        request = await _locked(conn, request_id, revision)
        region = step.admin.authority.region
        from_region_step = request.state == "awaiting_region"
        if from_region_step:
            step.admin.authority.require(Action.REQUEST_REVIEW, region)
            offered = request.approved_items or request.items
            ceiling = request.approved_until or request.requested_until
            divisions = divisions if divisions is not None else request.divisions
        else:
            step.admin.authority.require(Action.REQUEST_REVIEW, request.node)
            _allowed(request, "approving", "submitted")
            offered, ceiling = request.items, request.requested_until
        chosen = sorted(set(items)) if items is not None else offered
        extra = [i for i in chosen if i not in offered]
        if not chosen or extra:
            raise BadRequest(f"approve some or all of the requested items ({', '.join(offered)})",
                             field="items", accepted=offered)
        if until is not None and until > ceiling:
            raise BadRequest(f"the validity may be shortened, not extended beyond {ceiling}", field="until")
        # A day the reviewer typed is checked as typed (validity() refuses it past the latest day, naming
        # that day); the requested day taken as it is is clipped to the latest day, and the approval says so.
        last = until if until is not None else validation.clipped_until(ceiling, step.now)
        clipping = (f"validity clipped to {last} (requested until {ceiling}): a grant lasts at most "
                    f"{validation.MAX_VALIDITY_YEARS} years from its approval" if last < ceiling and until is None
                    else None)
        # The one grant validator (also used by grant create and the CLI), then the grant itself, in this
        # transaction: the approval and its grant commit together.
        checked = await validation.grant(step.admin.pools, validation.GrantInput(
            request.applicant, request.resource, chosen, request.purpose, last, None, divisions,
            tuple(request.share_modes)), step.now)
        note = "; ".join(part for part in (" ".join((opinion or "").split()), clipping) if part) or None
        if checked.sector == "institution" and not step.admin.authority.allows(Action.GRANT_WRITE, region):
            step.admin.authority.require(Action.GRANT_WRITE, request.node)
            return await _update(step, conn, request, "approve", "awaiting_region", due=request.due_on,
                                 remaining=None, decided=True, reason=note, approved=chosen, until=last,
                                 divisions=checked.divisions,
                                 note="approved by the provider; an institution outside government also needs the "
                                      f"region's sharing authority ({region})" + (f": {note}" if note else ""))
        approver = validation.authorise(step.admin.authority, checked, Action.GRANT_WRITE)
        created, _ = await grant_store.insert(
            step.admin, conn, checked, f"share request {request.id} approved" + (f": {note}" if note else ""),
            request_id=request.id, region_approver=approver)
        state = "approved" if chosen == sorted(request.items) else "partially_approved"
        if from_region_step:
            await conn.execute(SET_REGION_DECISION, request.id, step.user)
        return await _update(step, conn, request, "approve", state, due=request.due_on, remaining=None,
                             decided=not from_region_step,
                             reason=request.decision_reason if from_region_step else note, approved=chosen,
                             until=last, divisions=checked.divisions, grant_id=created.id,
                             note=f"grant {created.id}" + (f": {note}" if note else ""))
