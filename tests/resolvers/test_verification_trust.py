"""A verification answers from one node's row, never from one node over another (review-trust3 finding 5,
review-s6 findings 1-3): every database that could hold the key is asked, whatever division the key names
(a citizen ID's division is where it was issued, not where the person is registered); a node that could hold
the key and does not answer refuses the verification (NODE_UNAVAILABLE); rows of one key from several nodes
refuse it (AMBIGUOUS_SOURCE); a row that is not of the key asked for refuses it too. A grant's row scope
holds as on a data page; citizen IDs are asked and compared in canonical form (upper-case X, ASCII). A
citizen ID or credit code whose check character is wrong is refused (BAD_USER_INPUT, reason INVALID_KEY),
audited, and asked of no node.

The attacker owns 650200's PostgreSQL. Every test plants its rows or changes its server and puts
everything back in ``finally``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from govshare.resolvers.specs import DataItemSpec, DataResourceSpec
from govshare.resolvers.verification import canonical_key, invalid_key

from ..conftest import Cluster
from ..helpers import gql, token
from .conftest import SCOPED_DEPT
from .test_audit import _records

ATTACKER = "650200"
DEPARTMENT = "650100-JY"  # verifies nothing elsewhere in the suite: its rate limit is this module's own
VERIFY = """query($k: String!, $v: [VerifyValue!]!) { verify(resource: "population", key: $k, values: $v) {
    found items { item outcome } } }"""
PLANT = """insert into population (citizen_id, node_code, name, sex, birth_date, ethnicity, address, division_code,
    household_type, registered_on) values ($1, $2, $3, '男', '1999-01-01', '汉族', '某地', $2, '城镇', '2000-01-01')"""
ALL = ["650000", "650100", ATTACKER]  # the test topology's databases
# Beijing's division: a key that names no node of the topology.
NOWHERE = "110101199901017773"
BPCHAR_EQ = "oprname = '=' and oprleft = 'bpchar'::regtype and oprright = 'bpchar'::regtype"


async def _verify(client: httpx.AsyncClient, key: str, name: str, **headers: str) -> dict[str, Any]:
    body, _ = await gql(client, VERIFY, {"k": key, "v": [{"item": "name", "value": name}]},
                        Authorization=f"Bearer {token(DEPARTMENT)}", **headers)
    return body


def _error(body: dict[str, Any]) -> str:
    assert body["data"] == {"verify": None}, body
    return str(body["errors"][0]["extensions"]["code"])


@pytest.fixture
def asked(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The databases each verification statement went to."""
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original = pools.fetch
    databases: list[str] = []

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        if name == "verify":
            databases.append(database)
        return await original(database, name, sql, *args, **kwargs)

    pools.fetch = fetch
    try:
        yield databases
    finally:
        pools.fetch = original


@asynccontextmanager
async def planted(cluster: Cluster, *rows: tuple[str, str, str, str]) -> AsyncIterator[None]:
    """(database, citizen id, node code, name) rows, removed afterwards."""
    try:
        for database, citizen, node, name in rows:
            conn = await cluster.connect(database)
            try:
                await conn.execute(PLANT, citizen, node, name)
            finally:
                await conn.close()
        yield
    finally:
        for database, citizen, node, _ in rows:
            conn = await cluster.connect(database)
            try:
                await conn.execute("delete from population where citizen_id = $1 and node_code = $2", citizen, node)
            finally:
                await conn.close()


@asynccontextmanager
async def locked(cluster: Cluster, database: str) -> AsyncIterator[None]:
    """``database``'s population table does not answer (a lock held on it: a slow node)."""
    conn = await cluster.connect(database)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("lock table population in access exclusive mode")
        yield
    finally:
        await tx.rollback()
        await conn.close()


async def _a_citizen(cluster: Cluster, database: str, node: str) -> tuple[str, str]:
    """A citizen of ``node`` in a division of its own prefecture, and their birth date."""
    conn = await cluster.connect(database)
    try:
        row = await conn.fetchrow("select citizen_id, birth_date from population where node_code = $1 and "
                                  "left(division_code, 4) = left($1, 4) order by citizen_id limit 1", node)
    finally:
        await conn.close()
    assert row is not None
    return row["citizen_id"], row["birth_date"].isoformat()


async def _an_urumqi_citizen(cluster: Cluster) -> tuple[str, str]:
    conn = await cluster.connect("650100")
    try:
        row = await conn.fetchrow("select citizen_id, name from population where node_code = '650100' "
                                  "order by citizen_id limit 1")
    finally:
        await conn.close()
    assert row is not None
    return row["citizen_id"], row["name"]


def _register(key: str) -> DataResourceSpec:
    item = DataItemSpec(key, "string", "UNCONDITIONAL", None, None, True, {})
    return DataResourceSpec("650000-B01-000001", "650000", "register", "register", "all_nodes", "650000-GA", {},
                            "", (item,))


def test_citizen_ids_and_credit_codes_are_asked_in_canonical_form() -> None:
    assert canonical_key("citizen_id", " 65010219990101104x ") == "65010219990101104X"
    assert canonical_key("citizen_id", "６５０１０２１９９９０１０１１０４Ｘ") == "65010219990101104X"  # full width
    assert canonical_key("uscc", "91650200ma0000000x") == "91650200MA0000000X"
    assert canonical_key("licence_no", "dzzz-x") == "dzzz-x"  # no standard says its case does not matter


async def test_an_urumqi_citizen_is_asked_of_every_database_and_recorded_so(
        client: httpx.AsyncClient, cluster: Cluster, asked: list[str]) -> None:
    """The key names Urumqi, and every database is still asked: another may hold the person too (review-s6
    finding 1; before, Urumqi was asked alone)."""
    citizen, name = await _an_urumqi_citizen(cluster)
    mine = uuid.uuid4().hex
    body = await _verify(client, citizen, name, **{"X-Request-Id": mine})
    assert body["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, body
    # (run again when grants changed under it, as every query is: so a set)
    assert sorted(set(asked)) == ALL
    [record] = await _records(cluster, mine)
    assert (record["outcome"], record["nodes"], record["row_count"]) == ("ok", sorted(cluster.topology.by_code), 1)


async def test_a_citizen_registered_outside_the_division_of_the_id_is_found(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Someone whose ID names Urumqi, registered in Karamay: Karamay's row (of its own node) answers."""
    moved = "650100199901017772"
    async with planted(cluster, (ATTACKER, moved, ATTACKER, "迁入者")):
        body = await _verify(client, moved, "迁入者")
    assert body["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, body


async def test_the_node_an_id_names_does_not_answer_for_a_citizen_registered_elsewhere(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """review-s6 finding 1 (the reviewer's probe): born in Karamay (650202...), registered in Urumqi. The
    owner of 650200 plants its own row of the key with an impostor's name: the answer is a refusal, not
    MATCH (before: 650200 was asked alone and said MATCH). Without the planted row, Urumqi's answers."""
    citizen = "650202199901014449"
    async with planted(cluster, ("650100", citizen, "650100", "乌鲁木齐居民")):
        registered = await _verify(client, citizen, "乌鲁木齐居民")
        async with planted(cluster, (ATTACKER, citizen, ATTACKER, "冒名顶替者")):
            body = await _verify(client, citizen, "冒名顶替者")
    assert registered["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}
    assert _error(body) == "AMBIGUOUS_SOURCE"
    assert body["errors"][0]["extensions"]["nodes"] == ["650100", ATTACKER]


async def test_verification_of_another_nodes_citizen_is_not_answered_by_650200(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """review-trust3 finding 5: 650200 plants its own row with an Urumqi citizen's ID and the name it wants
    confirmed. While Urumqi's database does not answer, the verification is refused; with Urumqi answering,
    two nodes hold the key and it is refused as ambiguous: never MATCH on 650200's row."""
    citizen, _ = await _an_urumqi_citizen(cluster)
    fake_name = "冒名顶替者"
    async with planted(cluster, (ATTACKER, citizen, ATTACKER, fake_name)):
        async with locked(cluster, "650100"):
            body = await _verify(client, citizen, fake_name)
        answered = await _verify(client, citizen, fake_name)
    assert _error(body) == "NODE_UNAVAILABLE"
    assert _error(answered) == "AMBIGUOUS_SOURCE"


async def test_a_lower_case_check_character_is_the_same_key(
        client: httpx.AsyncClient, cluster: Cluster, asked: list[str]) -> None:
    """review-s6 finding 3 (the reviewer's probe): Urumqi holds 65010219990101104X; 650200 plants a row of
    its own keyed with a lower-case x and an impostor's name. The key typed with x (or full width) is the
    same person's: Urumqi's row decides (before: Urumqi missed it and 650200's row said MATCH)."""
    real = "65010219990101104X"
    async with planted(cluster, ("650100", real, "650100", "真实居民"), (ATTACKER, real.lower(), ATTACKER, "冒名顶替者")):
        body = await _verify(client, real.lower(), "冒名顶替者")
        wide = await _verify(client, "６５０１０２１９９９０１０１１０４ｘ", "真实居民")
    assert body["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MISMATCH"}]}, body
    assert wide["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, wide


async def test_a_row_keyed_with_a_lower_case_x_is_the_keys_row(client: httpx.AsyncClient, cluster: Cluster) -> None:
    """650200's ``=`` ignores case and returns its lower-case-x row for Urumqi's citizen: compared in canonical
    form, that row is of the key, so two nodes hold it: refused (not a MATCH on either row)."""
    real = "65010219990101112X"
    async with planted(cluster, ("650100", real, "650100", "真实居民"), (ATTACKER, real.lower(), ATTACKER, "冒名顶替者")), \
            equality_ignoring_case(cluster, ATTACKER):
        body = await _verify(client, real, "冒名顶替者")
    assert _error(body) == "AMBIGUOUS_SOURCE", body


async def test_a_grants_row_scope_holds_for_verification(
        client: httpx.AsyncClient, cluster: Cluster, grants: dict[str, int], asked: list[str]) -> None:
    """review-s6 finding 2 (the reviewer's probe, with this suite's scoped grant): under a grant scoped to
    Urumqi's division 650100, a Karamay citizen's birth date is NOT_FOUND (before: MATCH), an Urumqi
    citizen's is compared; only the databases that can hold the scope's rows are asked, and the record
    keeps the scope."""
    karamay = await _a_citizen(cluster, ATTACKER, "650200")
    urumqi = await _a_citizen(cluster, "650100", "650100")
    query = """query($k: String!, $v: [VerifyValue!]!) { verify(resource: "population", key: $k, values: $v,
        purpose: "P-scope") { found items { item outcome } } }"""
    answers = []
    mine = uuid.uuid4().hex
    for citizen, birth in (karamay, urumqi):
        body, _ = await gql(client, query, {"k": citizen, "v": [{"item": "birth_date", "value": birth}]},
                            Authorization=f"Bearer {token(SCOPED_DEPT)}", **{"X-Request-Id": mine})
        answers.append(body["data"]["verify"])
    assert answers == [{"found": False, "items": [{"item": "birth_date", "outcome": "NOT_FOUND"}]},
                       {"found": True, "items": [{"item": "birth_date", "outcome": "MATCH"}]}], answers
    assert sorted(set(asked)) == ["650000", "650100"]
    conn = await cluster.connect("650000")
    try:
        records = await conn.fetch("select grant_ids, outcome, detail -> 'row_scope' as scope from audit_log "
                                   "where client_request_id = $1 order by seq", mine)
    finally:
        await conn.close()
    assert [(r["grant_ids"], r["outcome"], r["scope"]) for r in records] == [
        ([grants["scoped"]], "not_found", '["650100"]'), ([grants["scoped"]], "ok", '["650100"]')]


async def test_rows_of_one_key_from_two_nodes_are_refused_as_ambiguous(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A key that names no node is asked of every database: when two nodes hold it, neither answers for the
    other (before: the first database in topology order did). The refusal is audited."""
    mine = uuid.uuid4().hex
    async with planted(cluster, ("650100", NOWHERE, "650100", "外省甲")):
        alone = await _verify(client, NOWHERE, "外省甲")
        async with planted(cluster, (ATTACKER, NOWHERE, ATTACKER, "外省甲")):
            body = await _verify(client, NOWHERE, "外省甲", **{"X-Request-Id": mine})
    assert alone["data"]["verify"] == {"found": True, "items": [{"item": "name", "outcome": "MATCH"}]}, alone
    assert _error(body) == "AMBIGUOUS_SOURCE"
    assert body["errors"][0]["extensions"]["nodes"] == ["650100", ATTACKER]
    [record] = await _records(cluster, mine)
    assert (record["outcome"], record["row_count"], record["items_returned"]) == ("error", 0, ["name"])


async def test_a_node_that_could_hold_the_key_and_does_not_answer_refuses_the_verification(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """Urumqi holds the key (which names no node), 650200 does not answer: 650200 could hold another row of
    it, so no answer is given (before: Urumqi's row answered)."""
    async with planted(cluster, ("650100", NOWHERE, "650100", "外省乙")), locked(cluster, ATTACKER):
        body = await _verify(client, NOWHERE, "外省乙")
    assert _error(body) == "NODE_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["node"] == ATTACKER


@asynccontextmanager
async def _bpchar_equality(cluster: Cluster, database: str, function: str, body: str) -> AsyncIterator[None]:
    """``database``'s owner makes ``bpchar = bpchar`` run ``body`` (the primary key and the citizen_id indexes
    dropped, so that a lookup by citizen_id uses the operator), and puts everything back afterwards."""
    conn = await cluster.connect(database)
    honest = await conn.fetchval(f"select oprcode::oid from pg_operator where {BPCHAR_EQ}")
    indexes = await conn.fetch("select indexname, indexdef from pg_indexes where tablename = 'population' "
                               "and indexdef like '%citizen_id%' and indexname <> 'population_pkey'")
    try:
        await conn.execute(f"create function public.{function}(bpchar, bpchar) returns boolean language sql "
                           f"immutable as '{body}'")
        await conn.execute("alter table population drop constraint population_pkey")
        for index in indexes:
            await conn.execute(f'drop index "{index["indexname"]}"')
        lie = await conn.fetchval(f"select 'public.{function}(bpchar, bpchar)'::regprocedure::oid")
        await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", lie)
        try:
            yield
        finally:
            await conn.execute(f"update pg_operator set oprcode = $1::oid::regproc where {BPCHAR_EQ}", honest)
    finally:
        await conn.execute("alter table population add primary key (citizen_id)")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute(f"drop function if exists public.{function}(bpchar, bpchar)")
        await conn.close()


def equality_passing_everything(cluster: Cluster, database: str) -> AbstractAsyncContextManager[None]:
    """``bpchar = bpchar`` true for any two values: a lookup by citizen_id returns any row."""
    return _bpchar_equality(cluster, database, "hostile_true", "select true")


def equality_ignoring_case(cluster: Cluster, database: str) -> AbstractAsyncContextManager[None]:
    """``bpchar = bpchar`` compares upper-cased values."""
    return _bpchar_equality(cluster, database, "hostile_upper", "select upper($1::text) = upper($2::text)")


async def test_a_row_that_is_not_of_the_key_refuses_the_verification(
        client: httpx.AsyncClient, cluster: Cluster) -> None:
    """A key no node holds reaches 650200, whose ``=`` says yes to its own rows of other keys: they are its
    own node's rows, but not the key's, and the verification is refused (before: found)."""
    async with equality_passing_everything(cluster, ATTACKER):
        body = await _verify(client, "650100190001010005", "张三")
    assert _error(body) == "NODE_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["node"] == ATTACKER


KEY_CHECKER = "654300-JY"  # verifies nothing elsewhere in the suite: its rate limit is these tests' own
CHECKED = """query($r: String!, $k: String!, $v: [VerifyValue!]!) { verify(resource: $r, key: $k, values: $v) {
    found items { item outcome } } }"""


def test_keys_are_checked_by_their_standards_check_character() -> None:
    assert invalid_key("citizen_id", "11010519491231002X") is None  # GB 11643-1999's own example
    assert invalid_key("citizen_id", " 11010519491231002x ") is None  # canonical form first (x is X)
    assert invalid_key("citizen_id", "110105194912310021") == "GB 11643-1999"
    assert invalid_key("citizen_id", "11010519491231002") == "GB 11643-1999"  # 17 characters
    assert invalid_key("uscc", "91350100M000100Y43") is None  # GB 32100-2015's published example
    assert invalid_key("uscc", "91350100m000100y43") is None
    assert invalid_key("uscc", "91350100M000100Y44") == "GB 32100-2015"
    assert invalid_key("uscc", "91350100M000100Y4I") == "GB 32100-2015"  # I is not in its alphabet
    assert invalid_key("licence_no", "x") is None  # no check character: any key is asked


@pytest.mark.parametrize(("resource", "key", "item", "standard"), [
    ("population", "650100190001010000", "citizen_id", "GB 11643-1999"),  # 5 is its check digit
    ("population", "650102199901011041", "citizen_id", "GB 11643-1999"),  # X is its check character
    ("population", "６５０１００１９０００１０１０００ｘ", "citizen_id", "GB 11643-1999"),  # full width: still wrong
    ("legalEntities", "91350100M000100Y44", "uscc", "GB 32100-2015"),
], ids=["citizen id", "digit for X", "full width", "credit code"])
async def test_a_key_with_a_wrong_check_character_is_refused_audited_and_asked_of_no_node(
        client: httpx.AsyncClient, cluster: Cluster, resource: str, key: str, item: str, standard: str) -> None:
    pools = client.app.state.pools  # type: ignore[attr-defined]
    original, asked = pools.fetch, []

    async def fetch(database: str, name: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        asked.append((database, name, args))
        return await original(database, name, sql, *args, **kwargs)

    mine = uuid.uuid4().hex
    pools.fetch = fetch
    try:
        body, _ = await gql(client, CHECKED, {"r": resource, "k": key, "v": [{"item": "name", "value": "张三"}]},
                            Authorization=f"Bearer {token(KEY_CHECKER)}", **{"X-Request-Id": mine})
    finally:
        pools.fetch = original
    assert body["data"] == {"verify": None}, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "INVALID_KEY", "item": item,
                                   "standard": standard, "fault": "CHECK_CHARACTER"}, error
    assert error["message"].endswith(f"({standard}: its check character does not follow from the others)")
    # no node database is asked (the key names nobody): the region's rate limit and audit trail alone
    assert {name for _, name, _ in asked} <= {"ratelimit.lease", "audit.append"}, asked
    assert not any(canonical_key(item, key) in repr(args) for _, _, args in asked)
    conn = await cluster.connect("650000")
    try:
        [record] = await conn.fetch("select action, outcome, nodes, row_count, items_returned, items_denied, "
                                    "resource, detail from audit_log where client_request_id = $1", mine)
    finally:
        await conn.close()
    assert (record["action"], record["outcome"], record["nodes"], record["row_count"], record["items_returned"],
            record["items_denied"]) == ("verify", "refused", [], 0, [], [])
    assert record["resource"].startswith("650000-") and '"INVALID_KEY"' in record["detail"], record


async def test_a_valid_key_of_either_standard_is_asked(client: httpx.AsyncClient) -> None:
    """Valid keys no register holds: asked (NOT_FOUND), not refused."""
    answers = []
    for resource, key in (("population", "650100190001010005"), ("legalEntities", "91350100M000100Y43")):
        body, _ = await gql(client, CHECKED, {"r": resource, "k": key, "v": [{"item": "name", "value": "张三"}]},
                            Authorization=f"Bearer {token(KEY_CHECKER)}")
        answers.append(body["data"]["verify"])
    assert answers == [{"found": False, "items": [{"item": "name", "outcome": "NOT_FOUND"}]}] * 2, answers


@pytest.mark.parametrize(("key", "fault", "why"), [
    ("", "LENGTH", "it has 0 characters, not 18"),
    ("abc", "LENGTH", "it has 3 characters, not 18"),
    ("6501001995042905", "LENGTH", "it has 16 characters, not 18"),
    ("65010019950429050Y", "CHARACTERS", "it must be 17 digits then a digit or X"),
], ids=["empty", "letters", "16 digits", "Y"])
async def test_an_invalid_key_is_refused_with_its_real_fault(client: httpx.AsyncClient, key: str, fault: str,
                                                            why: str) -> None:
    """trial-s7 F5: a key of the wrong length or characters was said to have a wrong check character."""
    body, _ = await gql(client, CHECKED, {"r": "population", "k": key, "v": [{"item": "name", "value": "张三"}]},
                        Authorization=f"Bearer {token(KEY_CHECKER)}")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "INVALID_KEY", "item": "citizen_id",
                                   "standard": "GB 11643-1999", "fault": fault}, error
    assert error["message"] == f"the key is not a valid citizen_id (GB 11643-1999: {why})"
