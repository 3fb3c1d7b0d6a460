-- Platform tables. They exist on every node; the region node's copy is authoritative
-- (grants, policy rules, audit), so every node can later take over the region role.
create table grants (
    id bigserial primary key,
    grantee_department text not null,
    resource_code text not null,
    items text[] not null check (cardinality(items) > 0),
    purpose text not null check (purpose <> ''),
    valid_from timestamptz not null,
    valid_until timestamptz not null,
    -- Optional row scope, e.g. {"division_codes": ["650100"]}; compiled into the data query's WHERE.
    row_scope jsonb,
    status text not null default 'active' check (status in ('active', 'revoked')),
    revoked_at timestamptz,
    revoke_reason text,
    created_at timestamptz not null default now(),
    created_by text not null,
    check (valid_until > valid_from)
);
create index grants_grantee_idx on grants (grantee_department, resource_code);

-- Casbin policy rules (loaded through policies/adapter.py). Eight value columns so no rule is truncated.
create table policy_rules (
    id bigserial primary key,
    ptype text not null,
    v0 text not null default '', v1 text not null default '', v2 text not null default '',
    v3 text not null default '', v4 text not null default '', v5 text not null default '',
    v6 text not null default '', v7 text not null default '',
    note text,
    created_at timestamptz not null default now(),
    unique (ptype, v0, v1, v2, v3, v4, v5, v6, v7)
);

-- Append-only, hash-chained audit trail of every data query and verification.
create table audit_log (
    seq bigserial primary key,
    at timestamptz not null default now(),
    request_id text not null,
    user_id text not null,
    department text not null,
    action text not null,
    purpose text,
    grant_ids bigint[] not null default '{}',
    resource text not null,
    items_returned text[] not null default '{}',
    items_denied text[] not null default '{}',
    row_count integer not null default 0,
    nodes text[] not null default '{}',
    outcome text not null,
    prev_hash text not null,
    hash text not null unique
);
