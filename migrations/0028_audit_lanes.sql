-- Audit lanes (issue 13): one keyed chain per writer process instead of one chain for all. With two
-- worker processes on the one chain, 72% of batches found the other's head first and were chained
-- again. Each server process now leases a lane (a session advisory lock, freed when its connection or
-- process dies) and appends to that lane's chain; CLI commands and anything without a lease write lane 0.
--
-- A lane is a chain of its own: lane_seq counts 1, 2, 3... within the lane and prev_hash links to the
-- lane's previous record. seq stays the primary key and the order every reader uses (statistics,
-- exports, keyset cursors), now drawn from the table's sequence at insert, since lanes append
-- concurrently: it is an index, not part of the HMAC (the process hashes before the database numbers).
-- Records written before this migration are lane 0 with lane_seq = seq, so their HMAC payloads (which
-- name lane_seq as "seq" on lane 0) and the unkeyed ones' audit_payload() are unchanged.
alter table audit_log add column lane smallint not null default 0 check (lane between 0 and 63);
alter table audit_log add column lane_seq bigint;
-- Break glass for the backfill only (audit_log refuses UPDATE for everyone, 0008).
alter table audit_log disable trigger audit_log_append_only;
update audit_log set lane_seq = seq;
alter table audit_log enable trigger audit_log_append_only;
alter table audit_log alter column lane_seq set not null;
alter table audit_log add constraint audit_log_lane_seq_key unique (lane, lane_seq);
-- Keyed appends (0008-0027) inserted their seq explicitly: the sequence restarts after the newest record.
select setval(pg_get_serial_sequence('audit_log', 'seq'), coalesce((select max(seq) from audit_log), 0) + 1, false);

-- The head of one lane (0, zeros when the lane is empty).
create function audit_head(p_lane integer, out seq bigint, out hash text)
language sql stable as $$
    select coalesce(max(h.lane_seq), 0), coalesce(max(h.hash), repeat('0', 64))
    from (select a.lane_seq, a.hash from audit_log a where a.lane = p_lane order by a.lane_seq desc limit 1) h
$$;
revoke execute on function audit_head(integer) from public;
grant execute on function audit_head(integer) to govshare_service;

-- Append a batch (a JSON array, in order) to lane p_lane if it continues that lane's head
-- (p_after = lane_seq, p_after_hash) and, when p_access_version is not null, if that is still the current
-- access version (0026, unchanged: read under the lane's lock in the transaction that writes). Otherwise
-- nothing is written and the lane's head and the current access version come back (appended = false).
-- Record n must carry lane_seq p_after + n and the previous record's hash; the HMACs are the caller's
-- (the database has no key). seqs: the global seqs the records got, in the batch's order.
create function audit_append_lane(p_lane integer, p_after bigint, p_after_hash text, p_records jsonb,
                                  p_access_version bigint,
                                  out last_seq bigint, out last_hash text, out appended boolean,
                                  out access_version bigint, out seqs bigint[])
language plpgsql security definer set search_path = pg_catalog, public as $$
declare
    head_seq bigint;
    head_hash text;
    broken bigint;
begin
    if p_lane is null or p_lane < 0 or p_lane > 63 then
        raise exception 'audit lane % is not between 0 and 63', p_lane using errcode = '22023';
    end if;
    -- One appender per lane at a time: each lane's chain must be a line, not a tree. Other lanes go on.
    perform pg_advisory_xact_lock(7309173, p_lane);
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
    -- The batch's links, all at once (records of callers before this migration say "seq" for lane_seq).
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
revoke execute on function audit_append_lane(integer, bigint, text, jsonb, bigint) from public;
grant execute on function audit_append_lane(integer, bigint, text, jsonb, bigint) to govshare_service;

-- The functions of before lanes append to and read lane 0 (a process of the previous release during a
-- rolling deploy keeps a valid chain; its returned seq is then lane 0's lane_seq).
create or replace function audit_head(out seq bigint, out hash text)
language sql stable as $$
    select h.seq, h.hash from audit_head(0) h
$$;
create or replace function audit_append_batch(p_after bigint, p_after_hash text, p_records jsonb,
                                              out last_seq bigint, out last_hash text, out appended boolean)
language sql security definer set search_path = pg_catalog, public as $$
    select a.last_seq, a.last_hash, a.appended from audit_append_lane(0, p_after, p_after_hash, p_records, null) a
$$;
create or replace function audit_append_batch_at(p_after bigint, p_after_hash text, p_records jsonb,
                                                 p_access_version bigint,
                                                 out last_seq bigint, out last_hash text, out appended boolean,
                                                 out access_version bigint)
language sql security definer set search_path = pg_catalog, public as $$
    select a.last_seq, a.last_hash, a.appended, a.access_version
        from audit_append_lane(0, p_after, p_after_hash, p_records, p_access_version) a
$$;

-- A lane lease: a session advisory lock (class 7309174, the lane) on a connection the process keeps for
-- it, so it is freed when that connection or the process dies; no table, no expiry to tune. p_prefer
-- first (a process taking its lane back after a reconnect), else the lowest free lane of 1..63, else
-- 0 (shared with the CLI: only rechains). A session holds one lane: asked again, it gets the one it holds.
-- Not a correctness device: two writers on one lane only
-- rechain, the conditional append keeps the chain a line.
create function audit_lease_lane(p_prefer integer) returns integer
language plpgsql as $$
declare
    candidate integer;
begin
    select l.objid::integer into candidate from pg_locks l
        where l.locktype = 'advisory' and l.classid = 7309174 and l.objsubid = 2 and l.granted
          and l.pid = pg_backend_pid() and l.database = (select d.oid from pg_database d where d.datname = current_database())
        limit 1;
    if candidate is not null then
        return candidate;
    end if;
    if p_prefer between 1 and 63 then
        if pg_try_advisory_lock(7309174, p_prefer) then
            return p_prefer;
        end if;
    end if;
    for candidate in 1..63 loop
        if pg_try_advisory_lock(7309174, candidate) then
            return candidate;
        end if;
    end loop;
    return 0;
end
$$;
revoke execute on function audit_lease_lane(integer) from public;
grant execute on function audit_lease_lane(integer) to govshare_service;
