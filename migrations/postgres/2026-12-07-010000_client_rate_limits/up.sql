-- An app client's own cap on its OAuth requests per second (`scimitar client limit`); NULL:
-- the server's default (`rate_limit_oauth_per_second`, off unless set). A change moves the
-- credential cache's epoch, like every column a cached credential check depends on.
ALTER TABLE credentials ADD COLUMN oauth_per_second INTEGER;

DROP TRIGGER credentials_epoch_on_update ON credentials;
CREATE TRIGGER credentials_epoch_on_update
    AFTER UPDATE OF revoked, kind, trusted, name, tenant_id, secret_hash, oauth_per_second
    ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();
