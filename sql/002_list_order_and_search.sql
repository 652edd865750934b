-- Page cursors carry created_at at millisecond precision, as JavaScript dates have it. Rows stored
-- with microseconds sorted after the cursor of their own page and came back on the next one, so
-- creation times are kept to milliseconds.
update patients set created_at = date_trunc('milliseconds', created_at);
update conditions set created_at = date_trunc('milliseconds', created_at);
alter table patients alter column created_at set default date_trunc('milliseconds', now());
alter table conditions alter column created_at set default date_trunc('milliseconds', now());

create index patients_list_order_idx on patients (created_at, id) where deleted_at is null;
create index conditions_list_order_idx on conditions (created_at, id) where deleted_at is null;

-- Name search matches '% part%', which a btree index cannot serve, and a btree entry of a very
-- long name exceeds the index row limit and fails the insert.
drop index patients_search_text_idx;
