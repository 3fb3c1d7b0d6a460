-- Hash chain of the audit trail, computed in the database so that appending is one round trip and
-- concurrent appends are serialised. Each record's hash covers its content and the previous hash.
create function audit_payload(a audit_log) returns text
language sql immutable as $$
    select jsonb_build_object(
        'seq', a.seq, 'at', to_char(a.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'request_id', a.request_id, 'user_id', a.user_id, 'department', a.department, 'action', a.action,
        'purpose', a.purpose, 'grant_ids', a.grant_ids, 'resource', a.resource,
        'items_returned', a.items_returned, 'items_denied', a.items_denied, 'row_count', a.row_count,
        'nodes', a.nodes, 'outcome', a.outcome)::text
$$;

create function audit_hash(prev_hash text, payload text) returns text
language sql immutable as $$
    select encode(sha256(convert_to(prev_hash || '|' || payload, 'UTF8')), 'hex')
$$;

create function audit_append(
    p_request_id text, p_user_id text, p_department text, p_action text, p_purpose text,
    p_grant_ids bigint[], p_resource text, p_items_returned text[], p_items_denied text[],
    p_row_count integer, p_nodes text[], p_outcome text
) returns table (seq bigint, hash text)
language plpgsql as $$
declare
    rec audit_log;
    previous text;
begin
    -- One appender at a time: the chain must be a line, not a tree.
    perform pg_advisory_xact_lock(7309173);
    select a.hash into previous from audit_log a order by a.seq desc limit 1;
    rec.seq := nextval(pg_get_serial_sequence('audit_log', 'seq'));
    rec.at := clock_timestamp();
    rec.request_id := p_request_id; rec.user_id := p_user_id; rec.department := p_department;
    rec.action := p_action; rec.purpose := p_purpose; rec.grant_ids := coalesce(p_grant_ids, '{}');
    rec.resource := p_resource; rec.items_returned := coalesce(p_items_returned, '{}');
    rec.items_denied := coalesce(p_items_denied, '{}'); rec.row_count := p_row_count;
    rec.nodes := coalesce(p_nodes, '{}'); rec.outcome := p_outcome;
    rec.prev_hash := coalesce(previous, repeat('0', 64));
    rec.hash := audit_hash(rec.prev_hash, audit_payload(rec));
    insert into audit_log select rec.*;
    return query select rec.seq, rec.hash;
end
$$;

-- Every link, checked in order: the first row returned is the first broken link.
create function audit_broken_links() returns table (seq bigint, problem text)
language sql stable as $$
    select x.seq, x.problem from (
        select a.seq,
               case when a.prev_hash <> coalesce(lag(a.hash) over w, repeat('0', 64))
                        then 'prev_hash does not match the previous record (a record was removed or altered)'
                    when a.hash <> audit_hash(a.prev_hash, audit_payload(a))
                        then 'hash does not match the record content (the record was altered)'
               end as problem
        from audit_log a
        window w as (order by a.seq)
    ) x
    where x.problem is not null
    order by x.seq
$$;

-- Catalog changes are announced so that every running replica rebuilds its generated schema.
create function notify_catalog_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('govshare_catalog', tg_table_name);
    return null;
end
$$;
create trigger resources_changed after insert or update or delete or truncate on resources
    for each statement execute function notify_catalog_change();
create trigger data_items_changed after insert or update or delete or truncate on data_items
    for each statement execute function notify_catalog_change();

-- Policy rules and grants changes are announced as well (decision caches are dropped on them).
create function notify_policy_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('govshare_policy', tg_table_name);
    return null;
end
$$;
create trigger policy_rules_changed after insert or update or delete or truncate on policy_rules
    for each statement execute function notify_policy_change();
