-- Authorised access to the shared database (seed §5.2 按权限访问共享数据资源库).
-- For a grant allowing the DATABASE share mode, the provider node's database gets a login role for the
-- consuming department and a security-barrier view of exactly the granted columns and rows. The service
-- (govshare_service, migration 0007) has no DDL and must not get any: it calls the two functions below,
-- owned by the database owner (who needs CREATEROLE, and pg_signal_backend to end sessions at revocation).
-- They trust no argument: every identifier is checked against a strict pattern and quoted with %I, the
-- table and columns must be a published resource's register and its shareable items in this database's
-- own catalog (never a NOT_SHARED item, never a platform table), and the only literals (the password
-- verifier, the node and division codes, the expiry) are checked and quoted with %L.

create schema if not exists govshare_access;
revoke all on schema govshare_access from public;

-- Accesses handed out, in the region database beside the grants (one open access per grant). The
-- password is never stored: password_verifier is the SCRAM-SHA-256 verifier PostgreSQL itself keeps.
create table database_accesses (
    id bigserial primary key,
    grant_id bigint not null references grants (id),
    department text not null,
    database_node text not null check (database_node ~ '^[0-9]{6}$'),
    role_name text not null check (role_name ~ '^govshare_x_[0-9]{6}_[0-9]+$'),
    view_name text not null check (view_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    columns text[] not null check (cardinality(columns) > 0),
    node_codes text[] not null,
    row_scope text[],
    password_verifier text check (password_verifier ~ '^SCRAM-SHA-256\$'),
    state text not null default 'opening' check (state in ('opening', 'open', 'closed')),
    valid_until timestamptz not null,
    created_at timestamptz not null default clock_timestamp(),
    created_by text not null,
    rotated_at timestamptz,
    closed_at timestamptz,
    close_reason text
);
create unique index database_accesses_grant_idx on database_accesses (grant_id) where state <> 'closed';
create index database_accesses_open_idx on database_accesses (valid_until, id) where state <> 'closed';

create function govshare_open_access(p_role text, p_view text, p_resource text, p_table text, p_columns text[],
                                     p_nodes text[], p_divisions text[], p_verifier text, p_valid_until timestamptz)
returns void
language plpgsql security definer set search_path = pg_catalog, public as $$
declare
    c text;
    column_list text;
    condition text;
begin
    if p_role !~ '^govshare_x_[0-9]{6}_[0-9]{1,18}$' then
        raise exception 'invalid access role name' using errcode = '22023';
    end if;
    if p_view !~ '^[a-z][a-z0-9_]{0,62}$' or p_table !~ '^[a-z][a-z0-9_]{0,62}$' then
        raise exception 'invalid view or table name' using errcode = '22023';
    end if;
    if p_verifier !~ '^SCRAM-SHA-256\$[0-9]{4,7}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$' then
        raise exception 'the password must be a SCRAM-SHA-256 verifier' using errcode = '22023';
    end if;
    if p_valid_until is null or p_valid_until <= now() then
        raise exception 'the access must end in the future' using errcode = '22023';
    end if;
    if cardinality(p_nodes) is distinct from array_length(p_nodes, 1) or cardinality(p_nodes) = 0
       or exists (select from unnest(p_nodes) n where n is null or n !~ '^[0-9]{6}$')
       or exists (select from unnest(coalesce(p_divisions, '{}')) d where d is null or d !~ '^[0-9]{6}$')
       or (p_divisions is not null and cardinality(p_divisions) = 0) then
        raise exception 'invalid node or division codes' using errcode = '22023';
    end if;
    -- This database's own catalog must say the table is the register of the published resource ...
    if not exists (select from resources r where r.code = p_resource and r.status = 'published'
                   and r.data_table = p_table and to_regclass('public.' || quote_ident(p_table)) is not null) then
        raise exception 'not the register of a published resource of this database' using errcode = '42501';
    end if;
    if cardinality(p_columns) is null or cardinality(p_columns) = 0 then
        raise exception 'no columns' using errcode = '22023';
    end if;
    -- ... and every column one of its shareable items (never NOT_SHARED), existing in the table.
    foreach c in array p_columns loop
        if c is null or c !~ '^[a-z][a-z0-9_]{0,62}$'
           or not exists (select from data_items i where i.resource_code = p_resource and i.name = c
                          and i.share_class in ('UNCONDITIONAL', 'CONDITIONAL'))
           or not exists (select from pg_attribute a where a.attrelid = ('public.' || quote_ident(p_table))::regclass
                          and a.attname = c and a.attnum > 0 and not a.attisdropped) then
            raise exception 'column % is not a shareable item of resource %', c, p_resource using errcode = '42501';
        end if;
    end loop;
    if p_divisions is not null and not exists (
            select from pg_attribute a where a.attrelid = ('public.' || quote_ident(p_table))::regclass
            and a.attname = 'division_code' and not a.attisdropped) then
        raise exception 'a row scope needs a division_code column' using errcode = '22023';
    end if;

    if exists (select from pg_roles where rolname = p_role) then
        execute format('alter role %I with login password %L valid until %L', p_role, p_verifier,
                       p_valid_until::text);
    else
        execute format('create role %I with login nosuperuser nocreatedb nocreaterole noinherit noreplication '
                       'nobypassrls connection limit 5 password %L valid until %L', p_role, p_verifier,
                       p_valid_until::text);
    end if;
    select string_agg(format('%I', x), ', ' order by o) into column_list from unnest(p_columns) with ordinality u(x, o);
    condition := format('node_code = any (%L::text[])', p_nodes);
    if p_divisions is not null then
        condition := condition || format(' and division_code = any (%L::text[])', p_divisions);
    end if;
    execute format('drop view if exists govshare_access.%I', p_view);
    execute format('create view govshare_access.%I with (security_barrier) as select %s from public.%I where %s',
                   p_view, column_list, p_table, condition);
    execute format('revoke all on govshare_access.%I from public', p_view);
    execute format('grant select on govshare_access.%I to %I', p_view, p_role);
    execute format('grant usage on schema govshare_access to %I', p_role);
    execute format('grant connect on database %I to %I', current_database(), p_role);
end
$$;

-- Remove an access at once: the view, the role's sessions, the role. Idempotent (the sweep retries).
create function govshare_close_access(p_role text, p_view text) returns integer
language plpgsql security definer set search_path = pg_catalog, public as $$
declare
    ended integer;
begin
    if p_role !~ '^govshare_x_[0-9]{6}_[0-9]{1,18}$' or p_view !~ '^[a-z][a-z0-9_]{0,62}$' then
        raise exception 'invalid access role or view name' using errcode = '22023';
    end if;
    execute format('drop view if exists govshare_access.%I', p_view);
    if not exists (select from pg_roles where rolname = p_role) then
        return 0;
    end if;
    execute format('alter role %I with nologin', p_role);
    select count(pg_terminate_backend(pid)) into ended from pg_stat_activity where usename = p_role;
    execute format('revoke all on schema govshare_access from %I', p_role);
    execute format('revoke all on database %I from %I', current_database(), p_role);
    begin
        execute format('drop role %I', p_role);
    exception when dependent_objects_still_exist then
        null;  -- still granted something in another database of this server: it stays NOLOGIN
    end;
    return ended;
end
$$;

revoke execute on function govshare_open_access(text, text, text, text, text[], text[], text[], text, timestamptz)
    from public;
revoke execute on function govshare_close_access(text, text) from public;
grant execute on function govshare_open_access(text, text, text, text, text[], text[], text[], text, timestamptz)
    to govshare_service;
grant execute on function govshare_close_access(text, text) to govshare_service;
