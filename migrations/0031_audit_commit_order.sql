-- auditRecords pages in an order that new records cannot enter behind a reader (issue: paging while lanes
-- append). seq is drawn at insert and lanes commit independently, so a record can become visible after one
-- with a higher seq: a reader paging by seq skips it (newest first: it lands behind the cursor) or a
-- follower remembering the newest seq misses it for good.
--
-- Each record now keeps the id of the transaction that appended it (xid8: 64 bits, never wraps). Any
-- transaction whose id is below the reading statement's snapshot xmin has ended, so the records with
-- (xact, seq) below that horizon are settled: no record can still appear among them. A page reads only
-- settled records, in (xact, seq) order, and its cursor is a position in that order below the horizon:
-- nothing can appear before a cursor that was handed out, and whatever commits later sorts after it.
-- xact is an index like seq, not under the HMAC (the chain is verified per lane, by lane_seq).
--
-- Records of before this migration get 0 (all settled; among themselves in seq order). A constant default
-- first, so adding the column rewrites nothing; then the volatile default for new records.
alter table audit_log add column xact xid8 not null default '0';
alter table audit_log alter column xact set default pg_current_xact_id();
create index audit_log_commit_order on audit_log (xact, seq);
