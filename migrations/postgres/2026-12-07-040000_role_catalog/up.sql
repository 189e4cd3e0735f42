-- Roles the identity provider can see and grant (issue 30). Kept in step with
-- migrations/sqlite.
--
-- `role_catalog`: roles an admin described (display name, description, whether the identity
-- provider may assign them directly, the entitlements they carry as a JSON array). Roles named
-- by a mapping are published even without a row here, as not directly assignable.
CREATE TABLE role_catalog (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    value        TEXT COLLATE "C" NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT,
    assignable   BOOLEAN NOT NULL,
    entitlements TEXT NOT NULL,
    created      TIMESTAMP NOT NULL,
    updated      TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, value)
);

-- Roles the identity provider assigned to a user directly (the user's `roles`): a second
-- source beside group mappings. `assigned_by` is the credential, `cause` the audit record of
-- the write that assigned it.
CREATE TABLE user_roles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    user_id     TEXT COLLATE "C" NOT NULL,
    role        TEXT COLLATE "C" NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL,
    cause       TEXT,
    PRIMARY KEY (tenant_id, user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (tenant_id, role);
