-- A keyed audit chain that cannot be rewritten quietly.
-- Each record's hash is an HMAC-SHA256 (key held outside every database, see GOVSHARE_AUDIT_KEY_FILE)
-- over the previous hash and the record's canonical JSON, computed by the service. The database only
-- links: records are appended through audit_append_batch, which checks that the batch continues the
-- current head. audit_log and audit_checkpoints are append-only for everyone (triggers below); the
-- break-glass procedure is in the README ("Trust model").

-- The server generates the request id it records; the caller's X-Request-Id is kept beside it.
alter table audit_log add column client_request_id text;
-- 'sha256': records written before this migration (unkeyed chain, checked as before);
-- 'hmac-sha256': keyed records.
alter table audit_log add column algorithm text not null default 'sha256'
    check (algorithm in ('sha256', 'hmac-sha256'));
alter table audit_log alter column algorithm drop default;

-- The unkeyed appender is gone: whoever could call it could also recompute the chain.
drop function audit_append(text, text, text, text, text, bigint[], text, text[], text[], integer, text[], text);
drop function audit_broken_links();
revoke execute on function audit_payload(audit_log) from public;
revoke execute on function audit_hash(text, text) from public;
grant execute on function audit_payload(audit_log) to govshare_service;
grant execute on function audit_hash(text, text) to govshare_service;

-- The head of the chain (0, zeros when empty), read under the appenders' lock.
create function audit_head(out seq bigint, out hash text)
language sql stable as $$
    select coalesce(max(a.seq), 0),
           coalesce((select b.hash from audit_log b order by b.seq desc limit 1), repeat('0', 64))
    from audit_log a
$$;

-- Append a batch of records (a JSON array, in order) that continues the head (p_after, p_after_hash).
-- Records carry their seq, time, content, prev_hash and hash; the function checks the links, not the
-- HMACs (it has no key). When another appender moved the head first, nothing is written and the
-- current head comes back (appended = false): the caller rechains its batch onto it and calls again.
create function audit_append_batch(p_after bigint, p_after_hash text, p_records jsonb,
                                   out last_seq bigint, out last_hash text, out appended boolean)
language plpgsql security definer set search_path = pg_catalog, public as $$
declare
    head_seq bigint;
    head_hash text;
    r jsonb;
    expected_seq bigint;
    expected_prev text;
begin
    -- One appender at a time: the chain must be a line, not a tree.
    perform pg_advisory_xact_lock(7309173);
    select h.seq, h.hash into head_seq, head_hash from audit_head() h;
    if head_seq <> p_after or head_hash <> p_after_hash then
        last_seq := head_seq;
        last_hash := head_hash;
        appended := false;
        return;
    end if;
    expected_seq := p_after + 1;
    expected_prev := p_after_hash;
    for r in select * from jsonb_array_elements(p_records) loop
        if (r->>'seq')::bigint <> expected_seq or r->>'prev_hash' <> expected_prev then
            raise exception 'audit batch does not continue the chain at %', expected_seq using errcode = '22023';
        end if;
        insert into audit_log (seq, at, request_id, client_request_id, user_id, department, action, purpose,
                               grant_ids, resource, items_returned, items_denied, row_count, nodes, outcome,
                               prev_hash, hash, algorithm)
        values ((r->>'seq')::bigint, (r->>'at')::timestamptz, r->>'request_id', r->>'client_request_id',
                r->>'user_id', r->>'department', r->>'action', r->>'purpose',
                array(select jsonb_array_elements_text(r->'grant_ids'))::bigint[], r->>'resource',
                array(select jsonb_array_elements_text(r->'items_returned')),
                array(select jsonb_array_elements_text(r->'items_denied')),
                (r->>'row_count')::integer, array(select jsonb_array_elements_text(r->'nodes')), r->>'outcome',
                r->>'prev_hash', r->>'hash', 'hmac-sha256');
        expected_prev := r->>'hash';
        expected_seq := expected_seq + 1;
    end loop;
    last_seq := expected_seq - 1;
    last_hash := expected_prev;
    appended := true;
end
$$;
revoke execute on function audit_append_batch(bigint, text, jsonb) from public;
grant execute on function audit_append_batch(bigint, text, jsonb) to govshare_service;
revoke execute on function audit_head() from public;
grant execute on function audit_head() to govshare_service;

-- Checkpoints of another node's chain head (seq, hash, time), written by the service at a fixed
-- interval and on shutdown into the other node databases; each carries an HMAC with the audit key.
create table audit_checkpoints (
    id bigserial primary key,
    chain text not null,
    seq bigint not null,
    hash text not null,
    at timestamptz not null,
    mac text not null,
    written_at timestamptz not null default now()
);
create index audit_checkpoints_chain_idx on audit_checkpoints (chain, seq);
grant select, insert on audit_checkpoints to govshare_service;
grant usage on sequence audit_checkpoints_id_seq to govshare_service;

-- Append-only for everyone, the owner included; break glass only by disabling these triggers
-- as the owner (README, "Trust model"), which `audit verify` then shows as a rewrite or truncation.
create function audit_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = '42501';
end
$$;
create trigger audit_log_append_only before update or delete or truncate on audit_log
    for each statement execute function audit_refuse_change();
create trigger audit_checkpoints_append_only before update or delete or truncate on audit_checkpoints
    for each statement execute function audit_refuse_change();
