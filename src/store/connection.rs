//! One connection type over both backends, and the pool that hands it out.
//!
//! The backend is chosen by the URL's scheme, never by trial: the derived
//! `MultiConnection::establish` tries each backend in turn, hides the Postgres
//! error and may create a SQLite file named after a mistyped Postgres URL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, CustomizeConnection, ManageConnection};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database location, parsed once from configuration.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver receives: the URL for Postgres, a file path for SQLite.
    target: String,
}

impl DatabaseUrl {
    /// `postgres://` and `postgresql://` select Postgres; `sqlite://PATH`, `sqlite:PATH`
    /// or a bare path select SQLite. Anything else with a scheme is refused.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("the database URL is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_string(),
            });
        }
        // libpq's `host=… dbname=… password=…` form: not a file name to create.
        let conninfo = url.split_whitespace().any(|pair| {
            pair.split_once('=').is_some_and(|(key, _)| {
                [
                    "host", "hostaddr", "dbname", "user", "password", "port", "sslmode",
                ]
                .contains(&key.to_ascii_lowercase().as_str())
            })
        });
        if conninfo && !url.contains("://") {
            return Err(
                "libpq key/value connection strings are not supported: give a postgres:// URL"
                    .into(),
            );
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err("the SQLite database path is empty".into());
        }
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "sqlite"
        {
            return Err(format!(
                "unsupported database scheme `{scheme}://`: use postgres:// or a SQLite file path"
            ));
        }
        Ok(Self {
            backend: Backend::Sqlite,
            target: path.to_string(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite database file, for a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        (self.backend == Backend::Sqlite && self.target != ":memory:")
            .then(|| std::path::Path::new(&self.target))
    }

    /// Bounds how long Postgres connections may hang: libpq's `connect_timeout` (at least
    /// 2 s, libpq's floor), and TCP keepalives and a TCP user timeout so a connection to a
    /// vanished server fails within seconds instead of the kernel's hours. Parameters the URL
    /// already sets are kept.
    pub fn with_timeouts(&self, connect: Duration) -> Self {
        if self.backend != Backend::Postgres {
            return self.clone();
        }
        let connect = connect.as_secs().max(2).to_string();
        let mut target = self.target.clone();
        for (key, value) in [
            ("connect_timeout", connect.as_str()),
            ("keepalives", "1"),
            ("keepalives_idle", "5"),
            ("keepalives_interval", "2"),
            ("keepalives_count", "3"),
            ("tcp_user_timeout", "10000"),
        ] {
            let query = target.split_once('?').map_or("", |(_, q)| q);
            if query
                .split('&')
                .any(|pair| pair.split('=').next() == Some(key))
            {
                continue;
            }
            target.push(if target.contains('?') { '&' } else { '?' });
            target.push_str(&format!("{key}={value}"));
        }
        Self {
            backend: self.backend,
            target,
        }
    }

    /// The URL with any password replaced, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.target.clone(),
            Backend::Postgres => redact_password(&self.target),
        }
    }

    pub fn establish(&self) -> ConnectionResult<AnyConnection> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target).map(AnyConnection::Postgres),
            Backend::Sqlite => SqliteConnection::establish(&self.target).map(AnyConnection::Sqlite),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A database URL with its secrets replaced by `***`, in every form libpq accepts: the
/// password of `scheme://user:secret@host`, and the value of every `password` or
/// `sslpassword` query parameter, however its name is written (percent-encoded or in
/// another case). Anything that is not a URL is returned as it is (a SQLite path).
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: a libpq key/value string (refused as a database) still keeps its secret.
        return url
            .split(' ')
            .map(|pair| match pair.split_once('=') {
                Some((key, _))
                    if ["password", "sslpassword"]
                        .iter()
                        .any(|n| key.trim().eq_ignore_ascii_case(n)) =>
                {
                    format!("{key}=***")
                }
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, format!("#{fragment}")),
                None => (query, String::new()),
            };
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| {
                    let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
                    let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                        .map(|(k, _)| k.into_owned())
                        .collect();
                    let secret = ["password", "sslpassword"]
                        .iter()
                        .any(|name| decoded.trim().eq_ignore_ascii_case(name));
                    if secret {
                        format!("{key}=***")
                    } else {
                        pair.to_string()
                    }
                })
                .collect();
            format!("{path}?{}{fragment}", pairs.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// `text` (a driver's error message) with every secret of `url` in it replaced by `***`:
/// the password of its userinfo, and of its `password` and `sslpassword` parameters, as
/// written and percent-decoded, and the pieces of a password holding `@` that libpq may
/// quote as a host name.
pub fn redact_secrets_in(text: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_string());
            secrets.extend(password.split('@').map(String::from));
        }
        if let Some((_, query)) = rest.split_once('?') {
            for pair in query.split(['&', '#']) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let key: String = url::form_urlencoded::parse(key.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect();
                if ["password", "sslpassword"]
                    .iter()
                    .any(|n| key.trim().eq_ignore_ascii_case(n))
                {
                    secrets.push(value.to_string());
                }
            }
        }
    }
    let decoded: Vec<String> = secrets
        .iter()
        .filter_map(|s| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    secrets.extend(decoded);
    // Longest first, so a piece never leaves the rest of its secret behind.
    secrets.retain(|s| s.len() >= 2);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut redacted = text.to_string();
    for secret in secrets {
        redacted = redacted.replace(&secret, "***");
    }
    redacted
}

/// A connection as the pool keeps it: the driver's connection, and what the pool needs to
/// decide, without a round trip, whether to check it before handing it out.
pub struct Pooled {
    conn: AnyConnection,
    /// `CONNECTION_FAILURES` when this connection was last known to work.
    failures_seen: u64,
    /// When it last went back to the pool.
    returned: Instant,
    /// Failed its check: the pool drops it instead of keeping it.
    broken: bool,
    /// When Postgres last dropped this connection's cached plans (`REPLAN`).
    plans_made: Instant,
    replan_after: Duration,
}

/// Connection failures seen by any request (a closed connection, a failed send); a change
/// tells the pool that the connections it holds may be dead too (a database restart ends
/// them all), so each is checked once before its next use.
static CONNECTION_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Counts a failure of a database connection (see `CONNECTION_FAILURES`).
pub(super) fn connection_failed() {
    CONNECTION_FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// A Postgres connection idle this long is checked before use: it may have been closed by the
/// server or a network device meanwhile, without any request seeing it fail.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(30);

/// What checks a Postgres connection, and drops the plans it has cached meanwhile. Postgres
/// keeps a prepared statement's generic plan for the life of the connection, made for the
/// table sizes of the moment: on a new database, a seq scan of a nearly empty table, still
/// used once the table holds a million rows (statistics that would invalidate it come only
/// from `ANALYZE`, and this deployment may run without autovacuum). Dropping the plans every
/// `replan_after` bounds how long such a plan lives; the prepared statements themselves stay,
/// so nothing is parsed again (decision 64).
const REPLAN: &str = "DISCARD PLANS";

impl Pooled {
    fn new(conn: AnyConnection, replan_after: Duration) -> Self {
        Self {
            conn,
            failures_seen: CONNECTION_FAILURES.load(Ordering::Relaxed),
            returned: Instant::now(),
            broken: false,
            plans_made: Instant::now(),
            replan_after,
        }
    }

    /// Whether this connection must answer a check (`REPLAN`) before it is used: never for
    /// SQLite (a file cannot go away under an open connection, and SQLite plans without table
    /// sizes); for Postgres after a connection failure anywhere since it last worked, a long
    /// idle spell, or when its plans are due to be made again. A request's connection is
    /// otherwise not validated: one that died meanwhile fails that request with 503, counts a
    /// failure, and is then checked and dropped.
    fn needs_check(&self) -> bool {
        match self.conn {
            AnyConnection::Sqlite(_) => false,
            AnyConnection::Postgres(_) => {
                self.failures_seen != CONNECTION_FAILURES.load(Ordering::Relaxed)
                    || self.returned.elapsed() > CHECK_AFTER_IDLE
                    || self.plans_made.elapsed() > self.replan_after
            }
        }
    }

    /// Checks the connection if it needs it (`needs_check`); false if it is dead, in which
    /// case the pool drops it when it is returned.
    pub(super) fn usable(&mut self) -> bool {
        if !self.needs_check() {
            return true;
        }
        let seen = CONNECTION_FAILURES.load(Ordering::Relaxed);
        match self.conn.batch_execute(REPLAN) {
            Ok(()) => {
                self.failures_seen = seen;
                self.plans_made = Instant::now();
                true
            }
            Err(_) => {
                self.broken = true;
                false
            }
        }
    }
}

impl std::ops::Deref for Pooled {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// r2d2 manager that establishes connections by URL scheme and reports the driver's real error.
pub struct ConnectionManager {
    url: DatabaseUrl,
    replan_after: Duration,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, replan_after: Duration) -> Self {
        Self { url, replan_after }
    }
}

/// The pool does not test connections on checkout (`Store::connect` turns it off): a
/// `SELECT 1` before every use was a round trip per checkout. `Pooled::usable` checks only
/// connections that may have died.
impl ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        self.url
            .establish()
            .map(|conn| Pooled::new(conn, self.replan_after))
            // libpq quotes the parts of a URL it cannot read, the password among them.
            .map_err(|error| {
                let text = redact_secrets_in(&error.to_string(), &self.url.target);
                r2d2::Error::ConnectionError(ConnectionError::BadConnection(text))
            })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.returned = Instant::now();
        conn.broken
    }
}

/// Page cache of each SQLite connection, in KiB (SQLite's default is 2,000). Every pooled
/// connection keeps its own cache for as long as it lives, so the default cost up to 16 MiB
/// resident across a pool of 8; pages missed here come from the OS page cache, a copy
/// away (decision 57).
pub const SQLITE_CACHE_KIB: u32 = 512;

/// How long Postgres lets a transaction of ours wait for its client's next statement.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(10);

/// Per-connection settings. SQLite: WAL so readers never block the writer, foreign keys
/// (off by default in SQLite), LIKE that respects case as Postgres' does, a busy timeout
/// so concurrent writers queue instead of failing, checkpoints left to the background
/// (`store::wal`) unless it falls far behind, and a page cache of `SQLITE_CACHE_KIB`.
#[derive(Debug)]
pub struct ConnectionSetup {
    pub busy_timeout: Duration,
}

impl CustomizeConnection<Pooled, r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        match &mut conn.conn {
            AnyConnection::Sqlite(c) => c
                .batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON; \
                     PRAGMA busy_timeout = {}; PRAGMA wal_autocheckpoint = {}; \
                     PRAGMA cache_size = -{};",
                    self.busy_timeout.as_millis(),
                    super::wal::REQUEST_CHECKPOINT_PAGES,
                    SQLITE_CACHE_KIB
                ))
                .map_err(r2d2::Error::QueryError),
            // A transaction whose client vanished mid-way (a partitioned replica) would hold
            // its row locks, the tenant's audit head among them, until the server noticed the
            // dead connection; no transaction of ours idles, so the server ends such ones.
            AnyConnection::Postgres(c) => c
                .batch_execute(&format!(
                    "SET TIME ZONE 'UTC'; SET idle_in_transaction_session_timeout = {};",
                    IDLE_IN_TRANSACTION.as_millis()
                ))
                .map_err(r2d2::Error::QueryError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_select_postgres() {
        for url in ["postgres://u@h/db", "postgresql://h/db?sslmode=require"] {
            assert_eq!(
                DatabaseUrl::parse(url).map(|u| u.backend()).ok(),
                Some(Backend::Postgres),
                "{url}"
            );
        }
    }

    #[test]
    fn paths_and_sqlite_urls_select_sqlite() {
        for (url, path) in [
            ("scimitar.db", "scimitar.db"),
            ("sqlite://data/x.db", "data/x.db"),
            ("sqlite:x.db", "x.db"),
        ] {
            let parsed = DatabaseUrl::parse(url).ok();
            assert_eq!(
                parsed.as_ref().map(|u| u.backend()),
                Some(Backend::Sqlite),
                "{url}"
            );
            assert_eq!(parsed.map(|u| u.target), Some(path.to_string()));
        }
    }

    #[test]
    fn unknown_schemes_are_refused_rather_than_becoming_a_sqlite_file() {
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("postgress://h/db").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn postgres_urls_get_timeouts_unless_they_set_their_own() {
        let url = DatabaseUrl::parse("postgres://u@h/db?connect_timeout=9").ok();
        let target = url.map(|u| u.with_timeouts(Duration::from_secs(1)).target);
        assert_eq!(
            target.as_deref(),
            Some(
                "postgres://u@h/db?connect_timeout=9&keepalives=1&keepalives_idle=5\
                 &keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000"
            )
        );
        let bare = DatabaseUrl::parse("postgres://u@h/db").ok();
        let target = bare.map(|u| u.with_timeouts(Duration::from_secs(5)).target);
        assert!(target.is_some_and(|t| t.starts_with("postgres://u@h/db?connect_timeout=5&")));
        let sqlite = DatabaseUrl::parse("x.db").ok();
        let target = sqlite.map(|u| u.with_timeouts(Duration::from_secs(5)).target);
        assert_eq!(target.as_deref(), Some("x.db"));
    }

    #[test]
    fn redaction_hides_only_the_password() {
        let url =
            DatabaseUrl::parse("postgres://scim:s3cret@db.internal:5432/scim?sslmode=require").ok();
        assert_eq!(
            url.map(|u| u.redacted()),
            Some("postgres://scim:***@db.internal:5432/scim?sslmode=require".to_string())
        );
        let no_password = DatabaseUrl::parse("postgres://scim@db/scim").ok();
        assert_eq!(
            no_password.map(|u| u.redacted()),
            Some("postgres://scim@db/scim".to_string())
        );
    }
}
