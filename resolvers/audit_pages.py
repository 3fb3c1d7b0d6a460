"""The audit trail as an auditor pages through it: keyset pages in commit order, with opaque cursors.

seq is drawn at insert and lanes commit independently (migration 0028), so seq is not commit order: a
record can become visible after one with a higher seq. Paging by seq therefore skips records (a record
committing late lands behind a newest-first reader's cursor; a follower that remembers the newest seq it
saw never sees it). Pages here are in (xact, seq) order, xact being the id of the transaction that
appended the record (migration 0031), and only *settled* records are read: those whose xact is below a
horizon read just before the page (HORIZON: the lowest id of an append still open, else the snapshot's
xmax), i.e. whose transaction, and every transaction that could still add a record before them, has ended. Every cursor handed out is a position below the horizon of the statement
that read it, and horizons only move forward, so:

- newest first: the records after a cursor (older ones) are all settled: they can no longer change, a
  later page neither skips nor repeats one;
- oldest first: every record that commits later sorts after every cursor handed out, so a follower that
  pages on from its last cursor gets it exactly once.

The price: a record becomes readable only once every append that started before it has ended (normally
milliseconds; an append left open holds new records back, never loses them). Other transactions on the
region's server do not count: a server-wide horizon (snapshot xmin) let any login there, such as a
department's database login (migration 0022), freeze the pages for everyone by idling with an id.

Cursors carry the order, the position and an HMAC with a key derived from the audit key, so a cursor
altered, made up, or used with the other order is refused as bad input, never run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg
import orjson

from govshare.core.errors import BadRequest, Forbidden
from govshare.federation.nodes import NodePools
from govshare.policies.authority import Action, Authority

from . import audit

MAX_RECORDS = 200
XACT_MAX = 2 ** 63 - 1  # xid8 is unsigned 64 bits; a transaction count past 2^63 is not a cursor of ours
_PREFIX = b"ga1:"
_MAC_BYTES = 16

COLUMNS = """seq, lane, lane_seq, hash, at, request_id, client_request_id, user_id, department, action, purpose,
    grant_ids, resource, items_returned, items_denied,
    array(select jsonb_array_elements_text(coalesce(detail -> 'denied_reasons', '[]'::jsonb))) as denied_reasons,
    row_count, nodes, outcome, xact::text as commit_xact"""
FILTERS = """($3::text[] is null or department = any($3::text[]))
      and ($4::text is null or resource = $4)
      and ($5::timestamptz is null or at >= $5)
      and ($6::timestamptz is null or at < $6)
      and ($7::text[] is null or outcome = any($7::text[]))
      and ($9::integer is null or lane = $9)"""
# The horizon ($10): a statement of its own, run (and finished) before the page. Its snapshot's xmax, or
# the lowest transaction id below that of an append still open: a transaction holding a ROW SHARE lock on
# audit_lanes, which audit_append_lane (0032) takes before its lane row's lock gives its transaction an id,
# and holds until commit, in a session whose login may append (may execute audit_append_lane through a role
# it is a member of: the service's logins, the owner's, a superuser's). The lock alone does not tell an
# append: PostgreSQL takes a FOR UPDATE table's ROW SHARE lock when it parses the statement and checks
# privileges only when it runs, so any login (a department's database login of 0022: CONNECT and nothing
# else) could PREPARE "select ... from audit_lanes for update" in a transaction holding an id, never run it,
# and idle, holding every new record back for as long as it liked (review-s6 finding 4). A login that may
# append can hold the horizon anyway (an append left open), so the check gives it nothing new.
# pg_locks and pg_stat_activity's pid and usesysid are readable by any login.
# Correct because an appender with an id below that xmax either held the lock when this statement read
# pg_locks (so it is in the min) or had ended before (a committed one's records are in the page's later
# snapshot). Reading the locks in the page's own statement would be wrong: an appender committing between
# that statement's snapshot and its read of pg_locks would be neither in the min nor visible, and the cursor
# would pass its records. pg_locks gives 32-bit xids: matched to the snapshot's running xid8s. Assumes an
# append's transaction has no id before it takes that lock (every caller appends in a statement of its own,
# as verify's xact check assumes too): one that wrote earlier in its transaction would not be covered.
#
# Positions are transaction ids plus the offset of audit_clock (0033), which the first append after the
# server started checks (a restore onto another server copies the old server's ids): the horizon gets the
# same offset. Until that first append has committed, no append can have written anything (they all wait
# for the clock's row), so every committed record is settled: the horizon is then just past the highest.
HORIZON = """select case when c.started = pg_postmaster_start_time()
        then least(pg_snapshot_xmax(s.snap), (
            select min(x.xid) from pg_snapshot_xip(s.snap) as x(xid)
                join pg_locks t on t.locktype = 'transactionid' and t.mode = 'ExclusiveLock' and t.granted
                    and t.transactionid = xid(x.xid)
                join pg_locks l on l.pid = t.pid and l.locktype = 'relation' and l.mode = 'RowShareLock'
                    and l.relation = 'public.audit_lanes'::regclass
                    and l.database = (select d.oid from pg_database d where d.datname = current_database())
                join pg_stat_activity a on a.pid = t.pid
            where exists (select from pg_roles r where pg_has_role(a.usesysid, r.oid, 'MEMBER')
                    and has_function_privilege(r.oid, 'public.audit_append_lane(integer, bigint, text, jsonb, bigint)'::regprocedure,
                                               'EXECUTE'))
            ))::text::numeric + c.xact_offset
        else coalesce((select a.xact::text::numeric from public.audit_log a order by a.xact desc, a.seq desc limit 1),
                      0) + 1 end::text as horizon
    from (select pg_current_snapshot() as snap) s, public.audit_clock c"""
class Order(Enum):
    NEWEST_FIRST = "N"
    OLDEST_FIRST = "O"


# A page's statement is picked by what is filtered on, so that each has a plan along an index in page
# order (a generic plan of "$3 is null or department = any($3)" can use no index for it): the commit order
# (xact, seq), or (department, xact, seq) / (resource, xact, seq) (0034) when those are given: a department
# reads its own pages (always filtered by it) in a trail of millions without reading the others'.
# Settled records only (see the module's docstring), except below a newest-first cursor: a cursor handed out
# is below the horizon of the page that gave it, and horizons only rise, so everything below it is settled
# (and "xact < horizon" would make the scan start at the newest end and walk down to the cursor).
# The text of xact is named apart: an output column named xact would be what ORDER BY xact sorts (as text:
# 999 > 1439). Every statement names every parameter ($1-$10, those it does not use as "is null").
OTHER_FILTERS = """($5::timestamptz is null or at >= $5)
      and ($6::timestamptz is null or at < $6)
      and ($7::text[] is null or outcome = any($7::text[]))
      and ($9::integer is null or lane = $9)"""


class Departments(Enum):
    ANY = "$3::text[] is null"
    ONE = "department = ($3::text[])[1]"
    SOME = "department = any($3::text[])"


def _page(order: Order, after: bool, departments: Departments, resource: bool) -> str:
    newest = order is Order.NEWEST_FIRST
    settled = "$10::text is null" if newest and after else "xact < $10::text::xid8"
    cursor = (f"(xact, seq) {'<' if newest else '>'} ($1::text::xid8, $2::bigint)" if after
              else "$1::text is null and $2::bigint is null")
    return f"""select {COLUMNS}
    from audit_log
    where {settled}
      and {cursor}
      and {departments.value}
      and {"resource = $4::text" if resource else "$4::text is null"}
      and {OTHER_FILTERS}
    order by {"xact desc, seq desc" if newest else "xact, seq"} limit $8"""


PAGES = {(order, after, departments, resource): _page(order, after, departments, resource)
         for order in Order for after in (False, True) for departments in Departments for resource in (False, True)}


def page_statement(order: Order, *, after: bool, departments: Sequence[str] | None, resource: bool) -> str:
    """The statement of a page (its parameters: cursor xact and seq, departments, resource, since, until,
    outcomes, limit, lane, horizon; the horizon null below a newest-first cursor)."""
    kind = Departments.ANY if not departments else Departments.ONE if len(departments) == 1 else Departments.SOME
    return PAGES[order, after, kind, resource]


SETTLED = "xact < $10::text::xid8"
# Deprecated (before/nextBefore): pages by seq below 'before' ($2; $1 unused, null), from the first page on,
# as before commit order existed; across lanes a page boundary can skip a record (one with a lower seq
# committing after the page that passed it). Settled records only all the same, so that each record's
# cursor (edges) is safe to hand out.
BY_SEQ = f"""select {COLUMNS}
    from audit_log
    where {SETTLED}
      and $1::text is null and ($2::bigint is null or seq < $2)
      and {FILTERS}
    order by seq desc limit $8"""


@dataclass(frozen=True)
class Position:
    """A record's place in commit order: the transaction that appended it, then its seq."""

    xact: int
    seq: int


@dataclass(frozen=True)
class Page:
    rows: list[asyncpg.Record]
    has_next: bool
    cursors: list[str]  # one per row: the position after it, in the page's order
    settled: bool  # whether the rows are a prefix of the order (False for the deprecated 'before' pages)


def _key(pools: NodePools) -> bytes:
    return hmac.new(audit.key(pools), b"govshare audit record cursors", hashlib.sha256).digest()


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(key: bytes, order: Order, position: Position) -> str:
    body = _PREFIX + orjson.dumps({"o": order.value, "x": position.xact, "s": position.seq})
    return base64.urlsafe_b64encode(body + _mac(key, body)).decode().rstrip("=")


def decode_cursor(key: bytes, order: Order, cursor: str) -> Position:
    """The position a cursor of ``order`` stands for; BadRequest for anything this API did not hand out."""
    refused = BadRequest(f"'after' is not a cursor auditRecords returned for order {order.name}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise refused from exc
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= len(_PREFIX) + _MAC_BYTES or not body.startswith(_PREFIX) \
            or not hmac.compare_digest(mac, _mac(key, body)):
        raise refused
    try:
        fields = orjson.loads(body.removeprefix(_PREFIX))
    except orjson.JSONDecodeError as exc:
        raise refused from exc
    # Signed by us, but checked all the same: a key shared with another deployment's release must not
    # reach the database with something it cannot take.
    if not (isinstance(fields, dict) and set(fields) == {"o", "x", "s"} and fields["o"] == order.value
            and all(type(fields[k]) is int for k in ("x", "s"))
            and 0 <= fields["x"] <= XACT_MAX and 0 < fields["s"] <= XACT_MAX):
        raise refused
    return Position(fields["x"], fields["s"])


async def audit_records(pools: NodePools, authority: Authority, request_id: str, user: str, department: str,
                        *, departments: Sequence[str] | None, resource: str | None, since: datetime | None,
                        until: datetime | None, outcomes: Sequence[str] | None, first: int,
                        after: str | None = None, order: Order = Order.NEWEST_FIRST, before: int | None = None,
                        lane: int | None = None, by_seq: bool = False) -> Page:
    """A page of audit records in commit order (see the module's docstring). audit.read in the region's
    domain reads every department's; anyone else only their own department's. Reading is itself audited
    (no record written, no records returned). ``by_seq`` (or ``before``): the deprecated pages by seq.

    Two statements: the horizon (HORIZON), then the page below it; below a newest-first cursor the page only."""
    if not 0 < first <= MAX_RECORDS:
        raise BadRequest(f"'first' must be between 1 and {MAX_RECORDS}")
    by_seq = by_seq or before is not None
    if by_seq and (after is not None or order is not Order.NEWEST_FIRST):
        raise BadRequest("'before' (deprecated, by seq) goes with neither 'after' nor order OLDEST_FIRST")
    if not authority.everywhere(Action.AUDIT_READ):
        if departments and set(departments) != {department}:
            raise Forbidden("only supervisors (audit.read in the region) read other departments' records",
                            action=Action.AUDIT_READ.value, domain=pools.topology.region.code,
                            requiredRoles=authority.model.roles_for(Action.AUDIT_READ))
        departments = [department]
    key = _key(pools)
    start = decode_cursor(key, order, after) if after is not None else None
    filters: tuple[Any, ...] = (list(departments) if departments else None, resource, since, until,
                                list(outcomes) if outcomes else None, first + 1, lane)
    region = pools.topology.region.database_node
    # Awaited to the end before the page's statement begins: that is what makes it correct (see HORIZON).
    # Below a newest-first cursor everything is settled already: no horizon (one statement).
    horizon = None if start is not None and order is Order.NEWEST_FIRST else \
        (await pools.fetch(region, "audit.records_horizon", HORIZON))[0]["horizon"]
    if by_seq:
        rows = await pools.fetch(region, "audit.records_by_seq", BY_SEQ, None, before, *filters, horizon)
    else:
        statement = page_statement(order, after=start is not None, departments=departments, resource=resource is not None)
        rows = await pools.fetch(region, "audit.records", statement,
                                 None if start is None else str(start.xact), None if start is None else start.seq,
                                 *filters, horizon)
    await audit.append(pools, audit.AuditRecord(
        request_id, user, department, "audit.read", None, resource or "audit_log",
        row_count=min(len(rows), first), outcome="ok"))
    page = list(rows[:first])
    return Page(page, len(rows) > first,
                [encode_cursor(key, order, Position(int(r["commit_xact"]), int(r["seq"]))) for r in page],
                not by_seq)
