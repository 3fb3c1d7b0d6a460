"""What a node's server may send is size-limited on the connection (federation/answers.py): a message
(one row) over the limit is refused from its header, before asyncpg reads its body, and an answer over
the limit is cut off; either way only that node's rows are lost. The limits are lowered here so that the
test sends megabytes, not the gigabyte a value may hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from govshare.federation import answers

from ..conftest import Cluster
from ..helpers import gql

NODE = "650200"
PAGE = '{ departments(first: 100, nodes: ["650100", "650200"]) { edges { node { code name } } unavailableNodes } }'


@asynccontextmanager
async def _long_names(cluster: Cluster, count: int, length: int) -> AsyncIterator[None]:
    """``count`` of 650200's departments with names of ``length`` characters (its owner's doing)."""
    conn = await cluster.connect(NODE)
    try:
        saved = await conn.fetch("select code, name_zh from departments where node_code = $1 order by code limit $2",
                                 NODE, count)
        await conn.execute("update departments set name_zh = repeat('长', $2) where code = any($1::text[])",
                           [r["code"] for r in saved], length)
        yield
    finally:
        for row in saved:
            await conn.execute("update departments set name_zh = $2 where code = $1", row["code"], row["name_zh"])
        await conn.close()


def _nodes(body: dict[str, object]) -> tuple[set[str], list[str]]:
    page = body["data"]["departments"]  # type: ignore[index]
    return {e["node"]["code"][:6] for e in page["edges"]}, page["unavailableNodes"]


@pytest.mark.parametrize(("count", "length"), [(1, 700_000), (40, 80_000)], ids=["one row", "one answer"])
async def test_an_answer_over_the_limits_costs_only_its_node(client: httpx.AsyncClient, cluster: Cluster,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            count: int, length: int) -> None:
    # one row of 2.1 MB over a 1 MiB message limit; 650200's departments (a dozen or more) of 240 kB each,
    # over a 2 MiB answer limit
    monkeypatch.setattr(answers, "MAX_MESSAGE_BYTES", 1 << 20)
    monkeypatch.setattr(answers, "MAX_ANSWER_BYTES", 2 << 20)
    before, _ = await gql(client, PAGE)
    assert _nodes(before) == ({"650100", "650200"}, []), before
    async with _long_names(cluster, count, length):
        during, _ = await gql(client, PAGE)
    assert _nodes(during) == ({"650100"}, [NODE]), during
    after, _ = await gql(client, PAGE)  # the pool connects again
    assert after == before


def test_the_framing_is_followed_across_reads() -> None:
    """Messages split anywhere between reads (a header in two pieces) are still counted right."""
    def message(kind: bytes, body: bytes) -> bytes:
        return kind + (len(body) + 4).to_bytes(4, "big") + body

    stream = message(b"D", b"x" * 100) + message(b"Z", b"I") + message(b"D", b"y" * 300) + message(b"Z", b"I")
    for cut in range(1, len(stream)):
        limiter = answers._Limiter(None, None, "test")  # type: ignore[arg-type]
        assert limiter._within(stream[:cut]) and limiter._within(stream[cut:])
        assert limiter._body == 0 and limiter._header == b"" and limiter._answer == 0
    big = message(b"D", b"z" * 64)
    limiter = answers._Limiter(None, None, "test")  # type: ignore[arg-type]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answers, "MAX_MESSAGE_BYTES", 63)
        assert not limiter._within(big[:5])  # refused from its header alone


def test_each_answer_is_counted_apart_within_one_read() -> None:
    """Answers end at their ReadyForQuery: two under the limit in one read pass, one over it is refused even
    when its ReadyForQuery and the next answer come in the same read."""
    def message(kind: bytes, body: bytes) -> bytes:
        return kind + (len(body) + 4).to_bytes(4, "big") + body

    row = message(b"D", b"x" * 95)  # 100 bytes
    ready = message(b"Z", b"I")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answers, "MAX_ANSWER_BYTES", 300)
        limiter = answers._Limiter(None, None, "test")  # type: ignore[arg-type]
        assert limiter._within((row * 3 + ready) * 3) and limiter._answer == 0
        assert limiter._within(row * 2) and limiter._answer == 200
        assert not limiter._within(row * 4 + ready + row)  # 400 bytes, then its end and another answer
        limiter = answers._Limiter(None, None, "test")  # type: ignore[arg-type]
        assert not limiter._within(row * 3 + row[:5])  # over from the fourth row's header
