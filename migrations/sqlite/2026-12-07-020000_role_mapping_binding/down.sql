DROP INDEX role_mappings_bound_group;
ALTER TABLE role_mappings DROP COLUMN follow_name;
ALTER TABLE role_mappings DROP COLUMN bound_group_id;
