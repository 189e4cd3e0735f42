-- Personal data stays erasable but becomes tamper-evident: `personal_digest` (hashed with the
-- record) commits to `personal` under a random `personal_salt`; erasing personal data clears
-- both the data and the salt, so the digest reveals nothing and verify reports the erasure.
-- Kept column-for-column in step with the other backend's tree.
ALTER TABLE audit_records ADD COLUMN personal_salt TEXT;
ALTER TABLE audit_records ADD COLUMN personal_digest TEXT;
