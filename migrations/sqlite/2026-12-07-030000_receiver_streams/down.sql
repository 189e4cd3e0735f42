DROP INDEX ssf_received_receiver;
ALTER TABLE ssf_receivers DROP COLUMN last_error_at;
ALTER TABLE ssf_receivers DROP COLUMN last_error;
ALTER TABLE ssf_receivers DROP COLUMN verified;
ALTER TABLE ssf_receivers DROP COLUMN verification_requested;
ALTER TABLE ssf_receivers DROP COLUMN verification_state;
ALTER TABLE ssf_receivers DROP COLUMN stream_credential;
ALTER TABLE ssf_receivers DROP COLUMN stream;
