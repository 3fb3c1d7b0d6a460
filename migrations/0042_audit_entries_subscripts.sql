-- audit_append_entries (0040) refuses an array of records whose subscripts do not start at 1 or that has more
-- than one dimension (review-s8: an insider with the service role skipped the links check with '[0:1]={...}').
-- Otherwise 0040's function as it was: same checks, results and errors; its grants stay (create or replace).
create or replace function audit_append_entries(p_lane integer, p_after bigint, p_after_hash text, p_records audit_entry[],
                                             p_access_version bigint,
                                             out last_seq bigint, out last_hash text, out appended boolean,
                                             out access_version bigint, out seqs bigint[])
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
    head_seq bigint;
    head_hash text;
    v_started timestamptz;
    v_offset bigint;
    v_xact xid8;
    highest numeric;
    lowest numeric;
begin
    if p_lane is null or p_lane < 0 or p_lane > 63 then
        raise exception 'audit lane % is not between 0 and 63', p_lane using errcode = '22023';
    end if;
    -- unnest numbers the records from 1 whatever the array's subscripts, but the links check and the result
    -- read records by subscript (p_records[r.n - 1], p_records[cardinality(p_records)]): from any other lower
    -- bound they read the wrong record (sent as '[0:1]={...}', record 2 was checked against itself, and any
    -- prev_hash was taken). The service always sends a plain array (lower bound 1): refuse anything else.
    if cardinality(p_records) > 0 and (array_ndims(p_records) <> 1 or array_lower(p_records, 1) <> 1) then
        raise exception 'audit records must be a one-dimensional array from subscript 1, not %',
            array_dims(p_records) using errcode = '22023';
    end if;
    -- One appender per lane at a time: each lane's chain must be a line, not a tree. Other lanes go on.
    select c.started, c.xact_offset into v_started, v_offset
        from public.audit_lanes l cross join public.audit_clock c where l.lane = p_lane for update of l;
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
    end if;
    -- The records' place in commit order: this transaction's id, plus the clock's offset (0033).
    v_xact := (pg_current_xact_id()::text::numeric + v_offset)::text::xid8;
    -- The lane's head (as audit_head) and the access version, then the insert if both are as the caller
    -- says. Record n must carry lane_seq p_after + n and the previous record's hash (element n - 1 of the
    -- array); the first record that does not raises, which aborts the transaction: nothing of the batch stays.
    with head as (
        select coalesce(h.lane_seq, 0) as lane_seq, coalesce(h.hash, repeat('0', 64)) as hash, v.version,
               (p_access_version is null or p_access_version = v.version)
                   and coalesce(h.lane_seq, 0) = p_after and coalesce(h.hash, repeat('0', 64)) = p_after_hash as open
            from public.access_version v
            left join lateral (select a.lane_seq, a.hash from public.audit_log a where a.lane = p_lane
                               order by a.lane_seq desc limit 1) h on true
    ), written as (
        insert into public.audit_log (xact, lane, lane_seq, at, request_id, client_request_id, user_id, department,
                                      action, purpose, grant_ids, resource, items_returned, items_denied, row_count,
                                      nodes, outcome, prev_hash, hash, algorithm, detail)
        select v_xact, p_lane, p_after + r.n, r.at, r.request_id, r.client_request_id, r.user_id, r.department,
               r.action, r.purpose, coalesce(r.grant_ids, '{}'), r.resource, coalesce(r.items_returned, '{}'),
               coalesce(r.items_denied, '{}'), r.row_count, coalesce(r.nodes, '{}'), r.outcome, r.prev_hash, r.hash,
               'hmac-sha256', r.detail
            from unnest(p_records) with ordinality as r(lane_seq, at, request_id, client_request_id, user_id, department,
                                                    action, purpose, grant_ids, resource, items_returned, items_denied,
                                                    row_count, nodes, outcome, prev_hash, hash, detail, n)
            where case when not (select h.open from head h) then false
                       when r.lane_seq is not distinct from p_after + r.n
                            and r.prev_hash is not distinct from
                                (case when r.n = 1 then p_after_hash else (p_records[r.n - 1]).hash end)
                       then true
                       else public.audit_refuse_link(p_lane, p_after + r.n) end
            order by r.n
        returning audit_log.seq, audit_log.lane_seq)
    select h.lane_seq, h.hash, h.version, h.open, (select coalesce(array_agg(w.seq order by w.lane_seq), '{}') from written w)
        into head_seq, head_hash, access_version, appended, seqs
        from head h;
    if not appended then
        last_seq := head_seq;
        last_hash := head_hash;
        seqs := '{}';
        return;
    end if;
    last_seq := p_after + coalesce(cardinality(p_records), 0);
    last_hash := case when coalesce(cardinality(p_records), 0) = 0 then p_after_hash
                      else (p_records[cardinality(p_records)]).hash end;
end
$$;
