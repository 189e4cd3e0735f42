DROP TABLE signing_keys;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE role_mappings;
DELETE FROM credentials WHERE kind = 'app';
ALTER TABLE credentials DROP COLUMN trusted;
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check CHECK (kind IN ('scim', 'admin'));
