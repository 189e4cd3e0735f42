-- A revoked app client's live sessions end with it: found through this index, whatever the
-- number of sessions stored.
CREATE INDEX sessions_live_by_client ON sessions (client_id) WHERE ended IS NULL;
