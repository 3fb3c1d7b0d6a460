"""Turns of the event loop for heavy steps: at most one heavy step runs per turn.

A request at every limit (several 1,000-row pages, `in` lists of the most values allowed) spends a few
milliseconds of CPU per heavy step, and its heavy steps tend to become ready together: their audit records
are written in one batch, a fan-out's statements are sent at once. Run in the same turn of the loop, those
steps add up, and every other request (a health check, a one-row read) waits for all of them. A heavy step
that takes a turn first runs alone in its turn, with everything else that is ready served between them.

Only steps known to be heavy take turns. Asking on every step was tried: it spread nothing more and made
the worst stall longer (more turns, each with the same heavy steps), so it is not done.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    """One heavy step per turn of the running event loop, first come first served.

    ``take()`` returns at once when no heavy step has run in this turn; otherwise it waits for a later turn
    of its own. Waiting steps are futures handed on one per turn, never a polling loop.
    """

    def __init__(self) -> None:
        self._taken = False
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Turns are a loop's: pools used on another loop (a CLI command after the app's loop closed)
        never wait for a hand-on that a closed loop will not run."""
        self._loop = loop
        self._taken = False
        self._waiting.clear()

    async def take(self) -> None:
        """Wait until this task's next step is the only heavy step of its turn of the loop."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._on(loop)
        if not self._taken:
            self._taken = True
            # Runs in the next turn: callbacks scheduled during a turn wait for the one after it.
            loop.call_soon(self._hand_on)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        await waiter  # cancelled with its request: _hand_on skips it

    def _hand_on(self) -> None:
        """The turn that took it has ended: wake the next waiter for the turn after this one."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                # The waiter resumes in the next turn, ahead of this callback scheduled after it: the turn
                # stays taken until that step has run.
                asyncio.get_running_loop().call_soon(self._hand_on)
                return
        self._taken = False
