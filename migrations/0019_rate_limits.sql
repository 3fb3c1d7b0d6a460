-- Rate limits shared by every govshare process and host (issue 11): one token bucket per (limit,
-- department), kept in the region database and refilled continuously at `per_second` up to `capacity`.
-- A process does not ask for every request: it leases a block of tokens with one call of rate_lease and
-- spends them locally, so the database sees one statement per block. Tokens are debited when leased,
-- never after, so all processes together never spend more than the bucket holds; a block a process
-- holds unspent is returned with its next lease (`returned`).
create table rate_buckets (
    limit_name text not null,
    subject text not null,
    tokens double precision not null,
    updated_at timestamptz not null,
    primary key (limit_name, subject)
);

-- (granted, wait_seconds): up to `block` whole tokens, and when none, how long until one is earned.
create function rate_lease(p_limit text, p_subject text, p_capacity double precision,
                           p_per_second double precision, p_block integer, p_returned integer)
returns table (granted integer, wait_seconds double precision)
language plpgsql as $$
declare
    moment timestamptz := clock_timestamp();
    available double precision;
begin
    if p_capacity <= 0 or p_per_second <= 0 or p_block < 1 or p_returned < 0 then
        raise exception 'rate_lease: capacity and rate must be positive, block at least 1, returned >= 0'
            using errcode = '22023';
    end if;
    insert into rate_buckets (limit_name, subject, tokens, updated_at)
    values (p_limit, p_subject, p_capacity, moment)
    on conflict (limit_name, subject) do nothing;
    -- the row lock serialises concurrent leases of the same bucket (other buckets are not held up)
    select least(p_capacity,
                 b.tokens + p_returned + greatest(0, extract(epoch from moment - b.updated_at)) * p_per_second)
      into available
      from rate_buckets b where b.limit_name = p_limit and b.subject = p_subject for update;
    granted := greatest(0, least(p_block, floor(available)))::integer;
    update rate_buckets set tokens = available - granted, updated_at = moment
     where limit_name = p_limit and subject = p_subject;
    wait_seconds := case when granted > 0 then 0 else (1 - available) / p_per_second end;
    return next;
end
$$;
