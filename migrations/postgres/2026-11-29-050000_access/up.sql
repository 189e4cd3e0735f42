-- The access cascade (Postgres): app credentials, role mappings, sessions and the tokens
-- Scimitar issues, and the keys that sign them. Kept in step with migrations/sqlite.

-- A third credential kind, `app`, for the applications that obtain and check tokens.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('scim', 'admin', 'app'));
ALTER TABLE credentials ADD COLUMN trusted BOOLEAN NOT NULL DEFAULT FALSE;

-- A rule grants `role` to the members of the groups it matches. `match_key` is what is
-- compared: the id or externalId as given, or the case-folded displayName.
CREATE TABLE role_mappings (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    match_by    TEXT NOT NULL CHECK (match_by IN ('id', 'externalId', 'displayName')),
    match_value TEXT NOT NULL,
    match_key   TEXT COLLATE "C" NOT NULL,
    role        TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created     TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, match_by, match_key, role)
);

-- A session is one refresh-token family: what a token exchange starts and a refresh extends.
-- Access tokens name their session (`sid`); ending the session ends them all. `roles` is the
-- role set of the session's newest access token (a JSON array); `idle_expires` is
-- `last_used` plus the idle timeout, so the sweeper finds idle sessions by index. user_id has no foreign key:
-- a deleted user's ended sessions stay until the sweeper purges them.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    user_id        TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    audience       TEXT NOT NULL,
    roles          TEXT NOT NULL,
    created        TIMESTAMP NOT NULL,
    expires        TIMESTAMP NOT NULL,
    idle_seconds   BIGINT NOT NULL,
    access_seconds BIGINT NOT NULL,
    last_used      TIMESTAMP NOT NULL,
    idle_expires   TIMESTAMP NOT NULL,
    ended          TIMESTAMP,
    end_reason     TEXT
);
CREATE INDEX sessions_live_by_user ON sessions (tenant_id, user_id) WHERE ended IS NULL;
CREATE INDEX sessions_live_by_expiry ON sessions (expires) WHERE ended IS NULL;
CREATE INDEX sessions_live_by_idle_expiry ON sessions (idle_expires) WHERE ended IS NULL;
CREATE INDEX sessions_ended ON sessions (ended) WHERE ended IS NOT NULL;

-- Refresh tokens, stored as SHA-256 digests. Each is used once: `consumed` and `successor`
-- (the digest of the token it was exchanged for) are set when it is.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued     TIMESTAMP NOT NULL,
    consumed   TIMESTAMP,
    successor  TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Single access tokens revoked through /oauth2/revoke, kept until they would have expired.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    expires    TIMESTAMP NOT NULL,
    revoked    TIMESTAMP NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires);

-- Public halves of the token-signing keys; the private halves are derived from a secret
-- kept outside the database. A key is published from `created`, signs from `activates`
-- until `retires`, and is unpublished at `removes`.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    algorithm  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created    TIMESTAMP NOT NULL,
    activates  TIMESTAMP NOT NULL,
    retires    TIMESTAMP,
    removes    TIMESTAMP
);
