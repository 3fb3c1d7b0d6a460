"""`govshare policy`: the command line goes through the API's validation, history and enforcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from govshare.server.cli import main
from govshare.server.identity import mint_demo_token

from ..admin_helpers import run_govshare, until
from ..conftest import Cluster
from ..helpers import SECRET, gql, token

POPULATION = "650000-B01-000001"


async def test_add_explain_history_revert(client: httpx.AsyncClient, cluster: Cluster) -> None:
    added = await run_govshare(cluster, "policy", "add", "--subject", "650200-SJ", "--resource", POPULATION,
                               "--item", "household_type", "--effect", "deny", "--reason", "cli test")
    assert added.returncode == 0, added.stderr
    rule_id = int(added.stdout.split()[1])
    change_id = int(added.stdout.split("(change ")[1].split(")")[0])

    async def denied() -> bool:
        body, _ = await gql(client, "{ population(first: 1) { nodes { householdType } } }",
                            Authorization=f"Bearer {token('650200-SJ')}")
        return any(e["extensions"].get("rules") == [rule_id] for e in body.get("errors", []))

    assert await until(denied)
    explained = await run_govshare(cluster, "policy", "explain", "650200-SJ", POPULATION, "household_type")
    assert explained.stdout.startswith("DENIED (POLICY_DENIED)") and f"matched {rule_id}" in explained.stdout
    assert f"access rule {rule_id}" in explained.stdout
    listed = await run_govshare(cluster, "policy", "rules", "--applies-to", "650200-SJ", "--effect", "deny")
    assert str(rule_id) in [line.split()[0] for line in listed.stdout.splitlines()]
    changes = await run_govshare(cluster, "policy", "history", "--resource", POPULATION, "--limit", "3")
    assert f"{change_id:>5}" in changes.stdout and "cli-operator" in changes.stdout and "rule.add" in changes.stdout
    # trial-s8 F4: each change's time carries its zone (UTC), as ISO 8601: it was printed bare beside CST days
    [at] = [line.split()[1] for line in changes.stdout.splitlines() if line.split()[0] == str(change_id)]
    assert at.endswith("Z") and abs(datetime.fromisoformat(at) - datetime.now(UTC)) < timedelta(minutes=10)
    reverted = await run_govshare(cluster, "policy", "revert", str(change_id), "--reason", "cli test over")
    assert reverted.returncode == 0 and "(rule.remove)" in reverted.stdout, reverted.stderr

    async def cleared() -> bool:
        return not await denied()

    assert await until(cleared)


async def test_bad_input_is_one_clear_line(cluster: Cluster) -> None:
    cases = [
        (["add", "--subject", "kind:XX", "--resource", POPULATION, "--effect", "deny"], "no department is of kind"),
        (["add", "--subject", "*", "--resource", POPULATION, "--effect", "Deny"], "effect 'Deny' is not one of"),
        (["add", "--subject", "*", "--resource", POPULATION, "--action", "write", "--effect", "deny"],
         "action 'write' is not one of *, read, verify"),
        (["reclassify", POPULATION, "phone", "NOT_SHARED"], "requires the legal basis"),
        (["remove", "999999"], "no live rule 999999"),
    ]
    for args, message in cases:
        done = await run_govshare(cluster, "policy", *args, "--reason", "r")
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


async def test_by_acts_with_the_roles_that_user_holds(cluster: Cluster) -> None:
    """--by is not only a name in the history: the user named decides with the roles they hold, as over GraphQL,
    so no change is attributed to a user whose roles would not allow it."""
    conn = await cluster.connect("650100")
    try:
        local = await conn.fetchrow("""select r.code, i.name from resources r join data_items i on i.resource_code = r.code
            where r.node_code = '650100' and i.share_class = 'UNCONDITIONAL' order by r.code limit 1""")
    finally:
        await conn.close()
    refusals = [
        (["policy", "add", "--subject", "650200-RS", "--resource", POPULATION, "--item", "sex", "--effect", "deny",
          "--reason", "r", "--by", "admin.urumqi"], "policy.write in domain 650000 needs"),  # a prefecture admin
        (["policy", "add", "--subject", "650200-RS", "--resource", local["code"], "--item", local["name"],
          "--effect", "deny", "--reason", "r", "--by", "developer.urumqi"], "developer.urumqi holds"),
        (["role", "assign", "mallory", "policy_admin", "--domain", "650000", "--reason", "r", "--by", "mallory"],
         # never served by the API: no department known, and none invented (trial-s7 F6: "developer@cli")
         "needs one of the roles policy_admin held in domain 650000; mallory holds developer (in their department's "
         "node)"),
    ]
    for args, message in refusals:
        done = await run_govshare(cluster, *args)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)
    history = await run_govshare(cluster, "policy", "history", "--limit", "50")
    assert "developer.urumqi" not in history.stdout and "mallory" not in history.stdout

    # within the user's own domain the change is made, and recorded under that user
    added = await run_govshare(cluster, "policy", "add", "--subject", "650200-RS", "--resource", local["code"],
                               "--item", local["name"], "--effect", "deny", "--reason", "local", "--by", "admin.urumqi")
    assert added.returncode == 0, added.stderr
    change_id = int(added.stdout.split("(change ")[1].split(")")[0])
    history = await run_govshare(cluster, "policy", "history", "--resource", local["code"], "--limit", "1")
    assert f"{change_id:>5}" in history.stdout and "admin.urumqi" in history.stdout
    removed = await run_govshare(cluster, "policy", "remove", added.stdout.split()[1], "--reason", "over",
                                 "--by", "admin.urumqi")
    assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize(("limit", "problem"), [("0", "must be between 1 and 500, got 0"),
                                                ("-1", "must be between 1 and 500, got -1"),
                                                ("501", "must be between 1 and 500, got 501"),
                                                ("ten", "not an integer: 'ten'")])
def test_a_bad_limit_names_the_option_not_the_apis_argument(capsys: pytest.CaptureFixture[str], limit: str,
                                                            problem: str) -> None:
    with pytest.raises(SystemExit) as exited:  # refused by the parser: no database is opened
        main(["policy", "history", "--limit", limit])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.endswith(f"argument --limit: {problem}\n"), err
    assert "first" not in err


async def test_a_users_implicit_role_is_in_the_node_the_api_served_them_for(client: httpx.AsyncClient,
                                                                          cluster: Cluster) -> None:
    """--by without a token: the implicit developer role is shown in the node of the department the API last
    served that user for (as `me { roles }` shows it), never in a domain 'cli'."""
    user = "trial.developer"
    body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }",
                        Authorization=f"Bearer {mint_demo_token(SECRET, '650200-RS', user=user)}")
    assert "data" in body
    region = await cluster.connect(cluster.topology.region.code)
    try:
        async def recorded() -> bool:
            return bool(await region.fetchval("select count(*) from audit_log where user_id = $1", user))

        assert await until(recorded)
    finally:
        await region.close()
    done = await run_govshare(cluster, "role", "assign", "mallory", "supervisor", "--domain", "650000",
                              "--reason", "r", "--by", user)
    assert done.returncode == 2, done.stderr
    assert done.stderr.endswith(f"; {user} holds developer@650200\n"), done.stderr


async def test_the_by_lookup_reads_the_homes_the_checkpointer_keeps(client: httpx.AsyncClient,
                                                                  cluster: Cluster) -> None:
    """audit_log has no index by user: the checkpointer keeps each user's home department (audit_user_homes,
    migration 0041) and --by reads it, plus only the records after what it covers (closing7 "Left")."""
    user = "trial.homes"
    body, _ = await gql(client, "{ population(first: 1) { nodes { name } } }",
                        Authorization=f"Bearer {mint_demo_token(SECRET, '650200-RS', user=user)}")
    assert "data" in body
    region = await cluster.connect(cluster.topology.region.code)
    try:
        async def recorded() -> bool:
            return bool(await region.fetchval("select count(*) from audit_log where user_id = $1", user))

        assert await until(recorded)
        await client.app.state.checkpointer.checkpoint()  # type: ignore[attr-defined]
        home = await region.fetchrow("select department, seq from audit_user_homes where user_id = $1", user)
        assert home is not None and home["department"] == "650200-RS", home
        newest = await region.fetchval("select max(seq) from audit_log where user_id = $1", user)
        assert home["seq"] == newest
        covered = dict(await region.fetch("select lane, lane_seq from audit_user_home_lanes"))
        heads = dict(await region.fetch("select lane, max(lane_seq) from audit_log group by lane"))
        assert covered == heads  # (no request in between: each lane's coverage is its head)
        # The table is what the lookup reads for what it covers: a home moved there shows.
        await region.execute("update audit_user_homes set department = '650100-RS' where user_id = $1", user)
        done = await run_govshare(cluster, "role", "assign", "mallory", "supervisor", "--domain", "650000",
                                  "--reason", "r", "--by", user)
        assert done.stderr.endswith(f"; {user} holds developer@650100\n"), done.stderr
        # A newer record past the coverage wins over the table.
        await gql(client, "{ population(first: 1) { nodes { name } } }",
                  Authorization=f"Bearer {mint_demo_token(SECRET, '653000-SW', user=user)}")

        async def recorded_again() -> bool:
            return bool(await region.fetchval("select count(*) from audit_log where user_id = $1 and department = "
                                              "'653000-SW'", user))

        assert await until(recorded_again)
        done = await run_govshare(cluster, "role", "assign", "mallory", "supervisor", "--domain", "650000",
                                  "--reason", "r", "--by", user)
        assert done.stderr.endswith(f"; {user} holds developer@653000\n"), done.stderr
    finally:
        await region.execute("delete from audit_user_homes where user_id = $1", user)
        await region.close()
