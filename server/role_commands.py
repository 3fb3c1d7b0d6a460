"""``govshare role ...``: assign, revoke and list roles, through resolvers/roles.py (the same
validation, history and audit as the GraphQL mutations)."""

from __future__ import annotations

import argparse
import asyncio

from govshare.core.settings import Settings

from .policy_commands import BY_HELP, OPERATOR, AdminFactory, Group, utc_moment


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: Group) -> None:
    role_sub = group(sub, "role", "assign, revoke or list roles", "role_command")
    for name, text in (("assign", "give USER the role ROLE in domain NODE"), ("revoke", "take a role away")):
        change = role_sub.add_parser(name, help=text)
        change.add_argument("user", help="user id as in the token's sub claim")
        change.add_argument("role", help="policy_admin, sharing_reviewer, registrar, supervisor or developer")
        change.add_argument("--domain", required=True, metavar="NODE", help="node code; the region's code means everywhere")
        change.add_argument("--reason", required=True, help="why (recorded in the policy history)")
        change.add_argument("--by", default=OPERATOR, help=BY_HELP)
    role_list = role_sub.add_parser("list", help="live role assignments")
    role_list.add_argument("--user", default=None, help="only this user's roles")
    role_list.add_argument("--by", default=OPERATOR, help=argparse.SUPPRESS)


def run(settings: Settings, args: argparse.Namespace, admin_factory: AdminFactory) -> int:
    from govshare.resolvers import roles

    async def run() -> int:
        admin, pools, server = await admin_factory(settings, args.by)
        try:
            if args.role_command == "list":
                for row in await roles.live(admin, args.user):
                    print(f"{row.user:<24} {row.role:<17} {row.domain}  since {utc_moment(row.created_at)} "
                          f"by {row.created_by}")
                return 0
            operation = roles.assign if args.role_command == "assign" else roles.revoke
            change = await operation(admin, args.user, args.role, args.domain, args.reason)
            verb = "now holds" if args.role_command == "assign" else "no longer holds"
            print(f"{args.user} {verb} {args.role} in domain {args.domain} (change {change.id})")
            return 0
        finally:
            await pools.close()
            if server is not None:
                server.stop()

    return asyncio.run(run())
