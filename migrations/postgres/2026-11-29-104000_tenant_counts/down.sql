DROP TRIGGER groups_counted ON groups;
DROP TRIGGER users_counted ON users;
DROP FUNCTION count_tenant_groups();
DROP FUNCTION count_tenant_users();
DROP TABLE tenant_counts;
