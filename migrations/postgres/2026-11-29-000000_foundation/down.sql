DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
DROP TABLE credentials;
DROP TABLE tenants;
