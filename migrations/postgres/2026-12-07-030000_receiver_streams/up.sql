-- A receiver that manages its own stream at its transmitter (SSF 1.0 §7-8), and every
-- receiver's health. Kept in step with migrations/sqlite.
--
-- `stream` is the JSON of the stream Scimitar created (its id, the transmitter's endpoints,
-- the events requested and delivered, its status); `stream_credential` the credential for the
-- transmitter's management API (an OAuth client secret or a bearer), sealed.
-- `verification_state` is the state of the last verification Scimitar asked for; `verified`
-- when a verification event last arrived; `last_error` the last failure talking to the
-- transmitter (a poll, a management call).
ALTER TABLE ssf_receivers ADD COLUMN stream TEXT;
ALTER TABLE ssf_receivers ADD COLUMN stream_credential TEXT;
ALTER TABLE ssf_receivers ADD COLUMN verification_state TEXT;
ALTER TABLE ssf_receivers ADD COLUMN verification_requested TIMESTAMP;
ALTER TABLE ssf_receivers ADD COLUMN verified TIMESTAMP;
ALTER TABLE ssf_receivers ADD COLUMN last_error TEXT;
ALTER TABLE ssf_receivers ADD COLUMN last_error_at TIMESTAMP;

-- A receiver's last event, for its health.
CREATE INDEX ssf_received_receiver ON ssf_received (receiver_id, received);
