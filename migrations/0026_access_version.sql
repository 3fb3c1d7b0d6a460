-- Access version: one counter in the region database, bumped in the same transaction as every change
-- that the govshare_policy NOTIFY announces (policy rules, role assignments, department groups, grants).
-- A process reads it before it loads the rules and beside every grants read it caches; the audit
-- append reads it again, under the chain's lock, in the transaction that writes the records. A batch
-- whose decisions were made under another version is not written (appended = false, access_version
-- says the current one): those requests decide again on fresh rules and grants, so no answer leaves
-- on rules or grants older than the moment its audit record was checked.
create table access_version (
    only_row boolean primary key default true check (only_row),
    version bigint not null
);
insert into access_version (version) values (1);
grant select on access_version to govshare_service;

-- Replaces 0004's function (same triggers): announce, and bump the version. Security definer so that
-- the service's role needs no write grant on the counter.
create or replace function notify_policy_change() returns trigger
language plpgsql security definer set search_path = pg_catalog, public as $$
begin
    update public.access_version set version = version + 1;
    perform pg_notify('govshare_policy', tg_table_name);
    return null;
end
$$;

-- audit_append_batch (0008) after a version check: p_access_version null appends without a check (records
-- whose decisions used no rules or grants, e.g. administration).
create function audit_append_batch_at(p_after bigint, p_after_hash text, p_records jsonb, p_access_version bigint,
                                      out last_seq bigint, out last_hash text, out appended boolean,
                                      out access_version bigint)
language plpgsql security definer set search_path = pg_catalog, public as $$
begin
    -- The chain's lock first (taken again, re-entrantly, by audit_append_batch): the version read
    -- below is the one in force when the records are appended.
    perform pg_advisory_xact_lock(7309173);
    select v.version into access_version from public.access_version v;
    if p_access_version is not null and p_access_version <> access_version then
        select h.seq, h.hash into last_seq, last_hash from audit_head() h;
        appended := false;
        return;
    end if;
    select b.last_seq, b.last_hash, b.appended into last_seq, last_hash, appended
        from audit_append_batch(p_after, p_after_hash, p_records) b;
end
$$;
revoke execute on function audit_append_batch_at(bigint, text, jsonb, bigint) from public;
grant execute on function audit_append_batch_at(bigint, text, jsonb, bigint) to govshare_service;
