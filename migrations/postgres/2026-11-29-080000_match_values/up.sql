-- Indexed lookups of the attributes identity providers match users on (Postgres). Kept in step
-- with migrations/sqlite.

-- One row per value of a matching attribute of a user, as the search document holds it
-- (folded unless case-exact): the work and primary e-mail, every e-mail, and the attributes a
-- tenant configures (`match_attributes`). Maintained in each user write's transaction, so a
-- lookup by any of them is an index probe whatever the size of the tenant.
CREATE TABLE match_values (
    tenant_id TEXT NOT NULL,
    attribute TEXT COLLATE "C" NOT NULL,
    value     TEXT COLLATE "C" NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, attribute, value, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX match_values_user ON match_values (user_id);

-- The extra attributes each tenant's configuration indexes (reconciled at start). Writes
-- maintain every recorded attribute; lookups use one once `ready`, when the values of every
-- user existing when it was recorded are filled in.
CREATE TABLE match_attributes (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    attribute TEXT NOT NULL,
    ready     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant_id, attribute)
);

-- The e-mail values of existing users (scim::matching writes them from now on).
INSERT INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails.value', e.value ->> 'value', u.id
FROM users AS u, jsonb_array_elements(CASE WHEN jsonb_typeof(u.search::jsonb -> 'emails') = 'array'
    THEN u.search::jsonb -> 'emails' ELSE '[]'::jsonb END) AS e(value)
WHERE jsonb_typeof(e.value -> 'value') = 'string'
ON CONFLICT DO NOTHING;
INSERT INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails[type eq "work"].value', e.value ->> 'value', u.id
FROM users AS u, jsonb_array_elements(CASE WHEN jsonb_typeof(u.search::jsonb -> 'emails') = 'array'
    THEN u.search::jsonb -> 'emails' ELSE '[]'::jsonb END) AS e(value)
WHERE jsonb_typeof(e.value -> 'value') = 'string' AND jsonb_typeof(e.value -> 'type') = 'string'
  AND e.value ->> 'type' = 'work'
ON CONFLICT DO NOTHING;
INSERT INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails[primary eq true].value', e.value ->> 'value', u.id
FROM users AS u, jsonb_array_elements(CASE WHEN jsonb_typeof(u.search::jsonb -> 'emails') = 'array'
    THEN u.search::jsonb -> 'emails' ELSE '[]'::jsonb END) AS e(value)
WHERE jsonb_typeof(e.value -> 'value') = 'string' AND e.value -> 'primary' = 'true'::jsonb
ON CONFLICT DO NOTHING;
