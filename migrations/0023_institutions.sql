-- Institutions outside government (seed §2.2 政务部门以外的社会相关机构) as consumers. The region's platform
-- connects them; a prefecture's platform may not without the region's approval. So a grant to an
-- institution needs the approval of the region's sharing authority besides the provider's.

-- A consumer is a government department or an institution outside government (codes <node>-JG-<kind>).
alter table departments add column sector text not null default 'government'
    check (sector in ('government', 'institution'));

-- The grantee's sector when the grant was made, and who approved it for the region. The constraint is
-- the database's own lock on the rule the service enforces (resolvers/validation.py).
alter table grants add column grantee_sector text not null default 'government'
    check (grantee_sector in ('government', 'institution'));
alter table grants add column region_approved_by text;
alter table grants add constraint grants_institution_needs_region
    check (grantee_sector = 'government' or region_approved_by is not null);

-- An institution's request approved by the provider's reviewer waits for the region's (awaiting_region).
alter table share_requests drop constraint share_requests_state_check;
alter table share_requests add constraint share_requests_state_check check (state in
    ('submitted', 'info_requested', 'awaiting_region', 'approved', 'partially_approved', 'rejected', 'withdrawn'));
alter table share_requests add column region_decided_by text;
alter table share_requests add column region_decided_at timestamptz;

-- Institutions read only what a grant opens: no UNCONDITIONAL item (shared among government departments,
-- seed §3.1), and no verification (deny wins over the defaults of policies/policy.csv).
insert into policy_rules (ptype, v0, v1, v2, v3, v4, v5, v6, note, created_by) values
    ('p', 'sector:institution', '*', '*', 'UNCONDITIONAL', 'read', '*', 'deny',
     'institutions outside government read only what a grant approved by the region opens', 'migration 0023'),
    ('p', 'sector:institution', '*', '*', 'UNCONDITIONAL', 'verify', '*', 'deny',
     'institutions outside government do not verify against the registers', 'migration 0023'),
    ('p', 'sector:institution', '*', '*', 'CONDITIONAL', 'verify', '*', 'deny',
     'institutions outside government do not verify against the registers', 'migration 0023')
    on conflict do nothing;
