-- Policy administration: roles, department groups, soft-deleted rules and the history of every change.
-- Like the other platform tables these exist on every node; the region node's copy is authoritative.

-- Roles (Casbin RBAC with domains): user `user_id` holds `role` in `domain`, a node code
-- (the region's code means the whole region). Revoked assignments are kept (revoked_at) so that
-- the policy as it stood at any past time can be listed.
create table role_assignments (
    id bigserial primary key,
    user_id text not null check (user_id <> '' and length(user_id) <= 200),
    role text not null check (role in ('policy_admin', 'sharing_reviewer', 'registrar', 'supervisor', 'developer')),
    domain text not null check (domain ~ '^[0-9]{6}$'),
    created_at timestamptz not null default clock_timestamp(),
    created_by text not null,
    revoked_at timestamptz,
    revoked_by text
);
create unique index role_assignments_live_idx on role_assignments (user_id, role, domain) where revoked_at is null;

-- Named department groups created by admins (computed groups by kind, level and node need no rows).
-- A change of members is a new row; the old row gets removed_at. `domain` is the node whose admins own it.
create table department_groups (
    id bigserial primary key,
    name text not null check (name ~ '^[a-z][a-z0-9_-]{1,62}$'),
    title text not null default '',
    domain text not null check (domain ~ '^[0-9]{6}$'),
    members text[] not null,
    created_at timestamptz not null default clock_timestamp(),
    created_by text not null,
    removed_at timestamptz,
    removed_by text
);
create unique index department_groups_live_idx on department_groups (name) where removed_at is null;

-- Rules are removed by marking them, so that a past policy can be listed; live rules stay unique.
alter table policy_rules drop constraint policy_rules_ptype_v0_v1_v2_v3_v4_v5_v6_v7_key;
alter table policy_rules add column created_by text;
alter table policy_rules add column removed_at timestamptz;
alter table policy_rules add column removed_by text;
create unique index policy_rules_live_idx on policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, v7)
    where removed_at is null;

-- Grants record who revoked them.
alter table grants add column revoked_by text;

-- Every administrative change: who, when, what before and after, and why (mandatory).
create table policy_changes (
    id bigserial primary key,
    at timestamptz not null default clock_timestamp(),
    actor text not null,
    actor_department text not null,
    kind text not null check (kind in ('rule', 'class', 'role', 'grant', 'group')),
    operation text not null,
    domain text not null check (domain ~ '^[0-9]{6}$'),
    resource text,
    department text,
    before jsonb,
    after jsonb,
    reason text not null check (btrim(reason) <> ''),
    reverts bigint references policy_changes (id)
);
create index policy_changes_at_idx on policy_changes (at, id);
create index policy_changes_resource_idx on policy_changes (resource, at);
create index policy_changes_department_idx on policy_changes (department, at);

create trigger role_assignments_changed after insert or update or delete or truncate on role_assignments
    for each statement execute function notify_policy_change();
create trigger department_groups_changed after insert or update or delete or truncate on department_groups
    for each statement execute function notify_policy_change();
