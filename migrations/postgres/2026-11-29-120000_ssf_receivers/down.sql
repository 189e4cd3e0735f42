DROP TABLE ssf_received;
DROP TABLE ssf_receivers;
