-- Patients and conditions of the registry, each with the columns that keep it in step with HAPI:
-- version (the API's ETag), fhir_id and fhir_version_id (the FHIR resource and the last version the
-- registry wrote or merged), sync_base (the mapped fields at the last point both sides agreed, the
-- common ancestor of the three-way merge) and sync_state.

create table patients (
  id uuid primary key,
  source text not null check (source in ('registry', 'external')),
  names jsonb not null default '[]',
  birth_date text,
  gender text check (gender in ('male', 'female', 'other', 'unknown')),
  identifiers jsonb not null default '[]',
  telecom jsonb not null default '[]',
  addresses jsonb not null default '[]',
  deceased jsonb,
  -- Lower-cased name parts, kept by the repository, for name search.
  search_text text not null default '',
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  updated_by text not null,
  deleted_at timestamptz,
  fhir_id text unique,
  fhir_version_id integer,
  fhir_last_updated timestamptz,
  sync_base jsonb,
  sync_state text not null default 'pending'
    check (sync_state in ('pending', 'synced', 'conflict', 'failed')),
  sync_error text,
  sync_attempts integer not null default 0
);

create index patients_identifiers_idx on patients using gin (identifiers jsonb_path_ops);
create index patients_birth_date_idx on patients (birth_date);
create index patients_search_text_idx on patients (search_text text_pattern_ops);
create index patients_sync_state_idx on patients (sync_state) where sync_state <> 'synced';

create table conditions (
  id uuid primary key,
  patient_id uuid not null references patients (id),
  source text not null check (source in ('registry', 'external')),
  code jsonb not null,
  -- Set when one of the codings is in the registry's neurological value set.
  is_neurological boolean not null,
  clinical_status text,
  verification_status text,
  onset jsonb,
  abatement jsonb,
  recorded_date text,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  updated_by text not null,
  deleted_at timestamptz,
  fhir_id text unique,
  fhir_version_id integer,
  fhir_last_updated timestamptz,
  sync_base jsonb,
  sync_state text not null default 'pending'
    check (sync_state in ('pending', 'synced', 'conflict', 'failed')),
  sync_error text,
  sync_attempts integer not null default 0
);

create index conditions_patient_idx on conditions (patient_id);
create index conditions_code_idx on conditions using gin (code jsonb_path_ops);
create index conditions_sync_state_idx on conditions (sync_state) where sync_state <> 'synced';

-- Every rest-hook delivery, recorded before it is acknowledged, so the merge never runs inside
-- the HTTP request and nothing HAPI sent is lost when a merge job fails.
create table fhir_notifications (
  id bigserial primary key,
  received_at timestamptz not null default now(),
  method text not null,
  resource_type text,
  resource_id text,
  version_id integer,
  payload jsonb,
  processed_at timestamptz,
  outcome text
);

create index fhir_notifications_unprocessed_idx on fhir_notifications (id) where processed_at is null;

-- Fields that both sides changed differently since the sync base.
create table conflicts (
  id uuid primary key default gen_random_uuid(),
  entity_type text not null check (entity_type in ('patient', 'condition')),
  entity_id uuid not null,
  field_path text not null,
  base_value jsonb,
  registry_value jsonb,
  fhir_value jsonb,
  registry_version integer not null,
  fhir_version_id integer not null,
  registry_updated_at timestamptz not null,
  fhir_updated_at timestamptz,
  status text not null check (status in ('open', 'resolved', 'dismissed')),
  -- How it was settled: 'lww-registry' or 'lww-fhir' when last-writer-wins chose a side.
  resolution text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz
);

create index conflicts_entity_idx on conflicts (entity_type, entity_id);
create index conflicts_status_idx on conflicts (status, created_at);
