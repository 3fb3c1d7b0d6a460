"""A record the audit trail cannot keep as it was hashed, or that the region's server refuses, costs only itself:
a detail that jsonb would give back otherwise is refused when the record is made (or appended), and a batch the
server refuses is split without one statement per record (review-s8 findings 5 and 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from govshare.core.errors import NodeUnavailable
from govshare.federation.nodes import NodePools
from govshare.resolvers import audit, audit_verdicts
from govshare.resolvers.audit_records import detail_problem

from ..audit_databases import fresh_region, record, region_pools
from ..conftest import Cluster
from ..helpers import AUDIT_KEY

KEY = AUDIT_KEY.encode()


def _appends(pools: NodePools) -> list[str]:
    """The names of the trail's statements on these pools, as they run."""
    names: list[str] = []
    fetch = pools.fetch

    async def counted(database_node: str, name: str, *args: Any, **kwargs: Any) -> Any:
        names.append(name)
        return await fetch(database_node, name, *args, **kwargs)

    pools.fetch = counted  # type: ignore[method-assign]
    return names


async def _problems(dsn: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return (await audit_verdicts.verify_chain(conn, KEY, [])).problems
    finally:
        await conn.close()


@pytest.mark.parametrize("detail", [{"ratio": 0.1}, {"big": 1e16}, {"neg": -0.0}, {"nan": float("nan")},
                                    {"deep": [1, {"x": 2.5}]}, {1: "a key that is not a string"},
                                    {"nul": "a\x00b"}, {"when": object()}, {"huge": 2**64}])
def test_a_detail_that_would_not_come_back_as_hashed_is_refused(detail: dict[Any, Any]) -> None:
    """The HMAC covers json.dumps(detail); verify hashes what jsonb gives back, which rewrites floats (1e16 ->
    10000000000000000, -0.0 -> -0; NaN is sent as null): such a record was reported rewritten."""
    with pytest.raises(ValueError, match="detail"):
        audit.AuditRecord("r", "u", "650100-GA", "read", None, "650000-B01-000001", detail=detail)
    assert detail_problem(detail) is not None


async def test_a_detail_changed_after_the_record_was_made_is_refused_alone(cluster: Cluster) -> None:
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 7)
        kept = record("numbers")
        kept.detail = {"bytes": 2**53 + 1, "huge": 2**63 - 1, "low": -2**63, "neg": -5, "flags": [True, False, None],
                       "nested": {"k": ["v", 1]}, "text": "\u2028 é 😀"}
        changed = record("float")
        changed.detail = {"ratio": 1e16}
        written, refused = await asyncio.gather(trail.append(kept), trail.append(changed), return_exceptions=True)
        assert isinstance(written, int) and isinstance(refused, ValueError), (written, refused)
        await trail.close()
        assert await _problems(dsn) == [], "integers of any size, booleans, null, texts: stored as hashed"


async def test_one_record_the_region_refuses_costs_its_batch_no_statement_per_record(cluster: Cluster) -> None:
    """A NUL in a record's text (no caller path found: the limiter refuses NUL in variables, literals and the
    purpose header) is refused by the region (22021): the batch's other records are written together, not
    one statement each as before (8 statements for 7 records)."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 1)
        await trail.append(record("warm"))
        names = _appends(pools)
        bad = record("bad")
        bad.purpose = "x\x00y"
        goods = [record("good", n) for n in range(6)]

        async def reading() -> list[Any]:
            with trail.expecting():
                await asyncio.sleep(0)
            return await asyncio.gather(*(trail.append(r) for r in [*goods[1:3], bad, *goods[3:]]),
                                        return_exceptions=True)

        first, rest = await asyncio.gather(trail.append(goods[0]), reading())
        assert isinstance(rest[2], audit.AuditUnavailable), rest
        assert isinstance(first, int) and all(isinstance(seq, int) for n, seq in enumerate(rest) if n != 2), rest
        await trail.close()
        assert names.count("audit.append") <= 3, f"{names.count('audit.append')} statements for 7 records"
        assert trail.failed == 1 and await _problems(dsn) == []


async def test_a_batch_refused_for_an_unknown_cause_is_written_in_halves(cluster: Cluster,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal no client-side check explains: one record of 16 costs about 2 log2(16) statements, not 16, and
    only that record fails."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 2)
        await trail.append(record("warm"))
        conn = await asyncpg.connect(dsn)
        try:  # the region refuses one request id (a check constraint, 23514) that the client does not know of
            await conn.execute("alter table audit_log add constraint no_poison check (request_id <> 'poison-0') "
                               "not valid")
        finally:
            await conn.close()
        names = _appends(pools)
        batch = [record("good", n) for n in range(15)]
        batch.insert(11, record("poison"))

        async def reading() -> list[Any]:
            with trail.expecting():
                await asyncio.sleep(0)
            return await asyncio.gather(*(trail.append(r) for r in batch[1:]), return_exceptions=True)

        first, rest = await asyncio.gather(trail.append(batch[0]), reading())
        results = [first, *rest]
        assert [n for n, r in enumerate(results) if not isinstance(r, int)] == [11], results
        await trail.close()
        # the first record alone (nothing was waiting yet), then 15 of which one is refused: 1 + 1 + 2 log2(16)
        assert names.count("audit.append") <= 2 + 8, names
        assert trail.failed == 1 and await _problems(dsn) == []


async def test_a_batch_cut_off_by_a_shutdown_is_not_written_again_record_by_record(cluster: Cluster) -> None:
    """Only a refused value (SQLSTATE classes 22, 23) lets a batch's records be tried apart: after any other
    failure the batch may have committed (the server's shutdown after the commit), and writing its records
    again would put them twice into the lane."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 3)
        await trail.append(record("warm"))
        names = _appends(pools)
        fetch = pools.fetch

        async def shut_down(database_node: str, name: str, *args: Any, **kwargs: Any) -> Any:
            names.append(name)
            if name != "audit.append":
                return await fetch(database_node, name, *args, **kwargs)
            await asyncio.sleep(0.05)  # the others queue behind the lone record meanwhile
            # as the pools report it: the server's error behind the node's failure
            raise NodeUnavailable(database_node, "AdminShutdownError") from asyncpg.AdminShutdownError(
                "terminating connection due to administrator command")

        pools.fetch = shut_down  # type: ignore[method-assign]

        async def reading() -> list[Any]:
            with trail.expecting():
                await asyncio.sleep(0)
            return await asyncio.gather(*(trail.append(record("cut", n)) for n in range(1, 4)), return_exceptions=True)

        first, rest = await asyncio.gather(trail.append(record("cut", 0)), reading(), return_exceptions=True)
        pools.fetch = fetch  # type: ignore[method-assign]
        assert all(isinstance(r, audit.AuditUnavailable) for r in [first, *rest]), (first, rest)
        assert names.count("audit.append") == 2, f"the lone record, then its batch: none tried again alone ({names})"
        assert trail.failed == 4
        await trail.close()


async def test_a_record_this_process_cannot_hash_costs_only_itself(cluster: Cluster) -> None:
    """A lone surrogate (a JWT's sub is JSON: "\\ud800" decodes to one) cannot be encoded as UTF-8 for the HMAC:
    the batch failed while it was hashed, before anything was sent, and every record in it was refused."""
    async with fresh_region(cluster) as dsn, region_pools(dsn) as pools:
        trail = audit.AuditTrail(pools, KEY, 4)
        await trail.append(record("warm"))
        bad = record("surrogate")
        bad.user = "user-\ud800"

        async def reading() -> list[Any]:
            with trail.expecting():
                await asyncio.sleep(0)
            return await asyncio.gather(*(trail.append(r) for r in [record("good", 1), bad, record("good", 2)]),
                                        return_exceptions=True)

        first, rest = await asyncio.gather(trail.append(record("good", 0)), reading())
        assert isinstance(rest[1], audit.AuditUnavailable), rest
        assert isinstance(first, int) and isinstance(rest[0], int) and isinstance(rest[2], int), rest
        await trail.close()
        assert trail.failed == 1 and await _problems(dsn) == []
    with pytest.raises(ValueError, match="surrogate"):
        audit.AuditRecord("r", "u", "650100-GA", "read", None, "650000-B01-000001", detail={"x": "\udc80"})
