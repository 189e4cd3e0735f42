//! Persistence: the connection pool, migrations, transactions and the queries of each table.
//!
//! This is the only module that knows there are two backends. Everything above it receives an
//! `&mut AnyConnection` inside a transaction and calls the query functions of the submodules.

pub mod audit;
mod backup;
mod connection;
pub mod console_sessions;
pub mod credential_cache;
pub mod credentials;
pub mod document;
mod files;
pub mod filter;
pub mod flags;
mod group_commit;
pub mod group_users;
pub mod groups;
mod heads;
pub mod keys;
pub mod match_values;
pub mod membership;
pub mod notify;
pub mod outbox;
mod paging;
pub mod receivers;
pub mod resource_table;
pub mod revocation_assertions;
pub mod role_catalog;
pub mod roles;
pub mod schema;
pub mod sessions;
pub mod ssf;
pub mod tenant_summary;
pub mod tenants;
pub mod users;
pub mod wal;
mod write;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use connection::{AnyConnection, Backend, DatabaseUrl, redact_password};
use connection::{ConnectionManager, ConnectionSetup};
pub use resource_table::{ResourceTable, WithRelated};
pub use write::{Read, Session, Write};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Serialises migrations when several replicas start at once on one Postgres database.
const MIGRATION_LOCK_KEY: i64 = 0x5c1a_0001;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("a unique constraint was violated: {0}")]
    Conflict(String),
    #[error("no such record")]
    NotFound,
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A grouped write's batch could not write its last statements (`group`).
    #[error("the write could not be completed: {0}")]
    Incomplete(String),
    /// A backup's file could not be made (it exists, or the directory refuses it).
    #[error("no backup written: {0}")]
    Backup(String),
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                connection::connection_failed();
                StoreError::Unavailable(info.message().to_string())
            }
            // Postgres aborted the transaction to break a deadlock or keep transactions
            // serializable: nothing of it was written, and trying again may well succeed.
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().starts_with("deadlock detected") =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<r2d2::PoolError> for StoreError {
    fn from(error: r2d2::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

/// Pool sizing and timeouts; defaults suit a single node with an embedded SQLite file.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// How long a SQLite writer waits for the write lock.
    pub busy_timeout: Duration,
    /// Concurrent writes share one transaction (`group`); off, each commits alone.
    pub group_commit: bool,
    /// How long a Postgres connection keeps the plans it cached (`connection::REPLAN`).
    pub replan_after: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            group_commit: true,
            replan_after: Duration::from_secs(2),
        }
    }
}

/// Handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager>,
    url: DatabaseUrl,
    /// Set on a rolled-back handle (`rolled_back`): every write is rolled back once this has
    /// looked at it.
    rolled_back: Option<std::sync::Arc<dyn RolledBack>>,
    /// Rung after a commit that wrote outbox events (`outbox::doorbell`).
    doorbell: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// Active credentials kept in memory (`credential_cache`).
    credentials: std::sync::Arc<credential_cache::CredentialCache>,
    /// The batches concurrent writes share (`group`).
    group: std::sync::Arc<group_commit::GroupCommit>,
    /// Whether writes are grouped at all (`PoolSettings::group_commit`).
    group_commit: bool,
}

/// Looks at each write through a rolled-back handle (`Store::rolled_back`), just before and
/// just after its work, in its transaction, which is then rolled back: what a dry run (SCIM's
/// preview) needs to see what the write would have done.
pub trait RolledBack: Send + Sync {
    fn before(&self, write: &mut Write) -> Result<(), StoreError>;
    fn after(&self, write: &mut Write) -> Result<(), StoreError>;
}

impl Store {
    /// Connects, applies pending migrations and makes sure the default tenant exists.
    pub fn open(url: &DatabaseUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        Self::open_with(url, settings, &mut |_, _, _| {})
    }

    /// `open`, telling `on_migration` (name, index, count) before each pending migration runs.
    pub fn open_with(
        url: &DatabaseUrl,
        settings: &PoolSettings,
        on_migration: OnMigration<'_>,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(url, settings)?;
        store.migrate_with(on_migration)?;
        store.write(|conn| tenants::ensure_default(conn, now()))?;
        Ok(store)
    }

    /// Connects without migrating; one connection is made now so a wrong URL fails at once.
    pub fn connect(url: &DatabaseUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        if let Some(path) = url.sqlite_path() {
            files::owner_only_database(path)?;
        }
        let url = &url.with_timeouts(settings.acquire_timeout);
        // No idle minimum: r2d2 would otherwise open replacement connections on a background
        // thread, and a process exiting during a libpq connect crashes in OpenSSL's teardown.
        let pool = Pool::builder()
            .max_size(settings.max_connections.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(settings.acquire_timeout)
            .connection_customizer(Box::new(ConnectionSetup {
                busy_timeout: settings.busy_timeout,
            }))
            .error_handler(Box::new(ConnectionErrorLog))
            .build(ConnectionManager::new(url.clone(), settings.replan_after))
            .map_err(|e| StoreError::Unavailable(format!("{} ({})", e, url.redacted())))?;
        let store = Self {
            pool,
            url: url.clone(),
            rolled_back: None,
            doorbell: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            credentials: Default::default(),
            group: Default::default(),
            group_commit: settings.group_commit,
        };
        store.ping()?;
        Ok(store)
    }

    /// A handle whose writes run in full, each in a transaction of its own, and are then
    /// rolled back, once `watcher` has looked at them: nothing changes, not even the audit
    /// chain.
    pub fn rolled_back(&self, watcher: std::sync::Arc<dyn RolledBack>) -> Store {
        Store {
            rolled_back: Some(watcher),
            ..self.clone()
        }
    }

    /// Wakes on each ring of this store's doorbell: outbox events were committed.
    pub fn doorbell(&self) -> tokio::sync::watch::Receiver<u64> {
        self.doorbell.subscribe()
    }

    /// Rings the doorbell (after a commit here, or a notification from another replica).
    pub fn ring(&self) {
        self.doorbell
            .send_modify(|rings| *rings = rings.wrapping_add(1));
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// Whether a short read can run on the calling thread without waiting: on the embedded
    /// SQLite store (a read there is a few dozen microseconds of CPU, not a network round
    /// trip) while a pooled connection is idle. A racing checkout may still take that one;
    /// the read then waits for the next, as a read on the blocking pool would.
    pub fn reads_without_waiting(&self) -> bool {
        self.backend() == Backend::Sqlite && self.pool.state().idle_connections > 0
    }

    /// The database this store connects to (with its connection timeouts).
    pub fn database_url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Applies the embedded migrations of this backend; returns the names of those applied now.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.migrate_with(&mut |_, _, _| {})
    }

    fn migrate_with(&self, on_migration: OnMigration<'_>) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection()?;
        let applied = match &mut *conn {
            AnyConnection::Sqlite(c) => run_migrations(c, SQLITE_MIGRATIONS, on_migration),
            AnyConnection::Postgres(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
                let result = run_migrations(c, POSTGRES_MIGRATIONS, on_migration);
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
                result
            }
        }?;
        Ok(applied)
    }

    /// Checks that the database answers: the readiness probe.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.connection()?
            .batch_execute("SELECT 1")
            .map_err(StoreError::from)
    }

    /// Runs `work` on a connection outside any explicit transaction (single reads).
    pub fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Read) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut read = Read(self.connection()?);
        work(&mut read)
    }

    /// Runs `work` in a transaction, so every change made inside commits together or not at
    /// all, and returns once it has committed. The work gets the transaction as a `Write`
    /// value. Concurrent writes share one transaction and one commit (group commit,
    /// `group_commit`): each runs in a savepoint of its own, so a failed one leaves nothing and
    /// the others are kept. Previews, and writes nested in another write's work, run in a
    /// transaction of their own (`write_alone`).
    pub fn write<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Write) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_in("", work)
    }

    /// `write`, for a write whose records go to `tenant_id`'s chains: on Postgres it is
    /// grouped with that tenant's writes only, and batches of different tenants run at once
    /// (`group_commit`). It may still write other tenants' rows, as any write may.
    pub fn write_in<T, E: From<StoreError>>(
        &self,
        tenant_id: &str,
        work: impl FnOnce(&mut Write) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.rolled_back.is_some() || group_commit::in_write() || !self.group_commit {
            return self.write_alone(work);
        }
        let lane = match self.backend() {
            Backend::Postgres => tenant_id,
            Backend::Sqlite => "",
        };
        group_commit::write(self, lane, work)
    }

    /// Writes in the batch now accepting more whose work has not ended yet (the one running
    /// included): for tests that need writes to share a batch, and for diagnostics.
    pub fn queued_writes(&self) -> usize {
        self.group.queued()
    }

    /// Runs `work` in one transaction of its own (`begin_write`); on a rolled-back handle it
    /// is rolled back once its watcher has looked at it.
    fn write_alone<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Write) -> Result<T, E>,
    ) -> Result<T, E> {
        type Manager = <AnyConnection as Connection>::TransactionManager;
        let mut conn = self.connection()?;
        begin_write(&mut conn)?;
        let _in_write = group_commit::InWrite::enter();
        let mut write = Write::begin(conn, heads::Heads::default());
        if let Some(watcher) = &self.rolled_back {
            let result = watched(&mut write, watcher.as_ref(), work);
            let (mut conn, _, _) = write.end();
            if let Err(rollback) = Manager::rollback_transaction(&mut *conn) {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            return result;
        }
        let result = work(&mut write).and_then(|value| Ok(write.write_heads().map(|()| value)?));
        let (mut conn, _, effects) = write.end();
        match result {
            Ok(value) => {
                Manager::commit_transaction(&mut *conn).map_err(StoreError::from)?;
                if effects.run() {
                    self.ring();
                }
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = Manager::rollback_transaction(&mut *conn) {
                    tracing::warn!(error = %rollback, "rollback failed");
                }
                Err(error)
            }
        }
    }

    /// A connection from the pool; one that may have died since its last use is checked
    /// first, and a dead one is dropped and the next taken (`connection::Pooled::usable`).
    fn connection(&self) -> Result<Checkout, StoreError> {
        loop {
            let mut conn = self.pool.get()?;
            if conn.usable() {
                return Ok(Checkout(conn));
            }
        }
    }
}

/// Begins a write transaction. SQLite: `BEGIN IMMEDIATE`, which takes the write lock at once
/// (a deferred one that upgrades from read to write fails under concurrency instead of
/// waiting). Postgres: `BEGIN`. Its statements, and the foreign-key checks and triggers they
/// run, use the plans the connection keeps; those are made again every
/// `PoolSettings::replan_after` (decision 66), so a plan made while `users` was nearly empty
/// does not go on scanning it (decision 61 planned every write statement afresh instead).
fn begin_write(conn: &mut AnyConnection) -> Result<(), StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        AnyConnection::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN"),
    }?;
    Ok(())
}

/// A connection checked out of the pool, returned to it when dropped.
struct Checkout(PooledConnection<ConnectionManager>);

impl std::ops::Deref for Checkout {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Checkout {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

/// Runs work on a rolled-back handle, its watcher told before and after.
fn watched<T, E: From<StoreError>>(
    write: &mut Write,
    watcher: &dyn RolledBack,
    work: impl FnOnce(&mut Write) -> Result<T, E>,
) -> Result<T, E> {
    watcher.before(write)?;
    let value = work(write)?;
    watcher.after(write)?;
    Ok(value)
}

/// Logs each failed connection attempt once, as a warning; the request that waited for it
/// reports the outcome.
#[derive(Debug)]
struct ConnectionErrorLog;

impl r2d2::HandleError<r2d2::Error> for ConnectionErrorLog {
    fn handle_error(&self, error: r2d2::Error) {
        tracing::warn!(%error, "database connection attempt failed");
    }
}

/// Told the name, index and count of each pending migration before it runs.
pub type OnMigration<'a> = &'a mut dyn FnMut(&str, usize, usize);

fn run_migrations<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    on_migration: OnMigration<'_>,
) -> Result<Vec<String>, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let pending = conn.pending_migrations(migrations).map_err(failed)?;
    let mut applied = Vec::with_capacity(pending.len());
    for (index, migration) in pending.iter().enumerate() {
        on_migration(&migration.name().to_string(), index, pending.len());
        let version = conn.run_migration(migration.as_ref()).map_err(failed)?;
        applied.push(version.to_string());
    }
    Ok(applied)
}

/// Timestamps are stored as UTC without zone, truncated to microseconds: Postgres keeps
/// microseconds and SQLite would keep nanoseconds, and both must read back the same value.
pub fn to_stored(time: DateTime<Utc>) -> NaiveDateTime {
    time.naive_utc().trunc_subsecs(6)
}

pub fn from_stored(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// Wall-clock time for start-up work that happens before any clock is injected.
fn now() -> NaiveDateTime {
    to_stored(Utc::now())
}

/// The row-lock clause of this backend, for a `SELECT` whose rows must stay locked until the
/// end of the transaction: ` FOR UPDATE` on Postgres; nothing on SQLite, whose write
/// transactions already run one at a time (`BEGIN IMMEDIATE`). Every lock in the store goes
/// through here, through `lock_row`, or (users and groups, read and locked in one statement)
/// through diesel's `for_update` on the Postgres connection alone (`resource_table`).
pub(crate) fn lock_clause(conn: &AnyConnection) -> &'static str {
    match conn {
        AnyConnection::Postgres(_) => " FOR UPDATE",
        AnyConnection::Sqlite(_) => "",
    }
}

/// Locks the rows of `table` whose `key` columns equal the given values until the end of the
/// transaction, so a read-modify-write cannot lose a concurrent update (see `lock_clause`).
fn lock_row(conn: &mut AnyConnection, table: &str, key: &[(&str, &str)]) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::Text;
    let lock = lock_clause(conn);
    if lock.is_empty() || key.is_empty() {
        return Ok(());
    }
    let condition: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(at, (column, _))| format!("{column} = ${}", at + 1))
        .collect();
    let sql = format!(
        "SELECT 1 FROM {table} WHERE {}{lock}",
        condition.join(" AND ")
    );
    let mut query = diesel::sql_query(sql).into_boxed();
    for (_, value) in key {
        query = query.bind::<Text, _>(value.to_string());
    }
    query.execute(conn)?;
    Ok(())
}

/// Inserts rows several to a statement (18 columns × 50 rows stays far below both backends'
/// bind limits): a cascade of thousands of rows costs tens of round trips, not thousands.
/// Multi-row inserts need the concrete connection, as `MultiBackend` cannot express them.
macro_rules! insert_in_batches {
    ($conn:expr, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks(50) {
            let insert = diesel::insert_into($table).values(chunk);
            match &mut *$conn {
                AnyConnection::Sqlite(c) => insert.execute(c)?,
                AnyConnection::Postgres(c) => insert.execute(c)?,
            };
        }
    };
}
pub(crate) use insert_in_batches;

/// Upper bound on ids bound in one `IN (…)` list, under SQLite's and Postgres' parameter limits.
const MAX_BOUND_IDS: usize = 500;
