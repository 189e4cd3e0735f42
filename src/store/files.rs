//! The files of an embedded SQLite database (the database, its WAL and shared-memory files)
//! are the owner's alone: a new database is created owner-only before SQLite opens it (SQLite
//! gives its WAL and shared-memory files the database file's permissions), and the files of
//! an existing one that others could read are made owner-only, with a warning.

use std::path::{Path, PathBuf};

use super::StoreError;

/// Creates `path` owner-only if it does not exist, and takes group and other permissions off
/// it and its `-wal` and `-shm` files if it does.
pub(super) fn owner_only_database(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let unavailable = |e: std::io::Error| {
            StoreError::Unavailable(format!("database file {}: {e}", path.display()))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A directory that does not exist, say: SQLite gives the clearer error.
            Err(_) => return Ok(()),
        }
        for file in [
            path.to_path_buf(),
            sibling(path, "-wal"),
            sibling(path, "-shm"),
        ] {
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{:o}", mode & 0o777), "the database file was readable by others; it is now owner-only");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
