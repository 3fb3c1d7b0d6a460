-- Supervision statistics (issue 11): "grants never used" asks which audit records cite a grant, without
-- reading the whole trail once per grant.
create index audit_log_grant_ids_idx on audit_log using gin (grant_ids);
