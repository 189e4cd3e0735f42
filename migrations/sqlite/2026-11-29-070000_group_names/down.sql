DROP INDEX groups_unique_name;
ALTER TABLE groups DROP COLUMN display_name_unique;
ALTER TABLE tenants DROP COLUMN unique_group_names;
