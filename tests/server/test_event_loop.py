"""No request holds the event loop: the worst case the limits allow beside a trivial query.

The worst case here is a request at every bound at once: 5 data queries (the most per request) of
1,000 rows each with every item, cursors and counts, under filters whose `in` lists hold the most values
allowed, inside a body near its size limit. A monitor task measures how long the loop goes without
turning, and a trivial query sent meanwhile must come back quickly.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Awaitable

import httpx
import orjson
import pytest
from graphql import GraphQLError, parse

from govshare.core.settings import Settings
from govshare.schema.documents import MAX_TOKENS

from ..helpers import gql

FIELDS = "name sex divisionCode householdType registeredOn"
# Before: a 200,000-value `in` list held the loop 10-16 s; 300 repeated fields 3-8 s of validation.
MAX_STALL_SECONDS = 0.05  # CPU time
MAX_TRIVIAL_SECONDS = 0.25  # wall time, on a shared 2-core machine


def worst_case() -> tuple[str, dict[str, object]]:
    settings = Settings()
    # long enough that the body comes near its limit (three lists of the most values allowed)
    values = [f"{i:018d}" + "户" * 30 for i in range(settings.max_list_length)]
    names = [f"名字{i:06d}" for i in range(settings.max_list_length)]
    big = " ".join(f"""big{i}: population(first: 1000, filter: {{sex: {{in: $sexes}}}}) {{
        totalCount edges {{ cursor node {{ {FIELDS} }} }} nodes {{ {FIELDS} }} pageInfo {{ endCursor }} }}"""
                   for i in range(3))
    listed = " ".join(f"""listed{i}: population(first: 1000, filter: {{name: {{in: $names}},
        householdType: {{in: $values}}, sex: {{in: $values}}}}) {{ totalCount nodes {{ {FIELDS} }} }}"""
                      for i in range(2))
    query = f"query($sexes: [String!], $names: [String!], $values: [String!]) {{ {big} {listed} }}"
    return query, {"sexes": ["男", "女", *values[2:]], "names": names, "values": values}


async def _stalls(stop: asyncio.Event) -> float:
    """The most CPU the loop's thread spent between two of its turns: what the callbacks of one turn held
    the loop for. A callback that schedules itself again runs once in every turn (a callback scheduled
    during a turn runs in the next), so its consecutive runs are one turn apart; a sleeping monitor would
    wake only once its timer is due, and charge the loop with two turns or more. CPU time, not wall time:
    on a shared machine the process also waits for a core."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    worst = 0.0
    last = time.thread_time()

    def tick() -> None:
        nonlocal worst, last
        now = time.thread_time()
        worst = max(worst, now - last)
        last = now
        if stop.is_set():
            done.set_result(worst)
        else:
            loop.call_soon(tick)

    loop.call_soon(tick)
    return await done


async def _posted(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    """A request whose body was encoded beforehand; its answer is decoded by the caller once the monitor has
    stopped. The client shares the server's loop here: its own JSON work is not the server's stall."""
    return await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})


async def _timed(call: Awaitable[object]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def test_the_worst_case_allowed_does_not_hold_the_loop(client: httpx.AsyncClient) -> None:
    query, variables = worst_case()
    body_size = len(httpx.Request("POST", "http://x", json={"query": query, "variables": variables}).content)
    assert 0.8 * Settings().max_body_bytes < body_size <= Settings().max_body_bytes
    await gql(client, query, variables)  # warm: parse and validation caches, pools
    # The app froze its start-up heap; the test harness has since built its own (other tests' data),
    # which a deployed process would not hold: freeze that too, so the collector's cost is the app's.
    assert gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    posted = orjson.dumps({"query": query, "variables": variables})
    stop = asyncio.Event()
    monitor = asyncio.create_task(_stalls(stop))
    worst = asyncio.create_task(_posted(client, posted))
    trivial: list[float] = []
    while not worst.done():
        await asyncio.sleep(0.01)  # a client's pace (an answer served without I/O never yields the loop)
        trivial.append(await _timed(gql(client, "{ nodes { code } }")))
    stop.set()
    stall = await monitor
    body = orjson.loads(worst.result().content)
    assert "errors" not in body, body["errors"][:2]
    assert sum(len(body["data"][f"big{i}"]["nodes"]) for i in range(3)) == 3000
    print(f"worst case: body {body_size} bytes, loop stall {stall * 1000:.0f} ms, "
          f"trivial queries {len(trivial)}, slowest {max(trivial) * 1000:.0f} ms")
    assert stall < MAX_STALL_SECONDS
    assert max(trivial) < MAX_TRIVIAL_SECONDS


def fresh_large_document() -> str:
    """Near the token limit, never seen before: parse and validation cost tens of milliseconds."""
    fields = ("code node name summary names { zh ug kk en } summaries { zh ug kk en } classification category "
              "providerCode providerLevel format updateCycle shareClass shareConditions shareModes legalBasis "
              "openAttribute status version publishedOn relatedCodes apiName provider { code name level node "
              "parent { code name level } } dataItems { name title titles { zh en } dataType shareClass "
              "condition legalBasis isKey }")
    aliases = " ".join(f"r{i}_{uuid.uuid4().hex[:8]}: resources(first: 1, filter: {{keyword: \"社会救助{i}\"}}) "
                       f"{{ edges {{ cursor node {{ {fields} }} }} pageInfo {{ hasNextPage endCursor }} }}"
                       for i in range(29))
    return "{ " + aliases + " }"


async def test_a_fresh_large_document_is_prepared_off_the_loop(client: httpx.AsyncClient) -> None:
    query = fresh_large_document()
    parse(query, max_tokens=MAX_TOKENS)  # within the token limit
    with pytest.raises(GraphQLError, match="tokens"):
        parse(query, max_tokens=MAX_TOKENS // 2)  # and more than half of it
    stop = asyncio.Event()
    gc.collect()
    gc.freeze()
    posted = orjson.dumps({"query": query})
    monitor = asyncio.create_task(_stalls(stop))
    fresh = asyncio.create_task(_posted(client, posted))
    trivial: list[float] = []
    while not fresh.done():
        await asyncio.sleep(0.005)
        trivial.append(await _timed(gql(client, "{ nodes { code } }")))
    stop.set()
    stall = await monitor
    body = orjson.loads(fresh.result().content)
    assert "errors" not in body, body["errors"][:2]
    print(f"fresh document: {len(query)} characters, loop stall {stall * 1000:.0f} ms, slowest trivial "
          f"{max(trivial) * 1000:.0f} ms of {len(trivial)}")
    assert stall < MAX_STALL_SECONDS
    assert max(trivial) < MAX_TRIVIAL_SECONDS
