-- A neutral row order for shared data. Ordering and cursors must never use a field the caller may
-- not read (the population register's key, the citizen ID, is CONDITIONAL), so every data table
-- gets a surrogate row id; pages are ordered by (node_code, row_id) unless the caller sorts by a
-- field it may read. Tables of resources published later need the same two columns.
alter table population add column row_id bigint generated always as identity;
alter table legal_entities add column row_id bigint generated always as identity;
alter table business_licences add column row_id bigint generated always as identity;
create unique index population_row_idx on population (node_code, row_id);
create unique index legal_entities_row_idx on legal_entities (node_code, row_id);
create unique index business_licences_row_idx on business_licences (node_code, row_id);
