-- A notification whose merge cannot finish yet, such as a Condition whose subject Patient is not
-- in HAPI yet, is parked. It stays unprocessed, and a delayed merge job tries it again.
-- parked_reason is a code without patient data, attempts counts the merges that parked it, and
-- next_attempt_at is when the delayed job runs. After the last attempt the row is marked
-- processed with outcome 'unresolved' and keeps its reason.
alter table fhir_notifications add column parked_reason text;
alter table fhir_notifications add column attempts integer not null default 0;
alter table fhir_notifications add column next_attempt_at timestamptz;

create index fhir_notifications_parked_idx on fhir_notifications (next_attempt_at, id)
  where processed_at is null and parked_reason is not null;
