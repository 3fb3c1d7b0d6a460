"""``SingleFlight``: the refresh a stream of catalog NOTIFYs may cost (server/app.py). One run at a time, at
most one per interval, and every caller's change read by a run that started after the caller asked."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from govshare.federation.listener import SingleFlight


async def test_callers_during_a_run_share_one_trailing_run_that_starts_after_them() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    running = 0

    async def work() -> int:
        nonlocal running
        running += 1
        assert running == 1, "two runs at once"
        starts.append(loop.time())
        await asyncio.sleep(0.05)
        running -= 1
        return len(starts)

    flight = SingleFlight(work, min_interval=0.2)
    first = asyncio.ensure_future(flight())
    await asyncio.sleep(0.01)  # the first run is in progress
    asked = loop.time()
    later = await asyncio.gather(*(flight() for _ in range(20)))
    assert await first == 1
    assert later == [2] * 20, "the callers during the first run share the second"
    assert starts[1] > asked and starts[1] - starts[0] >= 0.2 - 1e-3
    assert flight.runs == 2


async def test_a_stream_of_callers_costs_one_run_per_interval() -> None:
    runs: list[float] = []

    async def work() -> None:
        runs.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.01)

    flight = SingleFlight(work, min_interval=0.25)
    callers = []
    for _ in range(40):  # a caller every 25 ms for 1 s, each arriving when no run is in progress
        callers.append(asyncio.ensure_future(flight()))
        await asyncio.sleep(0.025)
    await asyncio.gather(*callers)
    assert len(runs) <= 1 + 1.0 / 0.25 + 1, runs
    assert all(b - a >= 0.25 - 1e-3 for a, b in pairwise(runs))


async def test_a_failed_run_fails_its_callers_and_the_next_run_still_happens() -> None:
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        if calls == 1:
            raise RuntimeError("node down")
        return calls

    flight = SingleFlight(work)
    first = asyncio.ensure_future(flight())
    await asyncio.sleep(0.005)
    second = asyncio.ensure_future(flight())
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] == 2
