-- A counter that moves whenever something a cached credential check depends on changes: a
-- credential revoked, renamed, re-kinded, re-trusted or removed, or a tenant's strictness.
-- Servers keep credentials in memory and re-read this row before trusting them (at most every
-- 50 ms under traffic), so a change made by another process (the CLI on the same file) takes
-- effect without a restart. Recording `last_used` does not move it.
CREATE TABLE cache_epochs (
    name  TEXT PRIMARY KEY NOT NULL,
    epoch BIGINT NOT NULL DEFAULT 0
);

INSERT INTO cache_epochs (name, epoch) VALUES ('credentials', 0);

CREATE TRIGGER credentials_epoch_on_update
    AFTER UPDATE OF revoked, kind, trusted, name, tenant_id, secret_hash ON credentials
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
END;

CREATE TRIGGER credentials_epoch_on_delete AFTER DELETE ON credentials
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
END;

CREATE TRIGGER tenants_epoch_on_update AFTER UPDATE OF strict ON tenants
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
END;

CREATE TRIGGER tenants_epoch_on_delete AFTER DELETE ON tenants
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
END;
