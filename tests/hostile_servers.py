"""A node's PostgreSQL whose owner makes the service's trust filters let foreign rows through.

The catalog's SQL filters (``code ^@ any($n)``, ``left(provider_code, 6) = any($n)``, ...) are evaluated by
the node's own server. Its owner is that server's superuser and can change what the built-in operators
compute, whatever ``search_path`` the service pins on its connections: here the prefix test ``text ^@
text`` becomes true for any text and, with ``equality``, so does ``text = text`` wherever it is evaluated
as a filter (an index scan still compares with the index's own support function). Rows naming another
node's code or provider then pass every filter, so what the service serves from that server is decided by
its checks in Python alone (resolvers/hosting.py). Everything is put back afterwards (changing an operator
invalidates every cached plan, the service's too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

LIE = ("create or replace function public.hostile_true(text, text) returns boolean language sql immutable "
       "as 'select true'")
OPERATOR = "oprname = $1 and oprleft = 'text'::regtype and oprright = 'text'::regtype"
SELECT_CODE = f"select oprcode::oid from pg_operator where {OPERATOR}"
SET_CODE = f"update pg_operator set oprcode = $2::oid::regproc where {OPERATOR}"


@asynccontextmanager
async def filters_passing_everything(cluster: Any, node: str, *, equality: bool = False) -> AsyncIterator[None]:
    """While open, ``node``'s server answers every ``^@`` test (and, ``equality``, every text ``=`` filter)
    true."""
    operators = ["^@", "="] if equality else ["^@"]
    conn = await cluster.connect(node)
    try:
        await conn.execute(LIE)
        lie = await conn.fetchval("select 'public.hostile_true(text, text)'::regprocedure::oid")
        honest = {op: await conn.fetchval(SELECT_CODE, op) for op in operators}
        try:
            async with conn.transaction():
                for op in operators:
                    await conn.execute(SET_CODE, op, lie)
            yield
        finally:
            async with conn.transaction():
                for op, code in honest.items():
                    await conn.execute(SET_CODE, op, code)
            await conn.execute("drop function public.hostile_true(text, text)")
    finally:
        await conn.close()
