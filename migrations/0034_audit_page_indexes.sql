-- Two things for auditRecords (review-auditpage findings 2 and 5).
--
-- 1. A department's own pages, or a resource's, in a trail of millions: every non-supervisor's page is
-- filtered by their department, and with only the commit-order index (0031) a department with few records
-- read the whole trail (parallel sequential scan and sort, 80-290 ms at 300,000 records). These indexes serve
-- those pages in page order (resolvers/audit_pages.py picks a statement per filter). Each costs an index
-- insert per record appended (measured: see the note of this change). Built without CONCURRENTLY (a
-- migration is one transaction): appends wait during the build (measured: see DEPLOYMENT).
create index audit_log_department_order on audit_log (department, xact, seq);
create index audit_log_resource_order on audit_log (resource, xact, seq);

-- 2. A restore onto another server (0033) lost the records written after the dump, and an oldest-first
-- follower may hold a cursor from one of those: 0033 put the new records just past the dump's highest
-- position, so below such a cursor, and the follower would not get them until the positions passed it. The
-- offset now leaps 2^32 past the dump's highest position (more transactions than a server gives in months
-- at thousands a second), so that records appended after the restore also come after every cursor handed
-- out before the loss. Unchanged on the same server (a restart: its counter is ahead of the trail).
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
    highest numeric;
    lowest numeric;
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
            select coalesce((select a.xact::text::numeric from public.audit_log a
                             order by a.xact desc, a.seq desc limit 1), 0),
                   pg_snapshot_xmin(pg_current_snapshot())::text::numeric
                into highest, lowest;
            if lowest + clock.xact_offset <= highest then  -- another server: its counter is behind the trail
                clock.xact_offset := (highest + 4294967296 - lowest)::bigint;
            end if;
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
