-- Least privilege: the role govshare serves requests as.
-- `govshare_service` is a NOLOGIN group role; a deployment grants it to the login role in its DSNs
-- (`create role govshare_app login password '…' in role govshare_service`). Migrations, seeding and
-- break-glass work run as the database owner, never as this role. Roles are cluster-wide, so several
-- node databases on one server share it.
do $$
begin
    if not exists (select from pg_roles where rolname = 'govshare_service') then
        create role govshare_service nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;  -- another database of the same server, migrated concurrently, created it first
end
$$;

grant usage on schema public to govshare_service;
-- Read: catalog, departments, shared data, grants, policy rules, migrations (for /readyz).
grant select on all tables in schema public to govshare_service;
-- Tables of later migrations are readable; a table the service must write needs its own grant there.
alter default privileges in schema public grant select on tables to govshare_service;
-- Write only what the service owns: grants (created and revoked through it) and policy rules
-- (administration); never a DELETE of a grant (revocation is an update that keeps the row).
grant insert, update on grants to govshare_service;
grant usage on sequence grants_id_seq to govshare_service;
grant insert, update, delete on policy_rules to govshare_service;
grant usage on sequence policy_rules_id_seq to govshare_service;
-- The audit trail: SELECT only (for `audit verify`); records are appended through the function of 0008.
