-- Group displayName unique per tenant, case-insensitively (SQLite). Kept in step with
-- migrations/postgres.

-- A tenant may allow duplicate group names (directories that really have them).
ALTER TABLE tenants ADD COLUMN unique_group_names BOOLEAN NOT NULL DEFAULT TRUE;

-- The folded name a group holds in its tenant, or NULL when it holds none: a duplicate that
-- existed before uniqueness was enforced, or any group written while duplicates are allowed.
-- NULLs never collide, so the unique index only binds groups that hold their name.
ALTER TABLE groups ADD COLUMN display_name_unique TEXT;

-- Existing duplicates: the oldest group of each name holds it, the others stay unkeyed until
-- they are renamed (store::groups::claim_names runs the same statement).
UPDATE groups SET display_name_unique = display_name_key
WHERE NOT EXISTS (
    SELECT 1 FROM groups AS other
    WHERE other.tenant_id = groups.tenant_id
      AND other.display_name_key = groups.display_name_key
      AND other.id < groups.id
);

CREATE UNIQUE INDEX groups_unique_name ON groups (tenant_id, display_name_unique);
