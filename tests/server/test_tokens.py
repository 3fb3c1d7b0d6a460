"""The demo-token command mints a token only for a department the catalog serves (README *Trust model*):
the row must come from the database hosting its code's node and name a node that database hosts, as for
the server's known departments, which would otherwise refuse the token with 403 UNKNOWN_DEPARTMENT."""

from __future__ import annotations

import httpx
import pytest

from govshare.core.errors import BadRequest, UnknownDepartment
from govshare.core.settings import Settings
from govshare.federation import answers
from govshare.server.cli import main
from govshare.server.databases import SERVICE_LOGIN
from govshare.server.departments import KnownDepartments
from govshare.server.tokens import check_department

from ..conftest import DATABASE, TOPOLOGY, Cluster, cli_environment

INSERT = """insert into departments (code, node_code, level, division_code, name_zh, sector)
    values ($1, $2, $3, $2, '测试部门', 'government')"""

# (database the row is planted in, code, the row's node_code, level, minted?)
PLANTED = [
    ("650200", "650200-ZB", "650100", "prefecture", False),  # 650200's row naming node 650100: served by nothing
    ("650200", "650100-ZB", "650200", "prefecture", False),  # another node's code: its own database has no row
    ("650200", "650200-ZC", "650200", "prefecture", True),   # 650200's own
    ("650000", "654300-ZB", "654300", "prefecture", True),   # a hosted prefecture's, in its host's database
    ("650000", "659999-ZB", "650000", "region", False),      # no node 659999 in the topology
]


def _settings(cluster: Cluster) -> Settings:
    return Settings(topology_path=TOPOLOGY, dsns={n.code: cluster.dsn(n.code) for n in cluster.topology.databases})


async def _outcome(settings: Settings, code: str) -> bool:
    try:
        await check_department(settings, code)
    except BadRequest:
        return False
    return True


async def _known(known: KnownDepartments, code: str) -> bool:
    try:
        await known.check(code)
    except UnknownDepartment:
        return False
    return True


async def test_tokens_only_for_departments_the_catalog_serves(client: httpx.AsyncClient, cluster: Cluster) -> None:
    settings = _settings(cluster)
    known = KnownDepartments(client.app.state.pools)  # type: ignore[attr-defined]
    conns = {db: await cluster.connect(db) for db in {p[0] for p in PLANTED}}
    try:
        for db, code, node, level, _ in PLANTED:
            await conns[db].execute(INSERT, code, node, level)
        await known.refresh()
        minted = {code: await _outcome(settings, code) for _, code, *_ in PLANTED}
        served = {code: await _known(known, code) for _, code, *_ in PLANTED}
        # seeded departments of every shape: region, prefecture, county, institutions
        seeded = {code: await _outcome(settings, code)
                  for code in ("650000-GA", "650100-MZ", "650100-CA-MZ", "650000-JG-YH", "650100-JG-YY")}
    finally:
        for db, code, node, *_ in PLANTED:
            await conns[db].execute("delete from departments where code = $1 and node_code = $2", code, node)
        for conn in conns.values():
            await conn.close()
    assert minted == {code: expected for _, code, _, _, expected in PLANTED}
    assert minted == served  # the command and the server agree on every row
    assert seeded == dict.fromkeys(seeded, True)


def test_the_command_mints_for_an_institution(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              cluster: Cluster) -> None:
    # an institution's code (<node>-JG-<kind>, README Institutions outside government) is a department code;
    # the command's refusal of an unserved row in one line: tests/server/test_cli.py
    cli_environment(monkeypatch, cluster)
    assert main(["token", "650100-JG-YY", "--ttl", "60"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.count(".") == 2


EVIL_EQUALS = [
    "create function public.t4_always(text, text) returns boolean language sql immutable as 'select true'",
    "create operator public.= (leftarg = text, rightarg = text, function = public.t4_always)",
    f"alter role {SERVICE_LOGIN} in database {DATABASE} set search_path = public, pg_catalog",
]
UNDO_EVIL_EQUALS = [
    f"alter role {SERVICE_LOGIN} in database {DATABASE} reset search_path",
    "drop operator if exists public.= (text, text)",
    "drop function if exists public.t4_always(text, text)",
]


async def test_a_prefecture_server_cannot_make_its_filter_pass_every_code(cluster: Cluster) -> None:
    # The owner of 650200's database puts an '=' of its own before pg_catalog's on the service login's
    # search_path: 'code = $1' then matches every row. The command pins search_path as the service's pools do.
    settings = Settings(topology_path=TOPOLOGY,
                        dsns={n.code: n.dsn or "" for n in cluster.service_topology.databases})
    conn = await cluster.connect("650200")
    try:
        for sql in EVIL_EQUALS:
            await conn.execute(sql)
        minted = await _outcome(settings, "650200-QQ")
    finally:
        for sql in UNDO_EVIL_EQUALS:
            await conn.execute(sql)
        await conn.close()
    assert not minted


async def test_the_command_reads_a_catalog_through_a_size_limited_connection(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own connection counts the server's messages as the service's pools do
    (federation/answers.py): a message over the limit closes it, and the catalog counts as not answering
    (the code's format only, said in the note), never a stack trace. The limit is lowered to below the
    answer's row description so that an ordinary answer is over it."""
    settings = _settings(cluster)
    assert await check_department(settings, "650100-MZ") is None
    monkeypatch.setattr(answers, "MAX_MESSAGE_BYTES", 8)
    note = await check_department(settings, "650100-MZ")
    assert note is not None and "format only" in note
