-- Signals (SQLite): the outbox of cascade effects, Shared Signals streams and their queues,
-- and flagged activity. Kept in step with migrations/postgres.

-- The outbox: every cascade effect, written in the transaction of the change, numbered per
-- tenant without gaps. The number is taken under a lock on the tenant's head row, so events
-- commit in the order of their numbers and a reader's cursor never skips one that commits late.
CREATE TABLE outbox_heads (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    seq       BIGINT NOT NULL
);
CREATE TABLE outbox (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    jti        TEXT,
    not_before TIMESTAMP,
    details    TEXT NOT NULL,
    cause      TEXT,
    occurred   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX outbox_occurred ON outbox (occurred);

-- Shared Signals (SSF 1.0) streams of a tenant, owned by the app client that created them.
-- `cursor` is the last outbox event turned into this stream's Security Event Tokens.
CREATE TABLE ssf_streams (
    id                   TEXT PRIMARY KEY NOT NULL,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    client_id            TEXT NOT NULL,
    audience             TEXT NOT NULL,
    delivery_method      TEXT NOT NULL,
    endpoint_url         TEXT,
    authorization_header TEXT,
    events_requested     TEXT NOT NULL,
    description          TEXT,
    status               TEXT NOT NULL,
    status_reason        TEXT,
    default_subjects     TEXT NOT NULL,
    cursor               BIGINT NOT NULL,
    created              TIMESTAMP NOT NULL,
    updated              TIMESTAMP NOT NULL
);
CREATE INDEX ssf_streams_tenant ON ssf_streams (tenant_id);

CREATE TABLE ssf_subjects (
    stream_id TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);

-- Signed events waiting for delivery: pushed (RFC 8935) until accepted, or polled (RFC 8936)
-- until acknowledged; `delivered` is set then.
CREATE TABLE ssf_queue (
    stream_id    TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    jti          TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    token        TEXT NOT NULL,
    created      TIMESTAMP NOT NULL,
    attempts     BIGINT NOT NULL,
    next_attempt TIMESTAMP NOT NULL,
    delivered    TIMESTAMP,
    last_error   TEXT,
    PRIMARY KEY (stream_id, jti)
);
CREATE INDEX ssf_queue_pending ON ssf_queue (stream_id, seq) WHERE delivered IS NULL;
CREATE INDEX ssf_queue_due ON ssf_queue (next_attempt) WHERE delivered IS NULL;

-- Flagged activity: one open flag per kind and subject, counting repeats, until acknowledged.
CREATE TABLE flags (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    kind            TEXT NOT NULL,
    severity        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    details         TEXT NOT NULL,
    raised          TIMESTAMP NOT NULL,
    last_seen       TIMESTAMP NOT NULL,
    occurrences     BIGINT NOT NULL,
    acknowledged    TIMESTAMP,
    acknowledged_by TEXT
);
CREATE INDEX flags_open ON flags (tenant_id, kind, subject) WHERE acknowledged IS NULL;
