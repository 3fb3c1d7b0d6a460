-- The audit append in two statements instead of three (issue 13; after 0038). At one connection every
-- request is a batch of its own, and each statement of the function pays its executor start and end.
--
-- 1. The lane's row lock now also reads the clock (0033, 0034). That read may be as old as the statement's
-- start (before a wait for the lane's lock), which is safe: a clock that looks started by this postmaster
-- was committed so, and one that does not is locked and read again below, as before.
-- 2. The lane's head and the access version (0026) are read by the insert itself, whose snapshot is taken
-- after the lock was granted (it sees the commit of the appender it waited for, as 0037's second statement
-- did): the records are inserted only if the head is the one the caller chained onto and the version is the
-- one its decisions were made under, and the statement returns both, so a refused batch costs no statement
-- more. Same checks, same results, same errors as 0038.
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
    -- says. Record n must carry lane_seq p_after + n (records of callers before 0028 say "seq") and the
    -- previous record's hash (record n - 1 is element n - 2 of the array); the first record that does not
    -- raises, which aborts the transaction: nothing of the batch stays.
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
               'hmac-sha256', nullif(r.detail, 'null'::jsonb)
            from rows from (jsonb_to_recordset(p_records) as (lane_seq bigint, seq bigint, at timestamptz,
                       request_id text, client_request_id text, user_id text, department text, action text,
                       purpose text, grant_ids bigint[], resource text, items_returned text[], items_denied text[],
                       row_count integer, nodes text[], outcome text, prev_hash text, hash text, detail jsonb))
                 with ordinality as r(lane_seq, seq, at, request_id, client_request_id, user_id, department, action,
                                      purpose, grant_ids, resource, items_returned, items_denied, row_count, nodes,
                                      outcome, prev_hash, hash, detail, n)
            where case when not (select h.open from head h) then false
                       when coalesce(r.lane_seq, r.seq) is not distinct from p_after + r.n
                            and r.prev_hash is not distinct from
                                (case when r.n = 1 then p_after_hash else p_records -> (r.n::integer - 2) ->> 'hash' end)
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
    last_seq := p_after + jsonb_array_length(p_records);
    last_hash := case when jsonb_array_length(p_records) = 0 then p_after_hash
                      else p_records -> -1 ->> 'hash' end;
end
$$;
