DROP TABLE revocation_assertions;
