//! Online backups: a consistent copy of a live SQLite database, taken while the server keeps
//! serving. SQLite's `VACUUM INTO` reads one snapshot (a read transaction) and writes a
//! compact, self-contained file, without the WAL beside it. Postgres has its own tools
//! (`pg_dump`, base backups), which this does not replace.

use std::path::Path;

use super::{AnyConnection, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the database to `target`, a file that must not exist yet.
    /// The file is created here, owner-only and only if nothing (not even a dangling link)
    /// has that name, before SQLite writes into it: a backup never overwrites anything and is
    /// never readable by others.
    pub fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        let mut conn = self.connection()?;
        match &mut *conn {
            AnyConnection::Sqlite(conn) => {
                create_owner_only(target)?;
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

/// Creates an empty file at `target`, owner-only; fails if anything has that name already.
fn create_owner_only(target: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(target).map(|_| ()).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "already exists; a backup never overwrites a file".to_string()
        } else {
            e.to_string()
        };
        StoreError::Backup(format!("{}: {why}", target.display()))
    })
}
