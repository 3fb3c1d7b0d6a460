-- The audit append's fixed cost per batch (issue 13). At one connection every request is a batch of its
-- own, so what the region's server spends per batch is spent per request. Measured (pg_stat_statements,
-- track = all, one_row at one connection): 0036's function ran 7 statements per batch (the lane's row lock,
-- the clock, the access version, audit_head and the SQL function inside it, the links check, the insert)
-- and parsed the batch's JSON twice; each statement pays its own executor start and end.
--
-- 1. Same checks, same results, same error, fewer statements: after the lane's row lock (a statement of
-- its own, so that what follows reads with a snapshot taken after the lock was granted, i.e. sees the
-- commit of the appender it waited for), the clock, the access version and the lane's head in one
-- statement; the links check and the insert in one statement over the batch parsed once (the insert
-- writes nothing unless every link holds; the error is raised right after, which aborts the transaction).
--
-- 2. audit_log's unique constraint on hash goes (0003: from the single chain of before lanes). Nothing
-- reads by hash, and it protects nothing that is not protected otherwise: a record is named by (lane,
-- lane_seq), unique since 0028, and the HMAC covers lane and lane_seq, so a copied record is found by
-- `audit verify` either way (tests/resolvers/test_audit_tampering.py). It was the trail's one index on a
-- random key: every append touched a random leaf of it, and in a trail larger than the shared buffers
-- each such touch after a checkpoint writes that leaf's full 8 kB image to the WAL before the commit can
-- flush (measured on 300,000 records after a checkpoint: 6.7 kB of WAL per record with it, 1.4 kB
-- without, 2,161 full-page images in 3,000 appends).
alter table audit_log drop constraint audit_log_hash_key;

create or replace function audit_append_lane(p_lane integer, p_after bigint, p_after_hash text, p_records jsonb,
                                             p_access_version bigint,
                                             out last_seq bigint, out last_hash text, out appended boolean,
                                             out access_version bigint, out seqs bigint[])
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
    head_seq bigint;
    head_hash text;
    broken bigint;
    v_started timestamptz;
    v_offset bigint;
    v_xact xid8;
    highest numeric;
    lowest numeric;
begin
    if p_lane is null or p_lane < 0 or p_lane > 63 then
        raise exception 'audit lane % is not between 0 and 63', p_lane using errcode = '22023';
    end if;
    -- One appender per lane at a time: each lane's chain must be a line, not a tree. Other lanes go on.
    perform 1 from public.audit_lanes l where l.lane = p_lane for update;
    -- The clock (0033, 0034), the current access version (0026) and the lane's head (as audit_head).
    select c.started, c.xact_offset, v.version, coalesce(h.lane_seq, 0), coalesce(h.hash, repeat('0', 64))
        into v_started, v_offset, access_version, head_seq, head_hash
        from public.audit_clock c
        cross join public.access_version v
        left join lateral (select a.lane_seq, a.hash from public.audit_log a where a.lane = p_lane
                           order by a.lane_seq desc limit 1) h on true;
    if v_started is distinct from pg_postmaster_start_time() then
        -- The first append since the server started: as 0034, one appender at a time.
        select c.started, c.xact_offset into v_started, v_offset from public.audit_clock c for update;
        if v_started is distinct from pg_postmaster_start_time() then
            select coalesce((select a.xact::text::numeric from public.audit_log a
                             order by a.xact desc, a.seq desc limit 1), 0),
                   pg_snapshot_xmin(pg_current_snapshot())::text::numeric
                into highest, lowest;
            if lowest + v_offset <= highest then  -- another server: its counter is behind the trail
                v_offset := (highest + 4294967296 - lowest)::bigint;
            end if;
            update public.audit_clock set started = pg_postmaster_start_time(), xact_offset = v_offset;
        end if;
        -- Read again after waiting for the clock (the lane's head cannot have moved: its lock is held).
        select v.version into access_version from public.access_version v;
    end if;
    seqs := '{}';
    if (p_access_version is not null and p_access_version <> access_version)
            or head_seq <> p_after or head_hash <> p_after_hash then
        last_seq := head_seq;
        last_hash := head_hash;
        appended := false;
        return;
    end if;
    -- The records' place in commit order: this transaction's id, plus the clock's offset (0033).
    v_xact := (pg_current_xact_id()::text::numeric + v_offset)::text::xid8;
    -- The batch parsed once; record n must carry lane_seq p_after + n (records of callers before 0028 say
    -- "seq") and the previous record's hash. Nothing is inserted unless every link holds.
    with batch as materialized (
        select r.* from rows from (jsonb_to_recordset(p_records) as (lane_seq bigint, seq bigint, at timestamptz,
                       request_id text, client_request_id text, user_id text, department text, action text,
                       purpose text, grant_ids bigint[], resource text, items_returned text[], items_denied text[],
                       row_count integer, nodes text[], outcome text, prev_hash text, hash text, detail jsonb))
                 with ordinality as r(lane_seq, seq, at, request_id, client_request_id, user_id, department, action,
                                      purpose, grant_ids, resource, items_returned, items_denied, row_count, nodes,
                                      outcome, prev_hash, hash, detail, n)
    ), links as (
        select min(x.n) as broken
            from (select b.n, coalesce(b.lane_seq, b.seq) as lane_seq, b.prev_hash,
                         coalesce(lag(b.hash) over (order by b.n), p_after_hash) as expected
                    from batch b) x
            where x.lane_seq is distinct from p_after + x.n or x.prev_hash is distinct from x.expected
    ), written as (
        insert into public.audit_log (xact, lane, lane_seq, at, request_id, client_request_id, user_id, department,
                                      action, purpose, grant_ids, resource, items_returned, items_denied, row_count,
                                      nodes, outcome, prev_hash, hash, algorithm, detail)
        select v_xact, p_lane, p_after + b.n, b.at, b.request_id, b.client_request_id, b.user_id, b.department,
               b.action, b.purpose, coalesce(b.grant_ids, '{}'), b.resource, coalesce(b.items_returned, '{}'),
               coalesce(b.items_denied, '{}'), b.row_count, coalesce(b.nodes, '{}'), b.outcome, b.prev_hash, b.hash,
               'hmac-sha256', nullif(b.detail, 'null'::jsonb)
            from batch b
            where (select l.broken from links l) is null
            order by b.n
        returning audit_log.seq, audit_log.lane_seq)
    select (select l.broken from links l), coalesce((select array_agg(w.seq order by w.lane_seq) from written w), '{}')
        into broken, seqs;
    if broken is not null then  -- aborts the transaction: nothing of the batch stays
        raise exception 'audit batch does not continue lane % at %', p_lane, p_after + broken using errcode = '22023';
    end if;
    last_seq := p_after + jsonb_array_length(p_records);
    last_hash := case when jsonb_array_length(p_records) = 0 then p_after_hash
                      else p_records -> -1 ->> 'hash' end;
    appended := true;
end
$$;
