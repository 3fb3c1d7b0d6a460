-- Data exchange (bulk export, seed §5.2 数据交换): export jobs, the audit detail of an export, and the
-- update-timestamp column registers declare for incremental exchange.

-- An audit record may carry details beyond the query's columns (an export's file digest, format, job and
-- watermark). Covered by the record's HMAC when present (resolvers/audit.py); records without it hash
-- exactly as before.
alter table audit_log add column detail jsonb;

create or replace function audit_append_batch(p_after bigint, p_after_hash text, p_records jsonb,
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
                               prev_hash, hash, algorithm, detail)
        values ((r->>'seq')::bigint, (r->>'at')::timestamptz, r->>'request_id', r->>'client_request_id',
                r->>'user_id', r->>'department', r->>'action', r->>'purpose',
                array(select jsonb_array_elements_text(r->'grant_ids'))::bigint[], r->>'resource',
                array(select jsonb_array_elements_text(r->'items_returned')),
                array(select jsonb_array_elements_text(r->'items_denied')),
                (r->>'row_count')::integer, array(select jsonb_array_elements_text(r->'nodes')), r->>'outcome',
                r->>'prev_hash', r->>'hash', 'hmac-sha256', nullif(r->'detail', 'null'::jsonb));
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

-- Export jobs live in the region database beside the grants they run under. A job is run by the process
-- holding its lease (lease_owner, lease_until, extended with every progress update); a job whose lease ran
-- out (its process stopped or died) is claimed again by any process and run again from its first row,
-- at most max_attempts times, then marked failed: never silently lost.
create table exchange_jobs (
    id bigserial primary key,
    request_id text not null,
    department text not null,
    user_id text not null,
    grant_id bigint not null references grants (id),
    resource_code text not null,
    purpose text not null,
    items text[] not null check (cardinality(items) > 0),
    items_denied text[] not null default '{}',
    conditions jsonb not null default '[]',
    nodes text[],
    format text not null check (format in ('csv', 'ndjson', 'parquet')),
    since timestamptz,
    state text not null default 'queued'
        check (state in ('queued', 'running', 'done', 'failed', 'cancelled', 'expired')),
    rows_done bigint not null default 0,
    rows_total bigint,
    attempts integer not null default 0,
    max_attempts integer not null default 3 check (max_attempts between 1 and 10),
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null default clock_timestamp(),
    started_at timestamptz,
    finished_at timestamptz,
    expires_at timestamptz,
    file_name text check (file_name ~ '^[0-9]+-[0-9a-f]{32}\.(csv|ndjson|parquet)$'),
    file_bytes bigint,
    digest text check (digest ~ '^[0-9a-f]{64}$'),
    row_scope text[],
    next_watermark timestamptz,
    audit_seq bigint,
    error text,
    cancelled_by text
);
create index exchange_jobs_open_idx on exchange_jobs (lease_until, id) where state in ('queued', 'running');
create index exchange_jobs_department_idx on exchange_jobs (department, id);
create index exchange_jobs_done_idx on exchange_jobs (expires_at, id) where state = 'done';

-- Registers declare the column that says when a row last changed (incremental exchange: rows changed
-- since a watermark). The demo registers get one, kept by a trigger on every update.
create table register_change_columns (
    data_table text primary key check (data_table ~ '^[a-z][a-z0-9_]*$'),
    change_column text not null check (change_column ~ '^[a-z][a-z0-9_]*$')
);

create function govshare_touch_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := clock_timestamp();
    return new;
end
$$;

alter table population add column if not exists updated_at timestamptz not null default clock_timestamp();
alter table legal_entities add column if not exists updated_at timestamptz not null default clock_timestamp();
alter table business_licences add column if not exists updated_at timestamptz not null default clock_timestamp();
create trigger population_touch before update on population
    for each row execute function govshare_touch_updated_at();
create trigger legal_entities_touch before update on legal_entities
    for each row execute function govshare_touch_updated_at();
create trigger business_licences_touch before update on business_licences
    for each row execute function govshare_touch_updated_at();
create index population_updated_idx on population (updated_at);
create index legal_entities_updated_idx on legal_entities (updated_at);
create index business_licences_updated_idx on business_licences (updated_at);
insert into register_change_columns (data_table, change_column) values
    ('population', 'updated_at'), ('legal_entities', 'updated_at'), ('business_licences', 'updated_at')
    on conflict do nothing;
