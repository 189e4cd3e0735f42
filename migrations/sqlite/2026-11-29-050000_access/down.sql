DROP TABLE signing_keys;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE role_mappings;
DELETE FROM credentials WHERE kind = 'app';
CREATE TABLE credentials_old (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scim', 'admin')),
    secret_hash TEXT NOT NULL UNIQUE,
    created     TIMESTAMP NOT NULL,
    last_used   TIMESTAMP,
    revoked     TIMESTAMP
);
INSERT INTO credentials_old SELECT id, tenant_id, name, kind, secret_hash, created, last_used, revoked FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_old RENAME TO credentials;
CREATE INDEX credentials_tenant ON credentials (tenant_id);
