-- The audit API lists changes newest first by (occurred_at, id) and pages with a cursor on that
-- pair. Searches by actor or by source (a steward's decisions, the drift repairs) would
-- otherwise scan the whole log. The entity filter uses audit_log_entity_idx of 003.
create index audit_log_occurred_idx on audit_log (occurred_at, id);
create index audit_log_actor_idx on audit_log (actor, occurred_at, id);
create index audit_log_source_idx on audit_log (source, occurred_at, id);

-- A cursor carries a JavaScript Date, which has millisecond precision, so a row must not have a
-- finer time or the cursor would never match it. Writers pass a Date already; the default follows.
alter table audit_log alter column occurred_at set default date_trunc('milliseconds', now());
