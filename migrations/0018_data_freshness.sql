-- Supervision statistics (issue 11): is a resource's data as fresh as its declared update cycle says?
-- The newest change of each resource's rows (the change column its register declares, 0021), measured in
-- the database that holds the resource, on that node's rows only (every row for an all-nodes register).
-- One call per node database answers for all its resources; registers without a declared change
-- column, without a node_code column or without rows give no time (freshness unknown).
create function govshare_data_changes(p_nodes text[]) returns table (code text, last_change timestamptz)
language plpgsql stable as $$
declare
    r record;
    latest timestamptz;
begin
    for r in select res.code, res.node_code, res.data_table, res.data_scope, c.change_column
             from resources res join register_change_columns c on c.data_table = res.data_table
             where res.node_code = any(p_nodes) and to_regclass('public.' || quote_ident(res.data_table)) is not null
             order by res.code
    loop
        begin
            if r.data_scope = 'all_nodes' then
                execute format('select max(%I) from %I', r.change_column, r.data_table) into latest;
            else
                execute format('select max(%I) from %I where node_code = $1', r.change_column, r.data_table)
                    into latest using r.node_code;
            end if;
        exception when undefined_column or datatype_mismatch then
            latest := null;  -- not a register this check understands: unknown, not an error for the others
        end;
        code := r.code;
        last_change := latest;
        return next;
    end loop;
end
$$;
