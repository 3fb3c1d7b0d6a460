"""Admission control: bounded in-flight requests, a queue with a deadline, then 503 with Retry-After;
time spent queued is never charged to a node."""

from __future__ import annotations

import asyncio
import time

from ..conftest import Cluster
from ..federation import conftest as faults
from ..federation.conftest import NODE_TIMEOUT, AppClient, locked
from ..helpers import gql

app_client = faults.app_client  # the short-timeout app of the fault tests

PAGE = "{ resources(first: 20) { unavailableNodes edges { node { code } } } }"


async def test_queued_time_is_not_charged_to_the_nodes(app_client: AppClient, cluster: Cluster) -> None:
    # One request at a time; each waits NODE_TIMEOUT on the locked node, so the last one queues for
    # about twice the node timeout: yet only the locked node is reported, never the healthy ones.
    async with app_client(max_in_flight=1, queue_timeout=10.0) as client, locked(cluster, "650100"):
        started = time.monotonic()
        answers = await asyncio.gather(*(gql(client, PAGE) for _ in range(3)))
        assert time.monotonic() - started >= 3 * NODE_TIMEOUT * 0.9  # they really ran one after another
        for body, response in answers:
            assert response.status_code == 200
            assert body["data"]["resources"]["unavailableNodes"] == ["650100"]
            assert sorted(e["extensions"]["node"] for e in body["errors"]) == ["650100"]


async def test_a_full_queue_and_a_queue_deadline_answer_503_with_retry_after(app_client: AppClient,
                                                                             cluster: Cluster) -> None:
    async with app_client(max_in_flight=1, max_queue=1, queue_timeout=0.2) as client, locked(cluster, "650100"):
        slow = asyncio.ensure_future(gql(client, PAGE))  # holds the only slot for NODE_TIMEOUT
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(client.post("/graphql", json={"query": PAGE}))  # waits 0.2 s, then 503
        await asyncio.sleep(0.05)
        refused = await client.post("/graphql", json={"query": PAGE})  # the queue is full: 503 at once
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["extensions"]["code"] == "OVERLOADED"
        assert (await client.get("/healthz")).status_code == 200  # health is never queued
        timed_out = await queued
        assert timed_out.status_code == 503 and timed_out.json()["errors"][0]["extensions"]["code"] == "OVERLOADED"
        body, response = await slow
        assert response.status_code == 200 and body["data"]["resources"]["unavailableNodes"] == ["650100"]
        metrics = (await client.get("/metrics")).text
        assert "govshare_admission_refused_total 2.0" in metrics
        assert "govshare_requests_in_flight 0.0" in metrics and "govshare_requests_queued 0.0" in metrics
        body, response = await gql(client, PAGE)  # once the slot is free, requests run again
        assert response.status_code == 200, body
        assert body["data"]["resources"]["unavailableNodes"] == ["650100"]


def test_admission_hands_slots_over_in_order() -> None:
    from govshare.server.admission import Admission

    async def run() -> list[int]:
        gate = Admission(limit=1, max_queue=10, queue_timeout=5)
        order: list[int] = []

        async def one(i: int) -> None:
            assert await gate.enter()
            order.append(i)
            await asyncio.sleep(0.01)
            gate.leave()

        await asyncio.gather(*(one(i) for i in range(5)))
        assert gate.in_flight == 0
        return order

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


