-- A lane's appenders exclude each other by a row lock on the lane's row instead of an advisory lock
-- (0028: pg_advisory_xact_lock(7309173, lane)). Any login on the region's server may take any advisory
-- lock of the database it connects to, so a department's database login (0022) could take a lane's lock
-- and idle: that lane's appends (and so its process's requests: no audit record, no data) waited for it.
-- SELECT ... FOR UPDATE needs UPDATE on the table, which only the owner has: the append (SECURITY DEFINER)
-- takes it as the owner; the service's role gets no write on this table (govshare_grant_service below),
-- and any other login no privilege at all, so none of them can lock a lane row or the table in a mode
-- that blocks the appends.
--
-- The lock also tells auditRecords which transactions are appending (resolvers/audit_pages.py HORIZON):
-- FOR UPDATE first takes a ROW SHARE lock on audit_lanes (before the row lock gives the transaction its
-- id) and keeps it until the transaction ends, and a ROW SHARE lock on it is again something only the
-- owner can take (LOCK TABLE in that mode needs UPDATE, DELETE or TRUNCATE as well).
create table audit_lanes (lane smallint primary key check (lane between 0 and 63));
insert into audit_lanes (lane) select generate_series(0, 63);
revoke all on audit_lanes from public;

create or replace function audit_append_lane(p_lane integer, p_after bigint, p_after_hash text, p_records jsonb,
                                             p_access_version bigint,
                                             out last_seq bigint, out last_hash text, out appended boolean,
                                             out access_version bigint, out seqs bigint[])
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
    head_seq bigint;
    head_hash text;
    broken bigint;
begin
    if p_lane is null or p_lane < 0 or p_lane > 63 then
        raise exception 'audit lane % is not between 0 and 63', p_lane using errcode = '22023';
    end if;
    -- One appender per lane at a time: each lane's chain must be a line, not a tree. Other lanes go on.
    perform 1 from public.audit_lanes l where l.lane = p_lane for update;
    select v.version into access_version from public.access_version v;
    select h.seq, h.hash into head_seq, head_hash from audit_head(p_lane) h;
    seqs := '{}';
    if (p_access_version is not null and p_access_version <> access_version)
            or head_seq <> p_after or head_hash <> p_after_hash then
        last_seq := head_seq;
        last_hash := head_hash;
        appended := false;
        return;
    end if;
    -- The batch's links, all at once (records of callers before 0028 say "seq" for lane_seq).
    select min(r.n) into broken
        from (select coalesce(x.lane_seq, x.seq) as lane_seq, x.prev_hash, x.n,
                     coalesce(lag(x.hash) over (order by x.n), p_after_hash) as expected
                from rows from (jsonb_to_recordset(p_records) as (lane_seq bigint, seq bigint, prev_hash text, hash text))
                     with ordinality as x(lane_seq, seq, prev_hash, hash, n)) r
        where r.lane_seq is distinct from p_after + r.n or r.prev_hash is distinct from r.expected;
    if broken is not null then
        raise exception 'audit batch does not continue lane % at %', p_lane, p_after + broken using errcode = '22023';
    end if;
    with written as (
        insert into audit_log (lane, lane_seq, at, request_id, client_request_id, user_id, department, action, purpose,
                               grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome,
                               prev_hash, hash, algorithm, detail)
        select p_lane, p_after + r.n, r.at, r.request_id, r.client_request_id, r.user_id, r.department, r.action,
               r.purpose, coalesce(r.grant_ids, '{}'), r.resource, coalesce(r.items_returned, '{}'),
               coalesce(r.items_denied, '{}'), r.row_count, coalesce(r.nodes, '{}'), r.outcome, r.prev_hash, r.hash,
               'hmac-sha256', nullif(r.detail, 'null'::jsonb)
            from rows from (jsonb_to_recordset(p_records) as (at timestamptz, request_id text,
                       client_request_id text, user_id text, department text, action text, purpose text,
                       grant_ids bigint[], resource text, items_returned text[], items_denied text[], row_count integer,
                       nodes text[], outcome text, prev_hash text, hash text, detail jsonb)) with ordinality
                 as r(at, request_id, client_request_id, user_id, department, action, purpose, grant_ids, resource,
                      items_returned, items_denied, row_count, nodes, outcome, prev_hash, hash, detail, n)
            order by r.n
        returning audit_log.seq, audit_log.lane_seq)
    select coalesce(array_agg(w.seq order by w.lane_seq), '{}') into seqs from written w;
    last_seq := p_after + jsonb_array_length(p_records);
    last_hash := case when jsonb_array_length(p_records) = 0 then p_after_hash
                      else p_records -> -1 ->> 'hash' end;
    appended := true;
end
$$;

-- 0009's grants, with audit_lanes read-only for the service like the trail itself (the runner calls this
-- after every migration run: a write grant there would let the service's logins hold a lane outside an append).
create or replace function govshare_grant_service() returns void
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
          and c.relname not in ('audit_log', 'audit_checkpoints', 'audit_lanes', 'schema_migrations',
                                'population', 'legal_entities', 'business_licences')
          and c.relname not in (select r.data_table from resources r where r.data_table is not null)
    loop
        execute format('grant insert, update on table %I to govshare_service', t.relname);
    end loop;
    for t in select unnest(array['data_items', 'govshare_meta', 'policy_rules']) as relname loop
        if to_regclass('public.' || t.relname) is not null then
            execute format('grant delete on table %I to govshare_service', t.relname);
        end if;
    end loop;
    execute 'revoke insert, update, delete, truncate on audit_log from govshare_service';
    execute 'revoke update, delete, truncate on audit_checkpoints from govshare_service';
    execute 'grant insert on audit_checkpoints to govshare_service';
    execute 'revoke insert, update, delete, truncate, references, trigger on audit_lanes from govshare_service';
end
$$;
revoke execute on function govshare_grant_service() from public;
select govshare_grant_service();
