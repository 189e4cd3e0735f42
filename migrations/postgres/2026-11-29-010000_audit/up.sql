-- The audit log (Postgres). Kept column-for-column in step with migrations/sqlite.
-- Append-only: the application has no UPDATE or DELETE path for audit_records.

-- One row per tenant: the chain's head, locked by every append so sequence numbers are
-- gapless and the chain never forks.
CREATE TABLE audit_heads (
    tenant_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES tenants (id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE audit_records (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    seq           BIGINT NOT NULL,
    occurred      TIMESTAMP NOT NULL,
    action        TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    request_id    TEXT,
    method        TEXT,
    path          TEXT,
    resource_type TEXT,
    resource_id   TEXT,
    outcome       TEXT NOT NULL,
    cause         TEXT,
    -- Hashed: what happened, without personal data.
    details       TEXT NOT NULL,
    -- Not hashed, erasable: personal data (names, emails) of the change.
    personal      TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_records_resource ON audit_records (tenant_id, resource_id);
CREATE INDEX audit_records_occurred ON audit_records (tenant_id, occurred);
CREATE INDEX audit_records_cause ON audit_records (cause);
