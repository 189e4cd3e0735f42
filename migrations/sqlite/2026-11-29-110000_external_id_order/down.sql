DROP INDEX groups_external_id;
CREATE INDEX groups_external_id ON groups (tenant_id, external_id);
DROP INDEX users_external_id;
CREATE INDEX users_external_id ON users (tenant_id, external_id);
