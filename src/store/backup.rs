//! Online backups: a consistent copy of a live SQLite database, taken while the server keeps
//! serving. SQLite's `VACUUM INTO` reads one snapshot (a read transaction) and writes a
//! compact, self-contained file, without the WAL beside it. Postgres has its own tools
//! (`pg_dump`, base backups), which this does not replace.

use std::path::Path;

use super::{AnyConnection, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the database to `target`, a file that must not exist yet.
    pub fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} already exists; a backup never overwrites a file",
                target.display()
            )));
        }
        let mut conn = self.connection()?;
        match &mut *conn {
            AnyConnection::Sqlite(conn) => {
                use diesel::connection::SimpleConnection;
                let path = target.to_string_lossy().replace('\'', "''");
                conn.batch_execute(&format!("VACUUM INTO '{path}'"))?;
                Ok(())
            }
            AnyConnection::Postgres(_) => Err(StoreError::Unavailable(
                "backups of Postgres are taken with pg_dump or a base backup (see docs/operations.md)"
                    .into(),
            )),
        }
    }
}
