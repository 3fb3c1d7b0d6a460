-- auditRecords' commit order survives a restore onto another server (review-auditpage finding 2). 0031 gave
-- each record the id of its appending transaction (xact). pg_dump / pg_restore copies those ids, but a new
-- server's transaction counter starts near zero: restored records were then ahead of every new one (out of
-- auditRecords until the new server had used as many ids; `audit verify` called them renumbered), and
-- records appended after the restore sorted before them (an oldest-first follower never reached them).
--
-- The position a record gets is now its transaction's id plus an offset kept here, and the offset is checked
-- once per server start: the first append after the postmaster started (pg_postmaster_start_time() is not
-- the one recorded here) locks this row and raises the offset, if needed, so that every transaction id still
-- to come (all at or above the snapshot's xmin) lands past the highest position in the trail; until that
-- append commits, every other append waits for the row, and auditRecords treats every committed record as
-- settled (no append can be half-way: they all wait here). An offset only grows. On the same server (a
-- restart, a physical backup, PITR, pg_upgrade: the counter goes on) it stays where it was.
create table audit_clock (
    one boolean primary key default true check (one),
    started timestamptz not null,  -- the start of the postmaster that last checked xact_offset
    xact_offset bigint not null check (xact_offset >= 0)
);
insert into audit_clock (started, xact_offset) values (pg_postmaster_start_time(), 0);
revoke all on audit_clock from public;

create or replace function audit_append_lane(p_lane integer, p_after bigint, p_after_hash text, p_records jsonb,
                                             p_access_version bigint,
                                             out last_seq bigint, out last_hash text, out appended boolean,
                                             out access_version bigint, out seqs bigint[])
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
    head_seq bigint;
    head_hash text;
    broken bigint;
    clock record;
    v_xact xid8;
begin
    if p_lane is null or p_lane < 0 or p_lane > 63 then
        raise exception 'audit lane % is not between 0 and 63', p_lane using errcode = '22023';
    end if;
    -- One appender per lane at a time: each lane's chain must be a line, not a tree. Other lanes go on.
    perform 1 from public.audit_lanes l where l.lane = p_lane for update;
    -- The records' place in commit order: this transaction's id, plus the clock's offset (see above).
    select c.started, c.xact_offset into clock from public.audit_clock c;
    if clock.started is distinct from pg_postmaster_start_time() then
        select c.started, c.xact_offset into clock from public.audit_clock c for update;  -- one at a time
        if clock.started is distinct from pg_postmaster_start_time() then
            select greatest(clock.xact_offset,
                            coalesce((select a.xact::text::numeric from public.audit_log a
                                      order by a.xact desc, a.seq desc limit 1), 0)
                            + 1 - pg_snapshot_xmin(pg_current_snapshot())::text::numeric)::bigint
                into clock.xact_offset;
            update public.audit_clock set started = pg_postmaster_start_time(), xact_offset = clock.xact_offset;
        end if;
    end if;
    v_xact := (pg_current_xact_id()::text::numeric + clock.xact_offset)::text::xid8;
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
        insert into audit_log (xact, lane, lane_seq, at, request_id, client_request_id, user_id, department, action, purpose,
                               grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome,
                               prev_hash, hash, algorithm, detail)
        select v_xact, p_lane, p_after + r.n, r.at, r.request_id, r.client_request_id, r.user_id, r.department, r.action,
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

-- Like audit_lanes: read-only for the service (its grant function skips it; 0009 / 0032's list plus this).
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
          and c.relname not in ('audit_log', 'audit_checkpoints', 'audit_lanes', 'audit_clock', 'schema_migrations',
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
    execute 'revoke insert, update, delete, truncate, references, trigger on audit_clock from govshare_service';
end
$$;
revoke execute on function govshare_grant_service() from public;
select govshare_grant_service();
