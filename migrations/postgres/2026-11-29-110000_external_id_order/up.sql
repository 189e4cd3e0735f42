-- `externalId eq` lookups read their page in id order: with `id` in the index after the
-- external id, the index gives both the match and the order, so the planner no longer picks
-- the (tenant_id, id) key to avoid a sort and scan the tenant's rows (issue 14).
DROP INDEX users_external_id;
CREATE INDEX users_external_id ON users (tenant_id, external_id, id);
DROP INDEX groups_external_id;
CREATE INDEX groups_external_id ON groups (tenant_id, external_id, id);
