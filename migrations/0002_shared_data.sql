-- Shared data held by a node: the registers that published resources point at.
-- Every row carries the node it belongs to, so a hosted prefecture's rows can live in its host's database.
create table population (
    citizen_id char(18) primary key,
    node_code text not null,
    name text not null,
    sex text not null check (sex in ('男', '女')),
    birth_date date not null,
    ethnicity text not null,
    address text not null,
    division_code text not null,
    phone text,
    household_type text not null,
    registered_on date not null,
    biometric_template_id text
);
create index population_node_idx on population (node_code, citizen_id);
create index population_division_idx on population (division_code, citizen_id);

create table legal_entities (
    uscc char(18) primary key,
    node_code text not null,
    name text not null,
    entity_type text not null,
    legal_representative text not null,
    legal_rep_citizen_id char(18),
    registered_capital numeric(18, 2) not null,
    established_on date not null,
    status text not null,
    address text not null,
    division_code text not null,
    business_scope text not null,
    tax_credit_rating text
);
create index legal_entities_node_idx on legal_entities (node_code, uscc);

create table business_licences (
    licence_no text primary key,
    node_code text not null,
    uscc char(18) not null,
    entity_name text not null,
    issued_by text not null,
    issued_on date not null,
    valid_until date,
    status text not null,
    division_code text not null
);
create index business_licences_node_idx on business_licences (node_code, licence_no);
create index business_licences_uscc_idx on business_licences (uscc);
