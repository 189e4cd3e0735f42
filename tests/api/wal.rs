//! SQLite's WAL checkpoints run off the request path (`store::wal`): a commit no longer copies
//! the log into the database file; the background thread does.

use std::time::Duration;

use scimitar::store::{DatabaseUrl, PoolSettings, Store, StoreError};

/// Writes `rows` rows of 3,000 bytes through the store, in one transaction each.
fn write_rows(store: &Store, rows: usize) {
    use diesel::connection::SimpleConnection;
    let run = |sql: &str| {
        store
            .write(|conn| Ok::<_, StoreError>(conn.batch_execute(sql)?))
            .expect("write");
    };
    run("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    let insert = format!("INSERT INTO filler (body) VALUES ('{}')", "x".repeat(3_000));
    for _ in 0..rows {
        run(&insert);
    }
}

#[test]
fn commits_leave_the_checkpoint_to_the_background_thread() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("scimitar.db");
    let url = DatabaseUrl::parse(&path.display().to_string()).expect("URL");
    let store = Store::open(&url, &PoolSettings::default()).expect("store");
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    // About 1,500 pages of log: past SQLite's default of 1,000, below the backstop.
    write_rows(&store, 1_500);
    assert!(
        size() < before + 1_000_000,
        "no commit checkpointed: the database file stayed at {} bytes (from {before})",
        size()
    );
    scimitar::store::wal::start_checkpoints(&store, Duration::from_millis(50));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < before + 4_000_000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        size() >= before + 4_000_000,
        "the background checkpoint copied the log into the database file ({} bytes)",
        size()
    );
}
