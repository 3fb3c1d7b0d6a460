"""Request deadlines: a node is charged only while the request waits on it, overlapping exchanges
with one node count once, and no exchange may end after the request's own deadline."""

from __future__ import annotations

import asyncio

from govshare.federation.deadlines import RequestDeadlines


async def test_a_node_is_charged_only_while_waited_on_and_overlaps_count_once() -> None:
    deadlines = RequestDeadlines(node_timeout=1.0, request_timeout=60.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first = deadlines.begin("650100")
    assert abs(first - (start + 1.0)) < 0.05
    second = deadlines.begin("650100")  # a second statement in flight on the same node
    await asyncio.sleep(0.2)
    deadlines.end("650100")
    deadlines.end("650100")
    assert second <= first
    await asyncio.sleep(0.2)  # waiting on another node, or our own work: not charged to 650100
    now = loop.time()
    third = deadlines.begin("650100")
    # about 0.2 s was spent once (not twice, not 0.4 s with the idle time): about 0.8 s remain
    assert 0.7 < third - now < 0.85
    deadlines.end("650100")
    fresh = deadlines.begin("650200")
    assert abs(fresh - (loop.time() + 1.0)) < 0.05, "another node has its own full budget"


async def test_the_request_deadline_caps_every_node() -> None:
    deadlines = RequestDeadlines(node_timeout=5.0, request_timeout=0.5)
    assert deadlines.begin("650100") <= deadlines.request_deadline
    assert deadlines.request_deadline - asyncio.get_running_loop().time() <= 0.5
