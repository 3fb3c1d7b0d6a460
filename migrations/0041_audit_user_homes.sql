-- The department the API last served each user for, kept beside the audit trail for the command line's
-- --by (a user's implicit developer role is in that department's node). Reading it from audit_log needs
-- an index by user, and every index on audit_log is work in every append; this table is written off the
-- request path instead, by the region's checkpointer for the records its round anchors
-- (server/checkpoints.py), and the command line reads it plus only the records after what it covers
-- (the primary key (lane, lane_seq) of audit_log finds those).
create table audit_user_homes (
    user_id text primary key,
    department text not null,
    seq bigint not null -- the audit record it was taken from (the newest wins)
);

-- Per lane, the last lane_seq whose records audit_user_homes covers.
create table audit_user_home_lanes (
    lane integer primary key,
    lane_seq bigint not null
);

-- From the trail there is: one scan, here, rather than the first round of every process.
insert into audit_user_homes (user_id, department, seq)
select distinct on (user_id) user_id, department, seq from audit_log
where department ~ '^[0-9]{6}-'
order by user_id, seq desc;

insert into audit_user_home_lanes (lane, lane_seq)
select lane, max(lane_seq) from audit_log group by lane;
