"""A Casbin adapter over the ``policy_rules`` table, on asyncpg."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import asyncpg
from casbin.persist.adapters.asyncio import AsyncAdapter

from .rules import Rule, SkippedRule, loadable

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.csv"
VALUE_COLUMNS = ("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7")
SELECT_RULES = """select id, ptype, v0, v1, v2, v3, v4, v5, v6, v7 from policy_rules where removed_at is null
                  order by id"""
INSERT_RULE = """insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, v7, note)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing"""
DELETE_RULE = """delete from policy_rules where ptype = $1 and v0 = $2 and v1 = $3 and v2 = $4 and v3 = $5
                 and v4 = $6 and v5 = $7 and v6 = $8 and v7 = $9"""
BOOTSTRAPPED = "select 1 from govshare_meta where key = 'policy_bootstrapped'"
MARK_BOOTSTRAPPED = """insert into govshare_meta (key, value) values ('policy_bootstrapped', to_jsonb(now()))
                       on conflict (key) do nothing"""


def _padded(rule: list[str]) -> list[str]:
    if len(rule) > len(VALUE_COLUMNS):
        raise ValueError(f"a policy rule has at most {len(VALUE_COLUMNS)} values: {rule}")
    return [*rule, *[""] * (len(VALUE_COLUMNS) - len(rule))]


def default_rules(path: Path = DEFAULT_POLICY) -> list[tuple[str, list[str]]]:
    rules = []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    for row in csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True):
        rules.append((row[0].strip(), [v.strip() for v in row[1:]]))
    return rules


async def bootstrap(conn: asyncpg.Connection) -> bool:
    """Write the default rules once per database; later edits (even deleting them all) are kept."""
    async with conn.transaction():
        if await conn.fetchval(BOOTSTRAPPED):
            return False
        for ptype, rule in default_rules():
            await conn.execute(INSERT_RULE, ptype, *_padded(rule), "default policy")
        await conn.execute(MARK_BOOTSTRAPPED)
    return True


class AsyncpgAdapter(AsyncAdapter):  # type: ignore[misc]
    """Loads every live rule that can be enforced; the others are skipped and listed (fail closed).

    After ``load_policy``: ``rules`` are the loaded rules in model order (with their ids) and
    ``skipped`` the rows left out, with why. Edits go through resolvers/rules.py, not this adapter.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.rules: list[Rule] = []
        self.skipped: list[SkippedRule] = []

    async def load_policy(self, model: Any) -> None:
        self.rules, self.skipped = [], []
        for record in await self._pool.fetch(SELECT_RULES):
            values = [record[c] for c in VALUE_COLUMNS]
            while values and values[-1] == "":
                values.pop()
            rule = loadable(record["id"], record["ptype"], values)
            if isinstance(rule, SkippedRule):
                self.skipped.append(rule)
                continue
            model.model["p"]["p"].policy.append(rule.values())
            self.rules.append(rule)

    async def save_policy(self, model: Any) -> bool:
        raise NotImplementedError("rules are edited one at a time")

    async def add_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        await self._pool.execute(INSERT_RULE, ptype, *_padded(rule), None)
        return True

    async def remove_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        await self._pool.execute(DELETE_RULE, ptype, *_padded(rule))
        return True

    async def remove_filtered_policy(self, sec: str, ptype: str, field_index: int, *field_values: str) -> bool:
        raise NotImplementedError("rules are removed one at a time")
