-- What govshare_service (0007) may write, applied to every table there is, whenever migrations run.
-- Later migrations add tables the service administers (roles, groups, workflows, share requests);
-- rather than each remembering its grant, the runner calls this function after every migration run
-- (server/databases.py), and it runs once here.
-- The service reads every table; writes (INSERT, UPDATE) every table except the audit trail (append
-- only through audit_append_batch; checkpoints by INSERT only), the migrations record and the shared
-- data registers themselves (tables a resource's data_table names: read-only for the service);
-- DELETE only where it removes rows by design. Never TRUNCATE, never DDL (it owns nothing).
create function govshare_grant_service() returns void
language plpgsql as $$
declare
    t record;
begin
    execute 'grant usage on schema public to govshare_service';
    execute 'grant select on all tables in schema public to govshare_service';
    execute 'grant usage, select on all sequences in schema public to govshare_service';
    for t in
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p')
          and c.relname not in ('audit_log', 'audit_checkpoints', 'schema_migrations',
                                'population', 'legal_entities', 'business_licences')
          and c.relname not in (select r.data_table from resources r where r.data_table is not null)
    loop
        execute format('grant insert, update on table %I to govshare_service', t.relname);
    end loop;
    -- Rows the service removes by design: catalog items replaced on a new version, meta keys, and rules
    -- (those are also soft-deleted by policy administration).
    for t in select unnest(array['data_items', 'govshare_meta', 'policy_rules']) as relname loop
        if to_regclass('public.' || t.relname) is not null then
            execute format('grant delete on table %I to govshare_service', t.relname);
        end if;
    end loop;
    execute 'revoke insert, update, delete, truncate on audit_log from govshare_service';
    execute 'revoke update, delete, truncate on audit_checkpoints from govshare_service';
    execute 'grant insert on audit_checkpoints to govshare_service';
end
$$;
revoke execute on function govshare_grant_service() from public;

select govshare_grant_service();
