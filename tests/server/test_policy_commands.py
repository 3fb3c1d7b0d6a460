"""`govshare policy`: the command line goes through the API's validation, history and enforcement."""

from __future__ import annotations

import httpx

from ..admin_helpers import run_govshare, until
from ..conftest import Cluster
from ..helpers import gql, token

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
