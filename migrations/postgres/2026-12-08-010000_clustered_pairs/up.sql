-- SQLite's migration of this name stores two tables as their key's B-tree (WITHOUT ROWID);
-- Postgres tables have no rowid, so there is nothing to change here.
SELECT 1;
