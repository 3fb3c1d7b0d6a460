-- Catalog lifecycle (issue 10): working copies of catalog entries, their history, the published
-- versions and the changes of law or duties that oblige an update. Kept in the provider node's
-- database beside its catalog; the live catalog (resources, data_items) is written only on publish.

create table catalog_entries (
    code text primary key check (code ~ '^[0-9]{6}-[A-Z0-9]{1,8}-[0-9]{6}$'),
    node_code text not null check (node_code ~ '^[0-9]{6}$'),
    provider_code text not null,
    state text not null check (state in ('draft', 'submitted', 'approved', 'published', 'retired')),
    -- Optimistic concurrency: every change names the revision it read and increments it.
    revision integer not null default 1 check (revision >= 1),
    -- The catalog version this working copy publishes as (the live one is resources.version).
    version integer not null default 1 check (version >= 1),
    document jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    created_by text not null,
    updated_at timestamptz not null default clock_timestamp(),
    updated_by text not null
);
create index catalog_entries_provider_idx on catalog_entries (provider_code, code);
create index catalog_entries_state_idx on catalog_entries (state, code);

-- Every transition: who, when, from which state to which, with the reviewer's opinion.
create table catalog_history (
    id bigserial primary key,
    code text not null,
    at timestamptz not null default clock_timestamp(),
    actor text not null,
    actor_department text not null,
    action text not null,
    from_state text,
    to_state text not null,
    revision integer not null,
    version integer not null,
    opinion text
);
create index catalog_history_code_idx on catalog_history (code, id);

-- Each published version as it was published (the old ones stay readable after a new version).
create table catalog_versions (
    code text not null,
    version integer not null,
    published_at timestamptz not null default clock_timestamp(),
    published_by text not null,
    document jsonb not null,
    primary key (code, version)
);

-- A change of law or duties recorded against a resource: its catalog must be updated (a new version
-- published) within 15 working days of the change.
create table catalog_duty_changes (
    id bigserial primary key,
    code text not null,
    kind text not null check (kind in ('law', 'duties')),
    changed_on date not null,
    reference text not null check (btrim(reference) <> ''),
    due_on date not null,
    recorded_at timestamptz not null default clock_timestamp(),
    recorded_by text not null,
    fulfilled_at timestamptz,
    fulfilled_version integer
);
create index catalog_duty_changes_open_idx on catalog_duty_changes (due_on, id) where fulfilled_at is null;
