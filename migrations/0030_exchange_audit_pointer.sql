-- An export job points at the audit record of its file (audit_seq). Since 0028 the global seq is an index
-- outside the HMAC, so a seq alone can be changed to name another record unnoticed. The job also keeps the
-- record as the chain names it, (lane, lane_seq, hash), and `govshare audit verify` checks that the record
-- at audit_seq is that one (and, for jobs of before this migration, that it is this job's export record,
-- whose detail names the job under the HMAC).
alter table exchange_jobs add column audit_lane smallint, add column audit_lane_seq bigint, add column audit_hash text;
