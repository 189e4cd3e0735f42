-- Foundation schema (Postgres). Kept column-for-column in step with migrations/sqlite.
-- Ids are text (UUIDs); timestamps are UTC, truncated to microseconds by the application.
-- Compared text uses the "C" collation: byte order, the same as SQLite's BINARY.

CREATE TABLE tenants (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created     TIMESTAMP NOT NULL
);

CREATE TABLE credentials (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scim', 'admin')),
    secret_hash TEXT NOT NULL UNIQUE,
    created     TIMESTAMP NOT NULL,
    last_used   TIMESTAMP,
    revoked     TIMESTAMP
);
CREATE INDEX credentials_tenant ON credentials (tenant_id);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    user_name     TEXT NOT NULL,
    user_name_key TEXT COLLATE "C" NOT NULL,
    external_id   TEXT COLLATE "C",
    active        BOOLEAN NOT NULL,
    attributes    TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created       TIMESTAMP NOT NULL,
    last_modified TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, user_name_key)
);
CREATE INDEX users_external_id ON users (tenant_id, external_id);

CREATE TABLE groups (
    id               TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    display_name     TEXT NOT NULL,
    display_name_key TEXT COLLATE "C" NOT NULL,
    external_id      TEXT COLLATE "C",
    attributes       TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created          TIMESTAMP NOT NULL,
    last_modified    TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX groups_display_name ON groups (tenant_id, display_name_key);
CREATE INDEX groups_external_id ON groups (tenant_id, external_id);

-- Membership is a table, so adding or removing members costs in proportion to the change.
-- The composite keys make a cross-tenant membership impossible at the database level.
CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (user_id);
