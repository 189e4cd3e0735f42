-- A counter that moves whenever something a cached credential check depends on changes: a
-- credential revoked, renamed, re-kinded, re-trusted or removed, or a tenant's strictness.
-- Servers keep credentials in memory and re-read this row before trusting them (at most every
-- 50 ms under traffic); the same change notifies `scimitar_credentials` at commit, so every
-- replica listening forgets its cached credentials at once. Recording `last_used` does neither.
CREATE TABLE cache_epochs (
    name  TEXT PRIMARY KEY NOT NULL,
    epoch BIGINT NOT NULL DEFAULT 0
);

INSERT INTO cache_epochs (name, epoch) VALUES ('credentials', 0);

CREATE FUNCTION bump_credentials_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_epochs SET epoch = epoch + 1 WHERE name = 'credentials';
    PERFORM pg_notify('scimitar_credentials', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER credentials_epoch_on_update
    AFTER UPDATE OF revoked, kind, trusted, name, tenant_id, secret_hash ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();

CREATE TRIGGER credentials_epoch_on_delete AFTER DELETE ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();

CREATE TRIGGER tenants_epoch_on_update AFTER UPDATE OF strict ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();

CREATE TRIGGER tenants_epoch_on_delete AFTER DELETE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION bump_credentials_epoch();
