"""``govshare policy ...``: rules, classes, explain, history and revert from the command line, through
the same resolvers (validation, permission, history, audit) as the GraphQL API."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from govshare.core.settings import Settings
from govshare.policies.decisions import PolicyEngine
from govshare.policies.rules import ACTIONS, EFFECTS, GRANT_STATES, SHARE_CLASSES, Rule
from govshare.resolvers import classes, explanations, history, rules
from govshare.resolvers.administration import Admin
from govshare.resolvers.groups import load_memberships

# Who acts when --by is not given: the operator running the command with the database owner's login, a region
# policy admin by that login's power. A --by naming anyone else acts with that user's own roles, as over GraphQL:
# the history never attributes to a user a change their roles would not allow.
OPERATOR = "cli-operator"
BY_HELP = f"act as this user, with the roles they hold (default {OPERATOR}: the operator, a region policy admin)"

AdminFactory = Callable[[Settings, str], Awaitable[tuple[Admin, Any, Any]]]
Group = Callable[..., "argparse._SubParsersAction[argparse.ArgumentParser]"]


def utc_moment(value: datetime) -> str:
    """A moment as the command line prints it: ISO 8601 in UTC with its zone, as `audit verify` does (grant
    validity beside it is in China Standard Time days: an unlabelled time read as either was a day off)."""
    return f"{value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: Group) -> None:
    policy = group(sub, "policy", "access rules, item classes, explain, history",
                   "policy_command")
    listing = policy.add_parser("rules", help="live access rules (also stored rows that cannot be loaded)")
    listing.add_argument("--applies-to", default=None, help="only rules that apply to this department")
    listing.add_argument("--resource", default=None, help="only rules whose resource matches this code")
    listing.add_argument("--effect", default=None, choices=EFFECTS, help="only allow or deny rules")
    add = policy.add_parser("add", help="add an access rule")
    add.add_argument("--subject", required=True,
                     help="*, a department code, kind:MZ, level:county, node:650100 or group:<name>")
    add.add_argument("--resource", required=True, help="resource code or pattern with *")
    add.add_argument("--item", default="*", help="item name or pattern with * (default *)")
    add.add_argument("--class", dest="share_class", default="*", help=f"*, {', '.join(SHARE_CLASSES)}")
    add.add_argument("--action", default="*", help=f"*, {', '.join(ACTIONS)}")
    add.add_argument("--grant-state", default="*", help=f"*, {', '.join(GRANT_STATES)}")
    add.add_argument("--effect", required=True, help="allow or deny")
    add.add_argument("--reason", required=True, help="why (recorded in the policy history)")
    remove = policy.add_parser("remove", help="remove an access rule by id")
    remove.add_argument("id", type=int, help="rule id (see policy rules)")
    remove.add_argument("--reason", required=True, help="why (recorded)")
    reclassify = policy.add_parser("reclassify", help="change a data item's share class")
    reclassify.add_argument("resource", help="resource code")
    reclassify.add_argument("item", help="item name")
    reclassify.add_argument("share_class", metavar="CLASS", help=", ".join(SHARE_CLASSES))
    reclassify.add_argument("--condition", default=None, help="the condition (required for CONDITIONAL)")
    reclassify.add_argument("--legal-basis", default=None, help="the law forbidding sharing (for NOT_SHARED)")
    reclassify.add_argument("--reason", required=True, help="why (recorded)")
    explain = policy.add_parser("explain", help="why may a department (not) read or verify an item")
    explain.add_argument("department", help="department code")
    explain.add_argument("resource", help="resource code")
    explain.add_argument("item", help="item name")
    explain.add_argument("--action", default="read", choices=ACTIONS, help="read (default) or verify")
    explain.add_argument("--purpose", default=None, help="the purpose a query would state")
    changes = policy.add_parser("history", help="policy changes, newest first")
    changes.add_argument("--resource", default=None, help="only changes of this resource")
    changes.add_argument("--department", default=None, help="only changes naming this department")
    changes.add_argument("--limit", type=_limit, default=20, help="at most this many (default 20)")
    revert = policy.add_parser("revert", help="revert a change (a new change, recorded)")
    revert.add_argument("id", type=int, help="change id (see policy history)")
    revert.add_argument("--reason", required=True, help="why (recorded)")
    for parser in (listing, add, remove, reclassify, explain, changes, revert):
        parser.add_argument("--by", default=OPERATOR, help=BY_HELP)


def _limit(text: str) -> int:
    """--limit checked here, so that its error names the option (the API's names the argument 'first')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= history.MAX_CHANGES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {history.MAX_CHANGES}, got {value}")
    return value


def run(settings: Settings, args: argparse.Namespace, admin_factory: AdminFactory) -> int:
    async def go() -> int:
        admin, pools, server = await admin_factory(settings, args.by)
        try:
            engine = await PolicyEngine.load(pools.pool(admin.region), await load_memberships(pools))
            for line in await _command(admin, engine, args):
                print(line)
            return 0
        finally:
            await pools.close()
            if server is not None:
                server.stop()

    return asyncio.run(go())


def _rule_line(rule: Rule, extra: str = "") -> str:
    return (f"{rule.id:>5}  {rule.effect:<5} {rule.subject:<18} {rule.resource:<20} {rule.item:<22} "
            f"class={rule.share_class} action={rule.action} grant={rule.grant}{extra}")


async def _command(admin: Admin, engine: PolicyEngine, args: argparse.Namespace) -> list[str]:
    command = args.policy_command
    if command == "rules":
        found = await rules.listed(admin, engine, rules.RuleFilter(applies_to=args.applies_to,
                                                                   resource=args.resource, effect=args.effect))
        return [_rule_line(r.rule, f"  domain={r.domain}" + ("" if r.loaded else f"  SKIPPED: {r.problem}"))
                for r in found]
    if command == "add":
        rule = Rule(args.subject, args.resource, args.item, args.share_class, args.action, args.grant_state,
                    args.effect)
        stored, change = await rules.add(admin, engine, rule, args.reason)
        return [f"rule {stored.id} added (change {change.id})", _rule_line(stored)]
    if command == "remove":
        removed, change = await rules.remove(admin, args.id, args.reason)
        return [f"rule {removed.id} removed (change {change.id})"]
    if command == "reclassify":
        change = await classes.reclassify(admin, args.resource, args.item, args.share_class, args.condition,
                                          args.legal_basis, args.reason)
        return [f"{args.resource} {args.item}: {change.before['shareClass']} -> {change.after['shareClass']} "
                f"(change {change.id})"]
    if command == "explain":
        explained = await explanations.explain(admin, engine, args.department, args.resource, args.item, args.action,
                                           args.purpose)
        decision = explained.decision
        lines = [f"{'ALLOWED' if decision.allowed else 'DENIED'}"
                 + (f" ({decision.reason.value})" if decision.reason else "")
                 + f": {args.department} {args.action} {args.resource} {args.item} "
                 f"[{decision.policy.share_class}, grant state {explained.grant_state.value}]"]
        if decision.grant is not None:
            lines.append(f"  grant {decision.grant.id} for {decision.grant.purpose!r}")
        lines.extend(f"  matched {_rule_line(r).strip()}" for r in explained.matched)
        if (how := decision.how_to_request()) is not None:
            lines.append(f"  how to request: {how}")
        return lines
    if command == "history":
        found_changes = await history.changes(admin, args.resource, args.department, first=args.limit)
        return [f"{c.id:>5}  {utc_moment(c.at)}  {c.actor:<16} {c.kind}.{c.operation:<10} domain={c.domain}  "
                f"{c.reason}" + (f"  (reverts {c.reverts})" if c.reverts else "")
                + f"\n       before={json.dumps(c.before, ensure_ascii=False)}"
                f"  after={json.dumps(c.after, ensure_ascii=False)}" for c in found_changes]
    change = await history.revert(admin, engine, args.id, args.reason)
    return [f"change {args.id} reverted by change {change.id} ({change.kind}.{change.operation})"]
