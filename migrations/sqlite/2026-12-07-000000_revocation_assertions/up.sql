-- The `jti` of every Global Token Revocation JWT accepted, kept until the JWT has expired
-- (draft-parecki-oauth-global-token-revocation-06 §3.5: a used `jti` is refused), so a JWT
-- replayed to any replica is refused. Inserted in the revocation's own transaction; the
-- sweeper deletes rows past `expires`.
CREATE TABLE revocation_assertions (
    issuer    TEXT NOT NULL,
    jti       TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    expires   TIMESTAMP NOT NULL,
    PRIMARY KEY (issuer, jti)
);

CREATE INDEX revocation_assertions_expires ON revocation_assertions (expires);
