DROP TABLE audit_records;
DROP TABLE audit_heads;
