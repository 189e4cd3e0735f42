-- The operator console (SQLite): signed-in operators' sessions, and an index for the console's
-- overview. Kept in step with migrations/postgres.

-- One row per console session. The browser holds a 256-bit random secret in a cookie; only
-- its SHA-256 digest is stored, so a copy of the database signs no one in. Rows live in the
-- database so that any replica answers any request of a session, and ending one (sign-out,
-- idle or absolute expiry, the credential revoked) ends it everywhere.
CREATE TABLE console_sessions (
    id_hash   TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    client_id TEXT NOT NULL REFERENCES credentials (id),
    created   TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    expires   TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen);
CREATE INDEX console_sessions_expires ON console_sessions (expires);

-- The overview counts active and inactive users of a tenant from this index alone.
CREATE INDEX users_active ON users (tenant_id, active);
