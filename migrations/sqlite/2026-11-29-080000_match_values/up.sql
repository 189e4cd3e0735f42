-- Indexed lookups of the attributes identity providers match users on (SQLite). Kept in step
-- with migrations/postgres.

-- One row per value of a matching attribute of a user, as the search document holds it
-- (folded unless case-exact): the work and primary e-mail, every e-mail, and the attributes a
-- tenant configures (`match_attributes`). Maintained in each user write's transaction, so a
-- lookup by any of them is an index probe whatever the size of the tenant.
CREATE TABLE match_values (
    tenant_id TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value     TEXT NOT NULL,
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
INSERT OR IGNORE INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails.value', json_extract(e.value, '$.value'), u.id
FROM users AS u, json_each(u.search, '$.emails') AS e
WHERE json_type(e.value, '$.value') = 'text';
INSERT OR IGNORE INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails[type eq "work"].value', json_extract(e.value, '$.value'), u.id
FROM users AS u, json_each(u.search, '$.emails') AS e
WHERE json_type(e.value, '$.value') = 'text' AND json_type(e.value, '$.type') = 'text'
  AND json_extract(e.value, '$.type') = 'work';
INSERT OR IGNORE INTO match_values (tenant_id, attribute, value, user_id)
SELECT u.tenant_id, 'emails[primary eq true].value', json_extract(e.value, '$.value'), u.id
FROM users AS u, json_each(u.search, '$.emails') AS e
WHERE json_type(e.value, '$.value') = 'text' AND json_type(e.value, '$.primary') = 'true';
