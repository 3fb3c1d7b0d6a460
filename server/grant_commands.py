"""``govshare grant ...``: create, revoke and list grants through resolvers/grants.py (the one grant
validator and the policy history the GraphQL mutations use); days are China Standard Time."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta

from govshare.core.settings import Settings

from .policy_commands import BY_HELP, OPERATOR, AdminFactory, Group


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: Group) -> None:
    grant_sub = group(sub, "grant", "create, revoke or list grants (the rows enforcement reads)", "grant_command")
    create = grant_sub.add_parser("create", help="create a purpose-bound grant")
    create.add_argument("--department", required=True, help="grantee department code")
    create.add_argument("--resource", required=True, help="resource code, e.g. 650000-B01-000001")
    create.add_argument("--items", required=True, help="comma-separated item names")
    create.add_argument("--purpose", required=True, help="the purpose queries must state")
    create.add_argument("--until", required=True, metavar="YYYY-MM-DD",
                        help="last day of validity, included whole (China Standard Time)")
    create.add_argument("--from", dest="valid_from", default=None, metavar="YYYY-MM-DD",
                        help="first day of validity (China Standard Time; default: today)")
    create.add_argument("--divisions", default=None, help="row scope: comma-separated division codes")
    create.add_argument("--modes", default="interface",
                        help="share modes: comma-separated interface, exchange, database (default: interface)")
    create.add_argument("--reason", required=True, help="why (recorded in the policy history)")
    create.add_argument("--by", default=OPERATOR, help=BY_HELP)
    revoke = grant_sub.add_parser("revoke", help="revoke an active grant")
    revoke.add_argument("id", type=int, help="grant id (see grant list)")
    revoke.add_argument("--reason", required=True, help="why (recorded)")
    revoke.add_argument("--by", default=OPERATOR, help=BY_HELP)
    grant_list = grant_sub.add_parser("list", help="list grants with their effective state")
    grant_list.add_argument("--department", default=None, help="only grants to this department")
    grant_list.add_argument("--resource", default=None, help="only grants on this resource code")
    grant_list.add_argument("--state", default=None, choices=["active", "expired", "not_yet_valid", "revoked"],
                            help="only grants in this effective state")
    grant_list.add_argument("--by", default=OPERATOR, help=argparse.SUPPRESS)


def run(settings: Settings, args: argparse.Namespace, admin_factory: AdminFactory) -> int:
    """Grants through the same validation and history as the GraphQL mutations (resolvers/grants.py)."""
    from govshare.core.errors import BadRequest
    from govshare.resolvers import grants
    from govshare.resolvers.validation import SHARE_MODES, GrantInput

    async def run() -> int:
        admin, pools, server = await admin_factory(settings, args.by)
        try:
            if args.grant_command == "create":
                modes = _names(args.modes.lower())  # checked here to name the option (the API names shareModes)
                if not modes or any(m not in SHARE_MODES for m in modes):
                    raise BadRequest(f"--modes {args.modes!r}: comma-separated, each one of {', '.join(SHARE_MODES)}",
                                     field="--modes", accepted=list(SHARE_MODES))
                given = GrantInput(args.department, args.resource, _names(args.items), args.purpose, args.until,
                                   args.valid_from, _names(args.divisions) if args.divisions else None,
                                   tuple(modes))
                row, change = await grants.create(admin, given, args.reason)
                print(f"grant {row.id} created (change {change.id}): {row.department} may read "
                      f"{','.join(row.items)} of {row.resource} for {row.purpose!r} from "
                      f"{_day(row.valid_from)} to {_day(row.valid_until, end=True)} (China Standard Time)"
                      + (f", rows of {','.join(row.divisions)}" if row.divisions else ""))
            elif args.grant_command == "revoke":
                row, change = await grants.revoke(admin, args.id, args.reason)
                print(f"grant {row.id} revoked (change {change.id})")
            else:
                for row in await grants.listed(admin, args.department, args.resource, args.state):
                    scope = ",".join(row.divisions) if row.divisions else "all rows"
                    print(f"{row.id:>5}  {row.state:<13} {row.department:<14} {row.resource}  {','.join(row.items)}  "
                          f"purpose={row.purpose}  {_day(row.valid_from)}..{_day(row.valid_until, end=True)}  "
                          f"scope={scope}")
            return 0
        finally:
            await pools.close()
            if server is not None:
                server.stop()

    return asyncio.run(run())


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _day(moment: datetime, end: bool = False) -> str:
    """A validity bound as the calendar day in China Standard Time (an end is exclusive: its day before)."""
    from govshare.resolvers.validation import CST

    local = moment.astimezone(CST)
    if end and local.time() == datetime.min.time():
        local -= timedelta(days=1)
    return f"{local:%Y-%m-%d}"
