"""auditRecords as an auditor pages through it: in commit order while two lanes append, with cursors that
cannot be forged, for whom it may; laneSeq past 32 bits."""

from __future__ import annotations

import asyncio
import base64
import itertools
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from govshare.migrations.runner import discover
from govshare.resolvers import audit, audit_pages, audit_verdicts
from govshare.server.postgres import LocalPostgres

from ..admin_helpers import as_user
from ..audit_databases import KEY, REGION, as_json, fresh_region, keyed_rows
from ..conftest import DATABASE, Cluster
from ..helpers import gql
from .conftest import Spy

GLASS_OFF = "alter table audit_log disable trigger audit_log_append_only"
GLASS_ON = "alter table audit_log enable trigger audit_log_append_only"
SUPERVISOR = as_user("supervisor.region")


async def test_a_seq_and_lane_seq_past_32_bits_are_read_exactly(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """seq and lane_seq are bigints: as GraphQL Ints (32 bits) a trail past 2^31 records failed the whole field
    (laneSeq since the previous release, seq, nextBefore and before now: BigInt, a string of digits)."""
    lane, lane_seq, seq = 33, 2 ** 53 + 1, 2 ** 53 + 3  # past 2^31, and past what JavaScript keeps exactly
    conn = await cluster.connect("650000")
    try:
        # the owner may insert (append-only refuses only UPDATE, DELETE, TRUNCATE); verify would call it forged
        await conn.execute(
            "insert into audit_log (seq, lane, lane_seq, request_id, user_id, department, action, resource, outcome, "
            "prev_hash, hash, algorithm) values ($1, $2, $3, 'bigint-lane', 'test', '650000-ZW', 'read', 'audit_log', "
            "'ok', $4, $5, 'hmac-sha256')", seq, lane, lane_seq, "0" * 64, "a" * 64)
        try:
            body, _ = await gql(client, "query($lane: Int) { auditRecords(first: 5, lane: $lane) { "
                                        "records { seq lane laneSeq } } }", {"lane": lane}, **SUPERVISOR)
            # the deprecated pages by seq: the highest seq on top, nextBefore and before past 2^31 as well
            by_seq, _ = await gql(client, "query($before: BigInt) { auditRecords(first: 1, before: $before) { "
                                          "records { seq } nextBefore } }", {"before": str(seq + 1)}, **SUPERVISOR)
        finally:
            async with conn.transaction():
                await conn.execute(GLASS_OFF)
                await conn.execute("delete from audit_log where seq = $1", seq)
                await conn.execute(GLASS_ON)
    finally:
        await conn.close()
    assert "errors" not in body, body
    # the newest record of the lane (another test may have written the lane before)
    assert body["data"]["auditRecords"]["records"][0] == {"seq": str(seq), "lane": lane, "laneSeq": str(lane_seq)}
    assert "errors" not in by_seq, by_seq
    assert by_seq["data"]["auditRecords"] == {"records": [{"seq": str(seq)}], "nextBefore": str(seq)}


PAGE = """query($first: Int, $after: String, $order: AuditOrder, $resource: String, $outcomes: [String!],
  $departments: [String!], $lane: Int) {
  auditRecords(first: $first, after: $after, order: $order, resource: $resource, outcomes: $outcomes,
               departments: $departments, lane: $lane) {
    edges { cursor node { seq lane laneSeq department action resource outcome } }
    pageInfo { hasNextPage endCursor } } }"""


async def _page(client: httpx.AsyncClient, headers: dict[str, str] | None = None,
                **variables: Any) -> dict[str, Any]:
    body, _ = await gql(client, PAGE, variables, **(headers or SUPERVISOR))
    assert "errors" not in body, body
    return body["data"]["auditRecords"]  # type: ignore[no-any-return]


async def _all(client: httpx.AsyncClient, after: str | None = None, **variables: Any) -> tuple[list[int], str | None]:
    """Every page from ``after`` on (seqs in page order) and the last endCursor (``after`` if none)."""
    seqs: list[int] = []
    while True:
        page = await _page(client, after=after, **variables)
        seqs += [int(e["node"]["seq"]) for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] or after
        if not page["pageInfo"]["hasNextPage"]:
            return seqs, after


async def _commit_order(conn: asyncpg.Connection, resource: str, outcome: str) -> list[int]:
    return [r["seq"] for r in await conn.fetch(
        "select seq from audit_log where resource = $1 and outcome = $2 order by xact, seq", resource, outcome)]


async def _lanes(cluster: Cluster, seqs: list[int]) -> list[int]:
    conn = await cluster.connect("650000")
    try:
        lane = {r["seq"]: r["lane"] for r in await conn.fetch("select seq, lane from audit_log where seq = any($1::bigint[])",
                                                              seqs)}
    finally:
        await conn.close()
    return [lane[s] for s in seqs]


async def _append_open(conn: asyncpg.Connection, lane: int, tag: str, resource: str) -> int:
    """Append one record to ``lane`` in the connection's open transaction (as audit_append_lane does); its seq."""
    head = await conn.fetchrow("select seq, hash from audit_head($1::integer)", lane)
    rec = audit.AuditRecord(tag, "pages-test", "650000-ZW", "read", None, resource, outcome="pages")
    rows = keyed_rows(lane, head["seq"], head["hash"], [rec])
    out = await conn.fetchrow("select appended, seqs from audit_append_lane($1, $2, $3, $4::jsonb, null)",
                              lane, head["seq"], head["hash"], as_json(rows))
    assert out["appended"]
    return int(out["seqs"][0])


async def test_a_record_committed_after_a_higher_seq_is_neither_skipped_nor_repeated(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Lane 36 draws a seq and commits late; lane 37 draws a higher one and commits first. Paged by seq, the
    late one fell behind a newest-first reader's cursor for good, and a follower that kept the newest seq never
    saw it. In commit order: the newest-first pages started before it never include it (it is newer than
    they are), a fresh first page does, and the follower gets it exactly once, in the order of commits."""
    resource = f"pages-{uuid.uuid4().hex[:12]}"
    service = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    other = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        first = await _append_open(service, 36, "first", resource)  # autocommit: settled at once
        follower, cursor = await _all(client, order="OLDEST_FIRST", resource=resource, outcomes=["pages"], first=1)
        assert follower == [first]
        late = service.transaction()
        await late.start()
        low = await _append_open(service, 36, "late", resource)
        high = await _append_open(other, 37, "early", resource)  # committed before the lower seq
        assert low < high
        newest = await _page(client, resource=resource, outcomes=["pages"], first=1)
        # not settled while an older transaction is open: not shown yet (by seq it was on top)
        assert [int(e["node"]["seq"]) for e in newest["edges"]] == [first]
        assert await _all(client, cursor, order="OLDEST_FIRST", resource=resource, outcomes=["pages"]) == ([], cursor)
        await late.commit()
        seqs, cursor = await _all(client, cursor, order="OLDEST_FIRST", resource=resource, outcomes=["pages"], first=1)
        assert seqs == [low, high]  # commit order of their transactions: the lower seq's began first
        assert await _all(client, cursor, order="OLDEST_FIRST", resource=resource, outcomes=["pages"]) == ([], cursor)
        # a newest-first reader that started before goes on below its cursor: nothing new enters there
        assert (await _all(client, newest["pageInfo"]["endCursor"], resource=resource, outcomes=["pages"]))[0] == []
        assert (await _all(client, resource=resource, outcomes=["pages"], first=2))[0] == [high, low, first]
    finally:
        await service.close()
        await other.close()


@pytest.mark.parametrize("order", ["NEWEST_FIRST", "OLDEST_FIRST"])
async def test_pages_while_two_lanes_append_concurrently(client: httpx.AsyncClient, cluster: Cluster,
                                                        order: str) -> None:
    """Two lanes append 120 records each concurrently (their seqs interleave and commit out of seq order) while
    a reader pages 7 at a time: no record twice, none skipped. Oldest first the reader follows to the end
    and, once the writers are done, has read each of them once in commit order; newest first it reads
    exactly the records that were settled when its first page was read."""
    resource = f"pages-{uuid.uuid4().hex[:12]}"
    pools = client.app.state.pools  # type: ignore[attr-defined]
    trails = [audit.AuditTrail(pools, KEY, lane) for lane in (38, 39)]
    started, done = asyncio.Event(), asyncio.Event()

    async def write(trail: audit.AuditTrail) -> None:
        for n in range(120):
            await trail.append(audit.AuditRecord(f"{resource}-{trail.lane}-{n}", "pages-test", "650000-ZW", "read",
                                                 None, resource, outcome="pages"))
            if n == 20:
                started.set()

    async def writers() -> None:
        await asyncio.gather(*(write(t) for t in trails))
        done.set()

    writing = asyncio.create_task(writers())
    if order == "NEWEST_FIRST":  # something to page down through while they go on
        await started.wait()
    read: list[int] = []
    after: str | None = None
    top: int | None = None
    pages = 0
    while True:
        finished = done.is_set()  # before the read: then it reads what they wrote, once settled
        page = await _page(client, first=7, after=after, order=order, resource=resource, outcomes=["pages"])
        pages += 1
        read += [int(e["node"]["seq"]) for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] or after
        if pages == 1 and page["edges"]:
            top = int(page["edges"][0]["node"]["seq"])
        if not page["pageInfo"]["hasNextPage"] and (order == "NEWEST_FIRST" or (finished and len(read) >= 240)):
            break
        assert pages < 1000, f"{len(read)} of 240 records read: some were skipped"
        await asyncio.sleep(0)
    await writing
    conn = await cluster.connect("650000")
    try:
        truth = await _commit_order(conn, resource, "pages")
    finally:
        await conn.close()
    assert len(truth) == 240 and len(set(read)) == len(read), "a record read twice"
    lanes = [lane for _, lane in sorted(zip(truth, await _lanes(cluster, truth), strict=True))]
    assert sum(a != b for a, b in itertools.pairwise(lanes)) > 2, "the two lanes' seqs interleave"
    if order == "OLDEST_FIRST":
        assert read == truth
        assert pages > 240 // 7  # it did page while they appended
    else:
        assert top is not None and read == truth[:truth.index(top) + 1][::-1]
        assert 0 < len(read) < 240  # it began while they appended


async def test_filters_keep_working_with_the_cursor(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Filters (resource, outcomes, departments, lane) page on from a cursor, both orders, as one read would."""
    resource = f"pages-{uuid.uuid4().hex[:12]}"
    pools = client.app.state.pools  # type: ignore[attr-defined]
    for lane in (40, 41):
        trail = audit.AuditTrail(pools, KEY, lane)
        for n in range(6):
            await trail.append(audit.AuditRecord(f"{resource}-{lane}-{n}", "pages-test",
                                                 ("650000-ZW", "650100-MZ")[n % 2], "read", None, resource,
                                                 outcome=("pages-a", "pages-b", "pages-a")[n % 3]))
    conn = await cluster.connect("650000")
    try:
        truth = [dict(r) for r in await conn.fetch(
            "select seq, lane, department, outcome from audit_log where resource = $1 order by xact, seq", resource)]
    finally:
        await conn.close()
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"outcomes": ["pages-a"]}, lambda r: r["outcome"] == "pages-a"),
        ({"outcomes": ["pages-a", "pages-b"], "lane": 41}, lambda r: r["lane"] == 41),
        ({"outcomes": ["pages-b"], "departments": ["650100-MZ"]},
         lambda r: r["outcome"] == "pages-b" and r["department"] == "650100-MZ"),
        ({"departments": ["650100-MZ", "650000-ZW"], "outcomes": ["pages-a"]}, lambda r: r["outcome"] == "pages-a"),
    ]
    for variables, wanted in cases:
        expected = [r["seq"] for r in truth if wanted(r)]
        assert expected, variables
        for order, ordered in (("OLDEST_FIRST", expected), ("NEWEST_FIRST", expected[::-1])):
            seqs, _ = await _all(client, first=2, order=order, resource=resource, **variables)
            assert seqs == ordered, (variables, order)


@pytest.mark.parametrize("cursor", [
    "not-a-cursor", "", "@@@", "Z2ExOnt9", base64.urlsafe_b64encode(b"ga1:" + b"x" * 40).decode(),
])
async def test_a_malformed_cursor_is_bad_input(client: httpx.AsyncClient, cursor: str) -> None:
    body, _ = await gql(client, PAGE, {"after": cursor}, **SUPERVISOR)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "errorId" not in error["extensions"] and "Traceback" not in str(body)


async def test_a_tampered_cursor_or_one_of_the_other_order_is_bad_input(client: httpx.AsyncClient) -> None:
    page = await _page(client, first=2)
    cursor = page["pageInfo"]["endCursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    body, mac = raw[:-16], raw[-16:]
    fields = orjson.loads(body.removeprefix(b"ga1:"))
    variants = [
        b"ga1:" + orjson.dumps({**fields, "s": fields["s"] + 1}) + mac,  # moved: the MAC no longer fits
        b"ga1:" + orjson.dumps({**fields, "x": -1}) + mac,
        body + bytes(16),
        raw[:-1],
    ]
    for variant in variants:
        forged = base64.urlsafe_b64encode(variant).decode().rstrip("=")
        answer, _ = await gql(client, PAGE, {"after": forged}, **SUPERVISOR)
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    answer, _ = await gql(client, PAGE, {"after": cursor, "order": "OLDEST_FIRST"}, **SUPERVISOR)
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
    # and the cursor as it was works
    assert "errors" not in (await gql(client, PAGE, {"after": cursor}, **SUPERVISOR))[0]


@pytest.mark.parametrize("first", [0, -1, 201])
async def test_first_is_capped(client: httpx.AsyncClient, first: int) -> None:
    body, _ = await gql(client, PAGE, {"first": first}, **SUPERVISOR)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_who_may_page_through_whose_records(client: httpx.AsyncClient) -> None:
    """Supervisors (audit.read in the region) page through every department's records; anyone else only
    their own department's, a cursor from a supervisor's page included; no caller, no records."""
    await gql(client, "{ legalEntities(first: 1) { edges { node { name } } } }", **as_user("developer.urumqi"))
    supervised = await _page(client, first=5, departments=["650100-MZ"])  # another department's
    assert supervised["edges"] and {e["node"]["department"] for e in supervised["edges"]} == {"650100-MZ"}
    cursor = (await _page(client, first=1))["pageInfo"]["endCursor"]
    for user, department in (("developer.urumqi", "650100-MZ"), ("admin.region", "650000-ZW"),
                             ("reviewer.region", "650000-GA")):
        own = await _page(client, as_user(user), first=50, after=cursor)
        assert {e["node"]["department"] for e in own["edges"]} <= {department}, user
        refused, _ = await gql(client, PAGE, {"departments": ["650000-ZW", "650100-MZ"], "after": cursor},
                               **as_user(user))
        assert refused["data"]["auditRecords"] is None
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    anonymous, response = await gql(client, PAGE, {"first": 1}, Authorization="")
    assert not (anonymous.get("data") or {}).get("auditRecords"), anonymous
    assert response.status_code == 401 or anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", anonymous


@pytest.mark.parametrize("order", list(audit_pages.Order))
@pytest.mark.parametrize("cursor", [None, ("1", 1)])
@pytest.mark.parametrize(("departments", "resource", "index"), [
    (None, None, "audit_log_commit_order"), (["650000-ZW"], None, "audit_log_department_order"),
    (None, "650000-B01-000001", "audit_log_resource_order")])
async def test_a_page_is_read_along_an_index_in_page_order(cluster: Cluster, order: audit_pages.Order,
                                                           cursor: tuple[str, int] | None, departments: list[str] | None,
                                                           resource: str | None, index: str) -> None:
    """A page can read the first+1 records along an index in page order from its cursor, never sorting the
    trail (which a sort by anything else, e.g. xact as text, would: 999 after 1439): (xact, seq), or for a
    department's page (every non-supervisor's) or a resource's, that one's index, in generic plans too. The
    session's small trail would be read whole (a sequential scan is cheaper there), so that is ruled out
    here; the plans at a realistic size: test_pages_deep_in_a_large_trail_and_a_departments_own_stay_fast."""
    statement = audit_pages.page_statement(order, after=cursor is not None, departments=departments,
                                           resource=resource is not None)
    horizon = None if cursor is not None and order is audit_pages.Order.NEWEST_FIRST else "9000000000"
    conn = await cluster.connect("650000")
    try:
        await conn.execute("set enable_seqscan = off")
        await conn.execute("set enable_bitmapscan = off")
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"set plan_cache_mode = {mode}")
            plan = orjson.dumps(await conn.fetchval(f"explain (format json) {statement}", *(cursor or (None, None)),
                                                    departments, resource, None, None, None, 51, None, horizon))
            assert index.encode() in plan and b'"Sort"' not in plan, (mode, plan)
    finally:
        await conn.close()


async def test_a_newest_first_page_below_a_cursor_is_one_statement(client: httpx.AsyncClient, spy: Spy) -> None:
    """Below a newest-first cursor every record is settled (the cursor is below its page's horizon, and
    horizons only rise): no horizon to read, and the scan starts at the cursor, not at the newest end."""
    page = await _page(client, first=3)
    await _page(client, first=3, after=page["pageInfo"]["endCursor"])
    assert [n for n in spy.names() if n.startswith("audit.records")] == [
        "audit.records_horizon", "audit.records", "audit.records"]


async def test_a_page_is_two_statements_and_a_bad_cursor_none(client: httpx.AsyncClient, spy: Spy) -> None:
    page = await _page(client, first=3, order="OLDEST_FIRST")
    await _page(client, first=3, order="OLDEST_FIRST", after=page["pageInfo"]["endCursor"])
    # two reads per page, beside the trail's own statements (its head, the append of each audit.read record):
    # the horizon (the appenders still open, from pg_locks), which must have ended before the page's own
    # statement takes its snapshot (see audit_pages.HORIZON), then the page
    reads = {"audit.records_horizon", "audit.records"}
    assert [n for n in spy.names() if not n.startswith("audit.") or n in reads] \
        == ["audit.records_horizon", "audit.records"] * 2
    assert set(spy.names()) <= reads | {"audit.head", "audit.append"}, spy.names()
    seen = len(spy.names())
    body, _ = await gql(client, PAGE, {"after": page["pageInfo"]["endCursor"][:-2]}, **SUPERVISOR)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(spy.names()) == seen  # refused before any SQL (and so not audited as a read)


async def test_a_database_access_login_cannot_hold_new_records_back(client: httpx.AsyncClient,
                                                                    cluster: Cluster) -> None:
    """Migration 0022 gives a consuming department a login on the region's server. Such a login (attributes as
    0022 creates it) opens a transaction, takes a transaction id (pg_current_xact_id is PUBLIC), takes the
    lane lock of before 0032 (advisory, class 7309173: any login may) of the very lane the service appends to,
    tries the lane's row and the lanes table, then idles: the service's append goes through at once, and the
    record is in the next page all the same. Only the appenders' open transactions hold the horizon
    (review-auditpage finding 1); no other login can stall a lane."""
    resource = f"pages-{uuid.uuid4().hex[:12]}"
    role, password = f"govshare_x_650000_{uuid.uuid4().int % 10 ** 9}", "pages-test-pass-1"
    owner = await cluster.connect("650000")
    service = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    await owner.execute(f"create role {role} with login nosuperuser nocreatedb nocreaterole noinherit "
                        f"noreplication nobypassrls connection limit 5 password '{password}'")
    consumer: asyncpg.Connection | None = None
    try:
        await owner.execute(f"grant connect on database {DATABASE} to {role}")
        consumer = await asyncpg.connect(cluster.dsn("650000"), user=role, password=password)
        hold = consumer.transaction()  # read-write: a read-only one is refused FOR UPDATE before any privilege check
        await hold.start()
        await consumer.fetchval("select pg_current_xact_id()")  # nothing written, nothing privileged
        await consumer.execute("select pg_advisory_xact_lock(7309173, 40)")  # the lane's lock before 0032
        for attempt in ("select lane from audit_lanes where lane = 40 for update",
                        "select lane from audit_lanes where lane = 40 for key share",
                        "lock table audit_lanes in row share mode"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with consumer.transaction():  # a savepoint: the refusal must not end the held transaction
                    await consumer.execute(attempt)
        async with asyncio.timeout(5):  # before 0032 it waited for the consumer's lock as long as it idled
            appended = await _append_open(service, 40, "read-while-a-login-idles", resource)
        newest = await _page(client, resource=resource, outcomes=["pages"], first=5)
        assert [int(e["node"]["seq"]) for e in newest["edges"]] == [appended], "kept back by a consumer's login"
        await hold.rollback()
    finally:
        if consumer is not None:
            await consumer.close()
        await owner.execute(f"revoke connect on database {DATABASE} from {role}")
        await owner.execute(f"drop role {role}")
        await owner.close()
        await service.close()


async def test_a_login_with_no_privilege_cannot_hold_new_audit_records_back(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """review-s6 finding 4 (its probe, test_s6_a_login_with_no_privilege_cannot_hold_new_audit_records_back):
    PostgreSQL takes a FOR UPDATE table's RowShareLock at parse analysis and checks privileges only when the
    statement executes, so ``PREPARE s AS SELECT 1 FROM audit_lanes FOR UPDATE`` by a login with no privilege
    at all (as 0022 creates them for consuming departments) holds that lock, never executed, to the end of its
    transaction. With an xid taken as well, it looked like an open append to auditRecords' horizon and held
    every record appended after it back, for as long as the login idled. Only the sessions of logins that may
    append count: the appended record is in the next page."""
    resource = f"s6-{uuid.uuid4().hex[:12]}"
    role, password = f"govshare_x_650000_{uuid.uuid4().int % 10 ** 9}", "s6-test-pass-1"
    owner = await cluster.connect("650000")
    service = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    await owner.execute(f"create role {role} with login nosuperuser nocreatedb nocreaterole noinherit "
                        f"noreplication nobypassrls connection limit 5 password '{password}'")
    consumer: asyncpg.Connection | None = None
    try:
        await owner.execute(f"grant connect on database {DATABASE} to {role}")
        consumer = await asyncpg.connect(cluster.dsn("650000"), user=role, password=password)
        hold = consumer.transaction()
        await hold.start()
        await consumer.fetchval("select pg_current_xact_id()")
        await consumer.execute("prepare s6_hold as select 1 from public.audit_lanes for update")
        held = await owner.fetchval(
            "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid where a.usename = $1 "
            "and l.relation = 'public.audit_lanes'::regclass and l.mode = 'RowShareLock'", role)
        assert held == 1, "the login's PREPARE no longer holds the lock: this test no longer tests the horizon"
        async with asyncio.timeout(5):
            appended = await _append_open(service, 41, "read-while-a-login-prepares", resource)
        newest = await _page(client, resource=resource, outcomes=["pages"], first=5)
        await hold.rollback()
    finally:
        if consumer is not None:
            await consumer.close()
        await owner.execute(f"revoke connect on database {DATABASE} from {role}")
        await owner.execute(f"drop role {role}")
        await owner.close()
        await service.close()
    assert [int(e["node"]["seq"]) for e in newest["edges"]] == [appended], \
        f"held back by a login with no privilege (its RowShareLocks on audit_lanes: {held})"


async def test_the_service_role_cannot_hold_a_lane_outside_an_append(cluster: Cluster) -> None:
    """The service's own logins lock a lane's row only inside audit_append_lane (as the owner): no write on
    audit_lanes, so no session of theirs holds a lane (or the pages' horizon) outside an append."""
    service = await asyncpg.connect(cluster.service_topology.node("650000").dsn or "")
    try:
        for attempt in ("select lane from audit_lanes where lane = 40 for update",
                        "lock table audit_lanes in row share mode",
                        "update audit_lanes set lane = lane where lane = 40"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with service.transaction():
                    await service.execute(attempt)
        assert await service.fetchval("select count(*) from audit_lanes") == 64
    finally:
        await service.close()


OLD_CLIENT = """query($before: BigInt, $resource: String) {
  auditRecords(first: 2, before: $before, resource: $resource, outcomes: ["pages"]) {
    records { seq } hasNextPage nextBefore } }"""


async def test_a_client_of_the_deprecated_next_before_gets_every_record(client: httpx.AsyncClient,
                                                                        cluster: Cluster) -> None:
    """A client of the deprecated before/nextBefore asks its first page without 'before'. It is paged by seq
    throughout, as before commit order existed: with two lanes' transactions interleaving (seqs 1 3 in one, 2 4
    in the other, the second committing last) a first page in commit order [4, 2] with nextBefore 2 skipped 3
    (review-auditpage finding 4)."""
    resource = f"pages-{uuid.uuid4().hex[:12]}"
    dsn = cluster.service_topology.node("650000").dsn or ""
    one, two = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        first, second = one.transaction(), two.transaction()
        await first.start()
        await second.start()
        r1 = await _append_open(one, 38, "interleaved-1", resource)
        r2 = await _append_open(two, 39, "interleaved-2", resource)
        # other lanes: a lane's records of one transaction are one batch (one time), as verify holds them to
        r3 = await _append_open(one, 43, "interleaved-3", resource)
        r4 = await _append_open(two, 44, "interleaved-4", resource)
        await first.commit()
        await second.commit()
    finally:
        await one.close()
        await two.close()
    assert r1 < r2 < r3 < r4
    seen: list[int] = []
    before: int | None = None
    for _ in range(5):
        body, _ = await gql(client, OLD_CLIENT, {"before": before, "resource": resource}, **SUPERVISOR)
        assert "errors" not in body, body
        page = body["data"]["auditRecords"]
        seen += [int(r["seq"]) for r in page["records"]]
        before = page["nextBefore"]
        if not page["hasNextPage"]:
            break
    assert seen == [r4, r3, r2, r1], f"the old client's pages listed {seen} of {[r4, r3, r2, r1]}"


# The lost server had served longer than the new one (in production: millions of transactions more).
ADVANCE = """do $$ begin
    loop
        exit when pg_snapshot_xmax(pg_current_snapshot()) > '6000'::xid8;
        perform pg_current_xact_id();
        commit;
    end loop;
end $$"""


async def _sql_page(conn: asyncpg.Connection, order: audit_pages.Order, after: tuple[int, int] | None,
                    first: int = 50) -> list[tuple[int, int]]:
    """A page as auditRecords reads it (its horizon, then its page statement): (xact, seq) of each record."""
    newest_after = after is not None and order is audit_pages.Order.NEWEST_FIRST
    horizon = None if newest_after else await conn.fetchval(audit_pages.HORIZON)
    sql = audit_pages.page_statement(order, after=after is not None, departments=None, resource=False)
    rows = await conn.fetch(sql, None if after is None else str(after[0]), None if after is None else after[1],
                            None, None, None, None, None, first + 1, None, horizon)
    return [(int(r["commit_xact"]), int(r["seq"])) for r in rows[:first]]


async def _append_one(conn: asyncpg.Connection, lane: int, tag: str) -> tuple[int, int]:
    seq = await _append_open(conn, lane, tag, "restore-test")
    return int(await conn.fetchval("select xact::text from audit_log where seq = $1", seq)), seq


def _tool(server: LocalPostgres, name: str, *args: str) -> None:
    result = subprocess.run([str(server.bin / name), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


async def test_a_region_database_restored_on_a_new_server_pages_and_verifies(cluster: Cluster,
                                                                             tmp_path: Path) -> None:
    """DEPLOYMENT's restore (pg_dump / pg_restore --create) onto a new server whose transaction counter is far
    behind the lost one's (review-auditpage finding 2): the restored records are all in auditRecords at once,
    in their order; a record appended after the restore comes after them, also for an oldest-first follower
    whose cursor is from before the loss; verify finds nothing. Before 0033 the restored records were kept out
    (not settled until the new counter caught up), verify called them renumbered, and the new record sorted
    before them."""
    new = cluster.new_server("auditpage-restore")
    admin = await asyncpg.connect(new.dsn())
    try:
        await admin.execute("create role govshare_service nologin")
        assert int(await admin.fetchval("select pg_current_xact_id()::text")) < 4000  # a new server
    finally:
        await admin.close()
    async with fresh_region(cluster) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(ADVANCE)
            kept = [await _append_one(conn, 5, f"before-the-loss-{n}") for n in range(3)]
            follower = (await _sql_page(conn, audit_pages.Order.OLDEST_FIRST, None))[-1]
            assert follower == kept[-1]
        finally:
            await conn.close()
        name = dsn.rsplit("/", 1)[1].split("?")[0]
        dump = tmp_path / "region.dump"
        await asyncio.to_thread(_tool, cluster.servers[REGION], "pg_dump", "--format=custom", f"--file={dump}",
                                f"--dbname={dsn}")
        conn = await asyncpg.connect(dsn)
        try:  # appended after the dump: lost with the old server, but a follower had read it already
            await conn.execute(ADVANCE.replace("'6000'", "'9000'"))
            lost = await _append_one(conn, 5, "lost-with-the-server")
            assert (await _sql_page(conn, audit_pages.Order.OLDEST_FIRST, follower)) == [lost]
        finally:
            await conn.close()
    await asyncio.to_thread(_tool, new, "pg_restore", "--create", "--exit-on-error", f"--dbname={new.dsn('postgres')}",
                            str(dump))
    restored = await asyncpg.connect(new.dsn(name))
    try:
        counter = int(await restored.fetchval("select pg_snapshot_xmax(pg_current_snapshot())::text"))
        assert min(x for x, _ in kept) > counter, "precondition: the old server had used more transaction ids"
        # before anything is appended on the new server
        assert await _sql_page(restored, audit_pages.Order.NEWEST_FIRST, None) == kept[::-1]
        assert (await audit_verdicts.verify_chain(restored, KEY, [])).problems == []
        after = await _append_one(restored, 5, "after-the-restore")
        other = await _append_one(restored, 7, "after-the-restore-another-lane")
        assert await _sql_page(restored, audit_pages.Order.NEWEST_FIRST, None) == [other, after, *kept[::-1]]
        assert await _sql_page(restored, audit_pages.Order.OLDEST_FIRST, follower) == [after, other]
        # the follower that had read the lost record goes on from its cursor and gets the new ones too
        assert await _sql_page(restored, audit_pages.Order.OLDEST_FIRST, lost) == [after, other]
        assert (await audit_verdicts.verify_chain(restored, KEY, [])).problems == []
    finally:
        await restored.close()


MIGRATION_0034 = next(m.sql for m in discover() if m.version == 34)
# Records as 600 transactions' worth (xact 1..600); the first three are a rare department's, of a rare resource.
INSERT_MANY = """insert into audit_log (lane, lane_seq, xact, request_id, user_id, department, action, resource, outcome,
                                         prev_hash, hash, algorithm)
    select 9, g, ((g::bigint * 600) / $1::integer + 1)::text::xid8, 'bulk', 'bulk',
           case when g <= 3 then '650100-RARE' else '650100-GA' end, 'read',
           case when g <= 3 then '650000-B01-RARE' else '650000-B01-000001' end, 'ok',
           repeat('0', 64), repeat(md5(g::text), 2), 'hmac-sha256'
    from generate_series(1, $1::integer) g"""


@pytest.mark.slow
async def test_pages_deep_in_a_large_trail_and_a_departments_own_stay_fast(cluster: Cluster) -> None:
    """300,000 records (review-auditpage finding 5). (a) Newest first, a page 50 records from the oldest end
    reached by cursor: 'xact < horizon' made the scan start at the newest end and walk down to the cursor
    (1,154 buffers, 15-30 ms); below a newest-first cursor there is no horizon now. (b) A department's own page
    (every non-supervisor's) with 3 records, and a deep one of the department holding the rest: no index served
    department (parallel sequential scan and sort of the whole trail, 12,000 buffers, 80-290 ms); now
    (department, xact, seq). (c) A rare resource's page likewise. Custom and generic plans (asyncpg prepares:
    after five runs PostgreSQL may switch to a generic one). Figures printed (-s)."""
    total = 300_000
    async with fresh_region(cluster) as dsn:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "pg_catalog, public, pg_temp"})
        try:
            await conn.execute("drop index audit_log_department_order, audit_log_resource_order")
            await conn.execute(INSERT_MANY, total)
            started = time.perf_counter()  # 0034's indexes built on this trail, as the migration does
            for line in MIGRATION_0034.splitlines():
                if line.startswith("create index"):
                    await conn.execute(line)
            built = time.perf_counter() - started
            await conn.execute("analyze audit_log")
            deep = await conn.fetchrow("select xact::text, seq from audit_log order by xact, seq offset 50 limit 1")
            ga = await conn.fetchrow("select xact::text, seq from audit_log where department = '650100-GA' "
                                     "order by xact, seq offset 50 limit 1")
            assert deep is not None and ga is not None
            horizon = await conn.fetchval(audit_pages.HORIZON)
            newest = audit_pages.Order.NEWEST_FIRST
            cases = {  # name: (statement, parameters, records expected)
                "deep page by cursor": (audit_pages.page_statement(newest, after=True, departments=None, resource=False),
                                        (deep["xact"], deep["seq"], None, None), 50),
                "a rare department's page": (audit_pages.page_statement(newest, after=False, departments=["x"],
                                                                        resource=False),
                                             (None, None, ["650100-RARE"], None), 3),
                "a department's deep page": (audit_pages.page_statement(newest, after=True, departments=["x"],
                                                                        resource=False),
                                             (ga["xact"], ga["seq"], ["650100-GA"], None), 50),
                "a rare resource's page": (audit_pages.page_statement(newest, after=False, departments=None,
                                                                      resource=True),
                                           (None, None, None, "650000-B01-RARE"), 3),
            }
            report = []
            for name, (statement, head, expected) in cases.items():
                args = (*head, None, None, None, 51, None, None if head[0] is not None else horizon)
                assert len(await conn.fetch(statement, *args)) == expected, name
                for mode in ("force_custom_plan", "force_generic_plan"):
                    await conn.execute(f"set plan_cache_mode = {mode}")
                    plan = orjson.loads(await conn.fetchval(
                        "explain (analyze, buffers, format json) " + statement, *args))[0]
                    buffers = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
                    report.append((name, mode, buffers, plan["Execution Time"]))
                await conn.execute("reset plan_cache_mode")
        finally:
            await conn.close()
    print(f"\n0034's two indexes built on {total:,} records in {built:.2f} s\n"
          + "\n".join(f"{name}, {mode}: {buffers} buffers, {ms:.2f} ms" for name, mode, buffers, ms in report))
    # A page of 50 needs the index pages down to it and ~50 heap pages; the whole trail is ~12,000 pages.
    assert all(buffers < 300 for _, _, buffers, _ in report), report
