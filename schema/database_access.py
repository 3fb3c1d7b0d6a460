"""Authorised database access in GraphQL: credentials for a grant that allows the DATABASE share mode."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from govshare.resolvers import database_access
from govshare.resolvers.context import Context


@strawberry.type(description="A login to the provider node's database that reads one view: shown once (the "
                             "password is stored nowhere; ask again to rotate it).")
class DatabaseCredentials:
    access_id: int
    grant_id: int
    user: str
    password: str
    host: str | None
    port: int | None
    database: str | None
    view: str = strawberry.field(description="The schema-qualified security-barrier view the login may read.")
    columns: list[str]
    row_scope: list[str] | None = strawberry.field(description="Division codes the rows are restricted to.")
    node_codes: list[str] = strawberry.field(description="Nodes whose rows that database holds for the resource.")
    valid_until: datetime = strawberry.field(description="The login ends with the grant (revocation ends it at once).")

    @classmethod
    def of(cls, c: database_access.Credentials) -> DatabaseCredentials:
        a = c.access
        return cls(access_id=a.id, grant_id=a.grant_id, user=c.user, password=c.password, host=c.host, port=c.port,
                   database=c.database, view=c.view, columns=a.columns, row_scope=a.row_scope,
                   node_codes=a.node_codes, valid_until=a.valid_until)


@strawberry.type
class DatabaseAccessMutation:
    @strawberry.mutation(description="A login role and a security-barrier view of exactly your grant's items and "
                                     "rows in the provider node's database, under your grant that allows DATABASE "
                                     "access. The password is shown once; asking again rotates it.")
    async def open_database_access(self, info: Info[Context, None], grant_id: int) -> DatabaseCredentials:
        ctx = info.context
        requester = database_access.Requester(ctx.request_id, ctx.caller.user, ctx.caller.department, ctx.pools,
                                              ctx.engine, ctx.specs, ctx.now)
        return DatabaseCredentials.of(await database_access.open_access(requester, grant_id))
