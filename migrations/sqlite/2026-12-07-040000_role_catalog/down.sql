DROP INDEX user_roles_role;
DROP TABLE user_roles;
DROP TABLE role_catalog;
