-- Unkeyed audit records ('sha256', written by 0004's functions before the keyed chain of 0008) need no
-- key to compute: audit_hash(prev_hash, audit_payload(row)) are the database's own functions, and the
-- append-only trigger refuses UPDATE and DELETE but not INSERT. So verification must know where the
-- genuine ones end. This migration writes that down once, as the body of a function the database owner
-- alone can replace (a table would get the service's INSERT and UPDATE from govshare_grant_service after
-- every migration run): lane 0's last unkeyed record as it was when 0029 ran, (0, zeros) when there was
-- none. Any unkeyed record beyond it is forged; a lane 0 that still ENDS at it is sealed by the service at
-- start with one keyed record (action 'audit.seal', resolvers/audit_seals.py).
do $$
declare
    last_seq bigint;
    last_hash text;
begin
    select a.lane_seq, a.hash into last_seq, last_hash from audit_log a
        where a.lane = 0 and a.algorithm <> 'hmac-sha256' order by a.lane_seq desc limit 1;
    execute format('create function audit_legacy_end(out lane_seq bigint, out hash text) language sql immutable as %L',
                   format('select %s::bigint, %L::text', coalesce(last_seq, 0), coalesce(last_hash, repeat('0', 64))));
end
$$;
revoke execute on function audit_legacy_end() from public;
grant execute on function audit_legacy_end() to govshare_service;

-- SECURITY DEFINER functions: `set search_path = pg_catalog, public` leaves pg_temp searched FIRST for
-- relations, so a caller's temporary audit_log would shadow the real one inside them (an append reported
-- as done that reached no trail). pg_temp last, as PostgreSQL advises for definer functions.
alter function audit_append_lane(integer, bigint, text, jsonb, bigint) set search_path = pg_catalog, public, pg_temp;
alter function audit_append_batch(bigint, text, jsonb) set search_path = pg_catalog, public, pg_temp;
alter function audit_append_batch_at(bigint, text, jsonb, bigint) set search_path = pg_catalog, public, pg_temp;
alter function notify_policy_change() set search_path = pg_catalog, public, pg_temp;
-- The same for the other definer functions there are (database access, 0022).
alter function govshare_open_access(text, text, text, text, text[], text[], text[], text, timestamptz)
    set search_path = pg_catalog, public, pg_temp;
alter function govshare_close_access(text, text) set search_path = pg_catalog, public, pg_temp;
