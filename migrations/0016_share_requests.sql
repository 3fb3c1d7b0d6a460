-- Share requests (申请共享) and objections (疑义), in the region database beside the grants they create.

-- Grants carry the share modes they allow (interface = the query API; exchange and database access are
-- for issue 16) and the request that created them. Existing grants allowed queries only.
alter table grants add column share_modes text[] not null default array['interface']::text[]
    check (cardinality(share_modes) > 0 and share_modes <@ array['exchange', 'interface', 'database']::text[]);
alter table grants add column request_id bigint;

-- Grant changes are announced like policy rules: every process drops what it derived from them.
create trigger grants_changed after insert or update or delete or truncate on grants
    for each statement execute function notify_policy_change();

create table share_requests (
    id bigserial primary key,
    applicant_department text not null,
    applicant_user text not null,
    resource_code text not null,
    provider_code text not null,
    items text[] not null check (cardinality(items) > 0),
    purpose text not null check (btrim(purpose) <> ''),
    scenario text not null check (btrim(scenario) <> ''),
    users text[] not null check (cardinality(users) > 0),
    share_modes text[] not null
        check (cardinality(share_modes) > 0 and share_modes <@ array['exchange', 'interface', 'database']::text[]),
    requested_until date not null,
    basis text not null check (btrim(basis) <> ''),
    state text not null check (state in
        ('submitted', 'info_requested', 'approved', 'partially_approved', 'rejected', 'withdrawn')),
    revision integer not null default 1 check (revision >= 1),
    submitted_at timestamptz not null default clock_timestamp(),
    -- The answer is due by the end of due_on (CST). While the provider waits for information the clock
    -- is paused: due_on is null and remaining_days holds the working days that were left.
    due_on date,
    remaining_days integer,
    question text,
    answer text,
    decided_at timestamptz,
    decided_by text,
    decision_reason text,
    decision_grounds text,
    approved_items text[],
    approved_until date,
    row_scope jsonb,
    grant_id bigint references grants (id),
    updated_at timestamptz not null default clock_timestamp(),
    check (state in ('submitted', 'info_requested') or decided_at is not null or state = 'withdrawn'),
    check (state <> 'rejected' or (btrim(decision_reason) <> '' and btrim(decision_grounds) <> ''))
);
create index share_requests_applicant_idx on share_requests (applicant_department, id);
create index share_requests_resource_idx on share_requests (resource_code, id);
create index share_requests_open_idx on share_requests (due_on, id) where state in ('submitted', 'info_requested');

create table share_request_events (
    id bigserial primary key,
    request_id bigint not null references share_requests (id),
    at timestamptz not null default clock_timestamp(),
    actor text not null,
    actor_department text not null,
    action text not null,
    from_state text,
    to_state text not null,
    note text
);
create index share_request_events_request_idx on share_request_events (request_id, id);

create table objections (
    id bigserial primary key,
    consumer_department text not null,
    consumer_user text not null,
    resource_code text not null,
    provider_code text not null,
    record_key text not null check (btrim(record_key) <> ''),
    item text not null,
    expected text not null check (btrim(expected) <> ''),
    state text not null default 'open' check (state in ('open', 'confirmed', 'corrected')),
    revision integer not null default 1,
    raised_at timestamptz not null default clock_timestamp(),
    due_on date not null,
    answered_at timestamptz,
    answered_by text,
    answer text
);
create index objections_open_idx on objections (resource_code, id) where state = 'open';
