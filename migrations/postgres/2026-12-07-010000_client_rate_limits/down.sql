DROP TRIGGER credentials_epoch_on_update ON credentials;
CREATE TRIGGER credentials_epoch_on_update
    AFTER UPDATE OF revoked, kind, trusted, name, tenant_id, secret_hash ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();
ALTER TABLE credentials DROP COLUMN oauth_per_second;
