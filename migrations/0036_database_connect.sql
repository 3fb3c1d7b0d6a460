-- CONNECT on the node database only for the logins that need it. PostgreSQL grants CONNECT (and TEMP) on
-- every new database to PUBLIC, so any login on the server (another application's, a person's) could
-- connect and take locks there: advisory locks of the service's (lane leases, the checkpointer, the
-- migration runner's) and, by PREPARE-ing a statement, a table's lock at parse time without any privilege
-- on the table (review-s6 finding 4). From now on: the owner (implicitly, as the database's owner), the
-- service's group role govshare_service (its logins, e.g. govshare_app, are members that inherit), and the
-- consuming departments' logins, which 0022 grants CONNECT one by one. A login that connected through
-- PUBLIC (monitoring, say) needs its own grant (DEPLOYMENT.md). Needs the database's owner or a superuser:
-- run by anyone else, both statements only warn and change nothing.
do $$
begin
    execute format('grant connect on database %I to govshare_service', current_database());
    execute format('revoke connect on database %I from public', current_database());
end
$$;
