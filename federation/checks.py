"""Every node's DSN tried once before serving: a wrong DSN stops the start with one line naming the
setting, a node that only does not answer is a warning (the service starts without it).

Separate from the pools: this runs once, with connections of its own, before any pool exists.
"""

from __future__ import annotations

import asyncio

import asyncpg

from govshare.core.errors import ConfigurationError

from .answers import LimitedConnection
from .topology import Topology

# Answers that no retry will change: the DSN itself is wrong.
MISCONFIGURED: tuple[type[BaseException], ...] = (
    asyncpg.InvalidCatalogNameError,                   # no such database
    asyncpg.InvalidAuthorizationSpecificationError,    # no such role, or not allowed to connect
    asyncpg.InvalidPasswordError,
    asyncpg.ClientConfigurationError,
    ValueError,                                        # asyncpg could not parse the DSN
)


async def check_nodes(topology: Topology, timeout: float) -> dict[str, str]:
    """Try every node's DSN once before serving.

    A DSN the server refuses for good (missing database, unknown role, bad password, unparsable)
    raises ConfigurationError naming the setting and the node. A node that does not answer (closed
    port, down, frozen) is returned as a warning: the service starts without it and /readyz reports
    it, because a prefecture's outage must not keep the whole platform down.
    """
    async def one(code: str, dsn: str) -> tuple[str, str | None]:
        try:
            # as the pools connect (federation/answers.py), though it is closed right after the startup
            conn = await asyncpg.connect(dsn, timeout=timeout, connection_class=LimitedConnection)
        except MISCONFIGURED as exc:
            raise ConfigurationError(f"GOVSHARE_DSN_{code} (node {code}): {_first_line(exc)}") from exc
        except Exception as exc:
            return code, f"node {code} (GOVSHARE_DSN_{code}) does not answer ({_first_line(exc)}): " \
                         "serving without it until it does"
        conn.terminate()  # a reachability test only: no goodbye round trip
        return code, None

    results = await asyncio.gather(*(one(n.code, n.dsn or "") for n in topology.databases))
    return {code: warning for code, warning in results if warning is not None}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
