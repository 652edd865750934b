-- Per-field registry change times, so last-writer-wins compares the time the registry changed the
-- field itself rather than the row's updated_at, which unrelated edits and merges also move.
-- Keys are field names, values ISO timestamps; a field without an entry was last changed at
-- updated_at.
alter table patients add column field_changed_at jsonb not null default '{}';
alter table conditions add column field_changed_at jsonb not null default '{}';

-- A conflict names one field, or one element of a list field (item_key, such as the telecom
-- `phone|555-0100`), so a steward settles exactly the part both sides changed.
alter table conflicts add column item_key text;
alter table conflicts add column resolved_by text;
alter table conflicts add column resolved_value jsonb;
alter table conflicts add column resolution_reason text;
alter table conflicts add column updated_at timestamptz not null default now();
alter table conflicts alter column created_at set default date_trunc('milliseconds', now());
update conflicts set created_at = date_trunc('milliseconds', created_at);

-- At most one open conflict per field or element: a later FHIR version refreshes it.
create unique index conflicts_one_open_idx
  on conflicts (entity_type, entity_id, field_path, coalesce(item_key, ''))
  where status = 'open';
create index conflicts_queue_idx on conflicts (created_at, id);

-- Every change to a patient or condition, from any source. Rows are only ever inserted.
create table audit_log (
  id bigserial primary key,
  occurred_at timestamptz not null default now(),
  actor text not null,
  source text not null check (source in ('user', 'fhir-merge', 'steward', 'drift')),
  action text not null,
  entity_type text not null check (entity_type in ('patient', 'condition')),
  entity_id uuid not null,
  before jsonb,
  after jsonb,
  request_id text,
  conflict_id uuid
);

create index audit_log_entity_idx on audit_log (entity_type, entity_id, id);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log rows cannot be changed or deleted';
end
$$;

create trigger audit_log_append_only
  before update or delete on audit_log
  for each statement execute function audit_log_is_append_only();
