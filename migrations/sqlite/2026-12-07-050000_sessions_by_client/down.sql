DROP INDEX sessions_live_by_client;
