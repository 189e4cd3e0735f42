DROP INDEX users_active;
DROP TABLE console_sessions;
