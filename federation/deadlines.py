"""Per-request time budgets for the nodes: one per node and one for the whole request.

Kept apart from the pools because the request path (admission, the app) owns their lifetime: a
request's RequestDeadlines is created when it is admitted and set in ``request_deadlines`` for its
whole execution, and NodePools reads it for every exchange it makes with a node.
"""

from __future__ import annotations

import asyncio
import contextvars

from govshare.core.errors import NodeUnavailable


class RequestDeadlines:
    """One time budget per node for one request, and one deadline for the whole request.

    A node is charged only while the request is waiting on it (acquire, statements, release; time
    with several statements in flight on it counts once), so a healthy node's budget is not used up
    by waiting for another node or by our own work between levels, and time queued for admission is
    never charged. Every exchange with the node shares what is left of its budget. A node that
    failed once fails at once afterwards: a request never waits twice for the same dead node.
    """

    def __init__(self, node_timeout: float, request_timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self.node_timeout = node_timeout
        self.request_deadline = loop.time() + request_timeout
        self._spent: dict[str, float] = {}
        self._busy_since: dict[str, float] = {}
        self._active: dict[str, int] = {}
        self.failed: dict[str, NodeUnavailable] = {}

    def begin(self, database_node: str) -> float:
        """Start waiting on a node; return the absolute deadline of this exchange."""
        now = asyncio.get_running_loop().time()
        active = self._active.get(database_node, 0)
        if active == 0:
            self._busy_since[database_node] = now
        self._active[database_node] = active + 1
        spent = self._spent.get(database_node, 0.0) + now - self._busy_since[database_node]
        return min(now + self.node_timeout - spent, self.request_deadline)

    def end(self, database_node: str) -> None:
        active = self._active[database_node] - 1
        self._active[database_node] = active
        if active == 0:
            now = asyncio.get_running_loop().time()
            self._spent[database_node] = self._spent.get(database_node, 0.0) + now - self._busy_since[database_node]


request_deadlines: contextvars.ContextVar[RequestDeadlines | None] = contextvars.ContextVar(
    "request_deadlines", default=None)
