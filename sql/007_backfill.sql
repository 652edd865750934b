-- One row per backfill run, the one-off copy of what one side held before sync started. A
-- from-fhir run applies every Patient in HAPI, and a to-fhir run writes the rows that never
-- reached FHIR. The cursor is saved after every page, so a new invocation continues the
-- unfinished run of its direction. Finished and abandoned runs stay on record.
-- cursor: position after the last page done, shaped by the direction.
-- search: search parameters that narrowed the Patients read (from-fhir), so a resumed run reads
--   the same ones.
-- counts: items per outcome (enrolled, not-enrolled, pushed, failed...).
create table backfill_runs (
  id uuid primary key,
  direction text not null check (direction in ('from-fhir', 'to-fhir')),
  status text not null default 'running' check (status in ('running', 'finished', 'abandoned')),
  cursor jsonb,
  search jsonb not null default '{}',
  processed integer not null default 0,
  counts jsonb not null default '{}',
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);

-- At most one unfinished run per direction: the one that a new invocation continues.
create unique index backfill_runs_one_running_idx on backfill_runs (direction)
  where status = 'running';

-- The to-fhir backfill reads the rows still to write in id order. Without these indexes each page
-- would scan past every synced row before it.
create index patients_unsynced_idx on patients (id)
  where sync_state in ('pending', 'failed') or (fhir_version_id is null and deleted_at is null);
create index conditions_unsynced_idx on conditions (id)
  where sync_state in ('pending', 'failed') or (fhir_version_id is null and deleted_at is null);
