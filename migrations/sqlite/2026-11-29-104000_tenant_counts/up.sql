-- Users (active and not) and groups per tenant, kept by triggers on every write, so the
-- console's overview and the metrics gauges read one row instead of counting the tenant.
CREATE TABLE tenant_counts (
    tenant_id      TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    active_users   BIGINT NOT NULL DEFAULT 0,
    inactive_users BIGINT NOT NULL DEFAULT 0,
    groups         BIGINT NOT NULL DEFAULT 0
);

INSERT INTO tenant_counts (tenant_id, active_users, inactive_users, groups)
    SELECT id,
        (SELECT COUNT(*) FROM users WHERE users.tenant_id = tenants.id AND users.active),
        (SELECT COUNT(*) FROM users WHERE users.tenant_id = tenants.id AND NOT users.active),
        (SELECT COUNT(*) FROM groups WHERE groups.tenant_id = tenants.id)
    FROM tenants;

CREATE TRIGGER users_counted_on_insert AFTER INSERT ON users
BEGIN
    INSERT OR IGNORE INTO tenant_counts (tenant_id) VALUES (NEW.tenant_id);
    UPDATE tenant_counts
        SET active_users = active_users + NEW.active,
            inactive_users = inactive_users + 1 - NEW.active
        WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER users_counted_on_update AFTER UPDATE OF active ON users
    WHEN OLD.active <> NEW.active
BEGIN
    UPDATE tenant_counts
        SET active_users = active_users + NEW.active - OLD.active,
            inactive_users = inactive_users + OLD.active - NEW.active
        WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER users_counted_on_delete AFTER DELETE ON users
BEGIN
    UPDATE tenant_counts
        SET active_users = active_users - OLD.active,
            inactive_users = inactive_users - 1 + OLD.active
        WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER groups_counted_on_insert AFTER INSERT ON groups
BEGIN
    INSERT OR IGNORE INTO tenant_counts (tenant_id) VALUES (NEW.tenant_id);
    UPDATE tenant_counts SET groups = groups + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER groups_counted_on_delete AFTER DELETE ON groups
BEGIN
    UPDATE tenant_counts SET groups = groups - 1 WHERE tenant_id = OLD.tenant_id;
END;
