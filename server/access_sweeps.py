"""The scheduled sweep of authorised database access: every process closes, every ``SWEEP_SECONDS``, the
accesses whose grant was revoked or expired (revocation closes its access at once; this catches expiry,
and revocations whose node did not answer then). Closing is idempotent, so processes may overlap."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from govshare.core.errors import GovshareError
from govshare.federation.nodes import NodePools
from govshare.resolvers import access_roles

logger = logging.getLogger("govshare.database_access")

SWEEP_SECONDS = 30.0


class AccessSweeper:
    def __init__(self, pools: NodePools, seconds: float = SWEEP_SECONDS) -> None:
        self.pools = pools
        self.seconds = seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                closed = await access_roles.sweep(self.pools)
                if closed:
                    logger.info("closed %d database access(es) of revoked or expired grants", closed)
            except GovshareError as exc:
                logger.warning("database access sweep skipped: %s", exc.message)
            await asyncio.sleep(self.seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
