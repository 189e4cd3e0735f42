-- Shared Signals receivers (SQLite): per tenant, the transmitters whose Security Event Tokens
-- Scimitar accepts (RFC 8935 push, RFC 8936 poll), and every SET received with its outcome.
-- Kept in step with migrations/postgres.

-- A transmitter a tenant listens to. `audiences` is a JSON array, `jwks` an inline JWKS (or
-- `jwks_uri` is fetched), `settings` the JSON of subject mapping and actions. A push
-- receiver's transmitter authenticates with a secret whose SHA-256 is `push_secret_digest`;
-- a poll receiver sends `poll_authorization` to `poll_endpoint`.
CREATE TABLE ssf_receivers (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    issuer             TEXT NOT NULL,
    audiences          TEXT NOT NULL,
    jwks_uri           TEXT,
    jwks               TEXT,
    delivery_method    TEXT NOT NULL,
    push_secret_digest TEXT,
    poll_endpoint      TEXT,
    poll_authorization TEXT,
    settings           TEXT NOT NULL,
    enabled            BOOLEAN NOT NULL,
    created            TIMESTAMP NOT NULL,
    updated            TIMESTAMP NOT NULL
);
CREATE INDEX ssf_receivers_tenant ON ssf_receivers (tenant_id);

-- Every SET received. A SET that was acted on (or recorded and ignored) holds its
-- (tenant, issuer, jti): a replay or a retried push finds it and acts no more. Refused SETs
-- hold no key, so a forgery cannot block the genuine SET with the same jti.
CREATE TABLE ssf_received (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    receiver_id TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    delivery    TEXT NOT NULL,
    event_types TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT,
    description TEXT,
    effects     TEXT NOT NULL,
    cause       TEXT,
    received    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ssf_received_once ON ssf_received (tenant_id, issuer, jti) WHERE outcome <> 'refused';
CREATE INDEX ssf_received_tenant ON ssf_received (tenant_id, received);
