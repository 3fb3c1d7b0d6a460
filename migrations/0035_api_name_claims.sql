-- Which data resource holds each api name (README *Trust model*). Read and written in the region's
-- database only, which the service trusts (the table exists in every database, as every migration does;
-- another database's copy is never read). The first resource served under a name claims it; the name
-- stays with it while its database publishes it under that name, so another node's entry cannot later
-- take it over (whatever its code). Claims are released by moving them (UPDATE), never deleted: the
-- service has no DELETE here.
create table api_name_claims (
    api_name text primary key,
    resource_code text not null,
    node_code text not null,
    claimed_at timestamptz not null default now()
);
