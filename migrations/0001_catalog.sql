-- Catalog schema of one node: departments, resource catalog, data items.
create extension if not exists pg_trgm;

create table govshare_meta (
    key text primary key,
    value jsonb not null,
    updated_at timestamptz not null default now()
);

create table departments (
    code text primary key,
    node_code text not null check (node_code ~ '^[0-9]{6}$'),
    level text not null check (level in ('region', 'prefecture', 'county')),
    parent_code text,
    division_code text not null check (division_code ~ '^[0-9]{6}$'),
    name_zh text not null,
    name_ug text,
    name_kk text,
    name_en text
);
create index departments_node_idx on departments (node_code, code);
create index departments_parent_idx on departments (parent_code, code);

create table resources (
    code text primary key,
    node_code text not null check (node_code ~ '^[0-9]{6}$'),
    classification text not null check (classification in ('basic', 'theme', 'department')),
    category text not null,
    name_zh text not null,
    name_ug text,
    name_kk text,
    name_en text,
    summary_zh text not null default '',
    summary_ug text,
    summary_kk text,
    summary_en text,
    provider_code text not null,
    provider_level text not null check (provider_level in ('region', 'prefecture', 'county')),
    format text not null,
    update_cycle text not null check (update_cycle in
        ('realtime', 'daily', 'weekly', 'monthly', 'quarterly', 'half_yearly', 'yearly')),
    share_class text not null check (share_class in ('UNCONDITIONAL', 'CONDITIONAL', 'NOT_SHARED')),
    share_conditions text,
    share_modes text[] not null default '{}'
        check (share_modes <@ array['exchange', 'interface', 'database']::text[]),
    legal_basis text,
    open_attribute text not null check (open_attribute in ('open', 'conditional_open', 'not_open')),
    status text not null check (status in ('draft', 'submitted', 'published', 'retired')),
    version integer not null default 1 check (version >= 1),
    published_on date,
    related_codes text[] not null default '{}',
    -- Where the shared data lives: a table in the provider node's database, or in every node's
    -- database for registers held per prefecture. NULL: catalog entry without queryable data.
    data_table text check (data_table ~ '^[a-z][a-z0-9_]*$'),
    data_scope text not null default 'provider' check (data_scope in ('provider', 'all_nodes')),
    api_name text unique check (api_name ~ '^[a-z][A-Za-z0-9]*$'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- One lower-cased text over the four languages, for one trigram index serving every language.
    search_text text generated always as (lower(
        name_zh || ' ' || coalesce(name_ug, '') || ' ' || coalesce(name_kk, '') || ' ' ||
        coalesce(name_en, '') || ' ' || summary_zh || ' ' || coalesce(summary_ug, '') || ' ' ||
        coalesce(summary_kk, '') || ' ' || coalesce(summary_en, ''))) stored,
    constraint resources_not_shared_cites_law check (share_class <> 'NOT_SHARED' or legal_basis is not null)
);
create index resources_node_idx on resources (node_code, code);
create index resources_provider_idx on resources (provider_code, code);
create index resources_share_class_idx on resources (share_class, code);
create index resources_status_idx on resources (status, code);
create index resources_search_idx on resources using gin (search_text gin_trgm_ops);

create table data_items (
    resource_code text not null references resources (code) on delete cascade,
    name text not null check (name ~ '^[a-z][a-z0-9_]*$'),
    position integer not null,
    title_zh text not null,
    title_ug text,
    title_kk text,
    title_en text,
    data_type text not null check (data_type in ('string', 'integer', 'decimal', 'date', 'datetime', 'boolean')),
    share_class text not null check (share_class in ('UNCONDITIONAL', 'CONDITIONAL', 'NOT_SHARED')),
    share_condition text,
    legal_basis text,
    is_key boolean not null default false,
    primary key (resource_code, name),
    constraint data_items_not_shared_cites_law check (share_class <> 'NOT_SHARED' or legal_basis is not null),
    constraint data_items_conditional_states_condition check (share_class <> 'CONDITIONAL' or share_condition is not null)
);
