-- The audit append's insert without the links check's own pass (issue 13; after 0037). perf on the region's
-- server, one_row at one connection: starting the executor for the function's statements took more of the
-- append's CPU than the insert itself, and 0037's insert was the costliest to start (a materialized CTE,
-- a window over a sort and two subplans for the links check). The check is now a condition of the
-- insert's own scan: record n's previous hash is element n - 2 of the batch's array (jsonb, read in
-- place), and a record that does not continue the lane raises (audit_refuse_link) before anything of the
-- batch can commit. Same checks, same results, same error (22023, the first broken position).

-- Raises the error of a batch that does not continue its lane (a function so that a statement can raise).
create function audit_refuse_link(p_lane integer, p_at bigint) returns boolean
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
    raise exception 'audit batch does not continue lane % at %', p_lane, p_at using errcode = '22023';
end
$$;
revoke execute on function audit_refuse_link(integer, bigint) from public;

create or replace function audit_append_lane(p_lane integer, p_after bigint, p_after_hash text, p_records jsonb,
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
    -- One statement, one pass over the batch, no window, no CTE for the check: record n must carry lane_seq
    -- p_after + n (records of callers before 0028 say "seq") and the previous record's hash (record n - 1 is
    -- element n - 2 of the array). The first record that does not raises, which aborts the transaction:
    -- nothing of the batch stays.
    with written as (
        insert into public.audit_log (xact, lane, lane_seq, at, request_id, client_request_id, user_id, department,
                                      action, purpose, grant_ids, resource, items_returned, items_denied, row_count,
                                      nodes, outcome, prev_hash, hash, algorithm, detail)
        select v_xact, p_lane, p_after + r.n, r.at, r.request_id, r.client_request_id, r.user_id, r.department,
               r.action, r.purpose, coalesce(r.grant_ids, '{}'), r.resource, coalesce(r.items_returned, '{}'),
               coalesce(r.items_denied, '{}'), r.row_count, coalesce(r.nodes, '{}'), r.outcome, r.prev_hash, r.hash,
               'hmac-sha256', nullif(r.detail, 'null'::jsonb)
            from rows from (jsonb_to_recordset(p_records) as (lane_seq bigint, seq bigint, at timestamptz,
                       request_id text, client_request_id text, user_id text, department text, action text,
                       purpose text, grant_ids bigint[], resource text, items_returned text[], items_denied text[],
                       row_count integer, nodes text[], outcome text, prev_hash text, hash text, detail jsonb))
                 with ordinality as r(lane_seq, seq, at, request_id, client_request_id, user_id, department, action,
                                      purpose, grant_ids, resource, items_returned, items_denied, row_count, nodes,
                                      outcome, prev_hash, hash, detail, n)
            where case when coalesce(r.lane_seq, r.seq) is not distinct from p_after + r.n
                            and r.prev_hash is not distinct from
                                (case when r.n = 1 then p_after_hash else p_records -> (r.n::integer - 2) ->> 'hash' end)
                       then true
                       else public.audit_refuse_link(p_lane, p_after + r.n) end
            order by r.n
        returning audit_log.seq, audit_log.lane_seq)
    select coalesce(array_agg(w.seq order by w.lane_seq), '{}') into seqs from written w;
    last_seq := p_after + jsonb_array_length(p_records);
    last_hash := case when jsonb_array_length(p_records) = 0 then p_after_hash
                      else p_records -> -1 ->> 'hash' end;
    appended := true;
end
$$;
