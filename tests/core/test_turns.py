"""Heavy steps take turns of the event loop: one per turn, in order, never lost to a cancelled waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from govshare.core.turns import Turns


def turn_counter() -> tuple[list[int], Callable[[], None]]:
    """A callback that re-schedules itself: it runs once per turn of the loop and counts them."""
    count = [0]
    running = [True]

    def tick() -> None:
        count[0] += 1
        if running[0]:
            asyncio.get_running_loop().call_soon(tick)

    asyncio.get_running_loop().call_soon(tick)
    return count, lambda: running.__setitem__(0, False)


async def heavy_steps(turns: Turns, names: list[str], log: list[tuple[str, int]], count: list[int],
                      ready: asyncio.Event) -> None:
    async def step(name: str) -> None:
        await ready.wait()  # all resume in the same turn, as the pages of one audit batch do
        await turns.take()
        log.append((name, count[0]))

    await asyncio.gather(*(step(name) for name in names))


async def test_steps_ready_in_one_turn_run_in_successive_turns_in_order() -> None:
    turns, log, ready = Turns(), [], asyncio.Event()
    count, stop = turn_counter()
    task = asyncio.create_task(heavy_steps(turns, ["a", "b", "c"], log, count, ready))
    await asyncio.sleep(0)
    ready.set()
    await task
    stop()
    assert [name for name, _ in log] == ["a", "b", "c"]
    assert len({turn for _, turn in log}) == 3  # never two in one turn


async def test_without_contention_a_step_does_not_wait() -> None:
    turns = Turns()
    count, stop = turn_counter()
    await asyncio.sleep(0)
    before = count[0]
    await turns.take()
    assert count[0] == before  # returned within the same turn
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await turns.take()  # the turn was handed back: free again
    stop()


async def test_a_cancelled_waiter_does_not_hold_the_turns() -> None:
    turns = Turns()
    first, waiting, after = (asyncio.create_task(turns.take()) for _ in range(3))
    await asyncio.sleep(0)  # all three asked in one turn: the first has it, the others wait
    assert first.done() and not waiting.done() and not after.done()
    waiting.cancel()
    await asyncio.wait_for(after, 1)
    assert waiting.cancelled()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not turns._taken and not turns._waiting  # idle again: nothing left behind


def test_turns_left_taken_by_a_closed_loop_do_not_hold_the_next_loop() -> None:
    turns = Turns()

    async def take_and_stop() -> None:
        await turns.take()  # its hand-on is scheduled for the next turn, which this loop never runs
        asyncio.get_running_loop().stop()

    loop = asyncio.new_event_loop()
    task = loop.create_task(take_and_stop())
    loop.run_forever()
    assert task.done()
    loop.close()
    assert turns._taken
    asyncio.run(asyncio.wait_for(turns.take(), 1))  # another loop: taken at once, not waited for forever
