ALTER TABLE audit_records DROP COLUMN personal_digest;
ALTER TABLE audit_records DROP COLUMN personal_salt;
