DROP TRIGGER credentials_epoch_on_update;
CREATE TRIGGER credentials_epoch_on_update
    AFTER UPDATE OF revoked, kind, trusted, name, tenant_id, secret_hash ON credentials
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
END;
ALTER TABLE credentials DROP COLUMN oauth_per_second;
