-- Signed checkpoints of each tenant's audit chain: the head (sequence number and hash) signed
-- with the server's Ed25519 key, so an auditor holding a copy can prove later that history
-- up to it was not rewritten, and records behind it can be pruned.
CREATE TABLE audit_checkpoints (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    created    TIMESTAMP NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_tenant ON audit_checkpoints (tenant_id, seq);
