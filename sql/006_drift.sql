-- Runs of the drift job. A catch-up run reads HAPI's history since the saved cursor and feeds
-- each change the registry has not seen to the merge. A verification run compares every synced
-- row with HAPI, records what differs as findings and queues the repair. requested_by is
-- 'schedule', 'api' (the admin API) or 'rest-hook' (an empty rest-hook POST). job_id
-- is the pg-boss job that runs it, so a retry of a job that died resumes its run. progress is
-- where a verification run got to, so a resumed run skips the rows it already checked. counts
-- holds the run's figures, such as entries read and changes queued.
create table drift_runs (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('catch-up', 'verification')),
  status text not null check (status in ('queued', 'running', 'finished', 'failed')),
  requested_by text not null check (requested_by in ('schedule', 'api', 'rest-hook')),
  job_id uuid,
  attempts integer not null default 0,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  started_at timestamptz,
  finished_at timestamptz,
  cursor_from timestamptz,
  cursor_to timestamptz,
  counts jsonb not null default '{}',
  progress jsonb,
  error text
);

create index drift_runs_kind_idx on drift_runs (kind, created_at desc, id);
create index drift_runs_job_idx on drift_runs (job_id);

-- The catch-up's position per resource type: HAPI's own time when the last finished run read the
-- first page of that type's history. The next run reads from it minus DRIFT_OVERLAP_SECONDS.
create table drift_cursors (
  resource_type text primary key,
  cursor timestamptz not null,
  run_id uuid references drift_runs (id) on delete set null,
  updated_at timestamptz not null default now()
);

-- What a verification run found differing between a registry row and its FHIR resource, and the
-- repair it queued. fields names the mapped fields that differ. registry_fhir_version_id is the
-- FHIR version the row recorded and fhir_version_id the one HAPI has. fhir_status is 'found',
-- 'deleted' (HAPI returned 410) or 'missing' (404: the resource never existed there).
create table drift_findings (
  id bigserial primary key,
  run_id uuid not null references drift_runs (id) on delete cascade,
  entity_type text not null check (entity_type in ('patient', 'condition')),
  entity_id uuid not null,
  fhir_id text,
  kind text not null,
  fields jsonb not null default '[]',
  action text not null,
  registry_fhir_version_id integer,
  fhir_version_id integer,
  fhir_status text not null check (fhir_status in ('found', 'deleted', 'missing')),
  created_at timestamptz not null default date_trunc('milliseconds', now())
);

create index drift_findings_run_idx on drift_findings (run_id, created_at, id);

-- The catch-up looks up which versions of a page of resources already have a notification. The
-- merge lists a resource's unprocessed ones. Both filter by resource.
create index fhir_notifications_resource_idx
  on fhir_notifications (resource_type, resource_id, version_id);
