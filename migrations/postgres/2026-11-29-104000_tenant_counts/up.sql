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

CREATE FUNCTION count_tenant_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added_active BIGINT := 0;
    added_inactive BIGINT := 0;
    tenant TEXT;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        tenant := NEW.tenant_id;
        IF NEW.active THEN added_active := added_active + 1; ELSE added_inactive := added_inactive + 1; END IF;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        tenant := OLD.tenant_id;
        IF OLD.active THEN added_active := added_active - 1; ELSE added_inactive := added_inactive - 1; END IF;
    END IF;
    IF added_active = 0 AND added_inactive = 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO tenant_counts (tenant_id, active_users, inactive_users)
        VALUES (tenant, added_active, added_inactive)
        ON CONFLICT (tenant_id) DO UPDATE
        SET active_users = tenant_counts.active_users + added_active,
            inactive_users = tenant_counts.inactive_users + added_inactive;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_tenant_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tenant_counts (tenant_id, groups) VALUES (NEW.tenant_id, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET groups = tenant_counts.groups + 1;
    ELSE
        UPDATE tenant_counts SET groups = groups - 1 WHERE tenant_id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END
$$;

-- Deferred to the commit: the tenant's one counts row is then locked only while the
-- transaction commits (as the audit head is, last in each write), not from the INSERT on,
-- which would serialise every user write of a tenant for its whole transaction.
CREATE CONSTRAINT TRIGGER users_counted AFTER INSERT OR DELETE OR UPDATE OF active ON users
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION count_tenant_users();
CREATE CONSTRAINT TRIGGER groups_counted AFTER INSERT OR DELETE ON groups
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION count_tenant_groups();
