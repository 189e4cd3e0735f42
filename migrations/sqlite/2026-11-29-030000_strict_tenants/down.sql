ALTER TABLE tenants DROP COLUMN strict;
