DROP TRIGGER groups_counted_on_delete;
DROP TRIGGER groups_counted_on_insert;
DROP TRIGGER users_counted_on_delete;
DROP TRIGGER users_counted_on_update;
DROP TRIGGER users_counted_on_insert;
DROP TABLE tenant_counts;
