"""Helpers of the policy administration tests: tokens of the demo users, polling, the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from govshare.seed.roles import DEMO_USERS
from govshare.server.identity import mint_demo_token

from .conftest import TOPOLOGY, Cluster
from .helpers import SECRET, audit_key_file


def as_user(user: str, department: str | None = None) -> dict[str, str]:
    """Headers for a demo user (its department) or any user id in ``department``."""
    demo = next((u for u in DEMO_USERS if u.user == user), None)
    dept = department or (demo.department if demo else "650200-GA")
    return {"Authorization": f"Bearer {mint_demo_token(SECRET, dept, user=user)}"}


async def until(check: Callable[[], Awaitable[Any]], seconds: float = 2.0) -> Any:
    """Poll ``check`` until it returns a truthy value or ``seconds`` pass; its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)


def govshare(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env["GOVSHARE_TOPOLOGY"] = str(TOPOLOGY)
    env["GOVSHARE_AUDIT_KEY_FILE"] = str(audit_key_file())  # its changes join the same keyed chain
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in cluster.topology.databases})
    return subprocess.run([sys.executable, "-m", "govshare.server.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def run_govshare(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(govshare, cluster, *args)
