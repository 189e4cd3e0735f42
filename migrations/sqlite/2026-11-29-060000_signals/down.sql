DROP TABLE flags;
DROP TABLE ssf_queue;
DROP TABLE ssf_subjects;
DROP TABLE ssf_streams;
DROP TABLE outbox;
DROP TABLE outbox_heads;
