-- HAPI delivers a version more than once: it retries a delivery whose response came late, and the
-- drift catch-up reads versions from the history that a delivery already brought. One
-- unprocessed row per resource version and method is enough, because the merge reads the
-- current version from HAPI anyway. Rows without a version id (deletes, empty deliveries) are
-- kept as they come.
delete from fhir_notifications duplicate
using fhir_notifications kept
where duplicate.processed_at is null
  and kept.processed_at is null
  and duplicate.resource_type = kept.resource_type
  and duplicate.resource_id = kept.resource_id
  and duplicate.version_id = kept.version_id
  and duplicate.method = kept.method
  and duplicate.id > kept.id;

create unique index fhir_notifications_unprocessed_version_idx
  on fhir_notifications (resource_type, resource_id, version_id, method)
  where processed_at is null and version_id is not null;
