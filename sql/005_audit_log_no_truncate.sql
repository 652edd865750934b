-- The trigger of 003 refuses UPDATE and DELETE, but TRUNCATE needs a trigger of its own, so the
-- audit log could still be emptied.
create trigger audit_log_no_truncate
  before truncate on audit_log
  for each statement execute function audit_log_is_append_only();
