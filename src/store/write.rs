//! A write transaction as a value.
//!
//! `Store::write` hands its work one `Write`: the connection with the transaction open, the
//! chain heads it has locked with the audit records and outbox events waiting behind them
//! (`heads`), and what is to happen once it commits (hooks, a doorbell ring). Everything a
//! write does that outlives a statement is in this value, so a function that records audit,
//! emits events or defers work says so by taking `&mut Write`; one that only runs statements
//! takes `&mut AnyConnection`, which a `Write` derefs to.
//!
//! Reads of the audit and outbox tables go through `Session`, which only a `Write` and a
//! `Read` (what `Store::read` hands its work) are: a write inserts the rows it holds first,
//! so the read sees them. A bare connection is not a `Session`, so a function that reads
//! those tables says which it runs in, and none can read them past a write's held rows.

use super::heads::Heads;
use super::{AnyConnection, Checkout, StoreError};

/// One write transaction's connection, held heads and after-commit effects.
pub struct Write {
    conn: Checkout,
    held: Heads,
    effects: AfterCommit,
}

/// What a write asks for once it has committed, and never if it rolls back.
#[derive(Default)]
pub(super) struct AfterCommit {
    pub(super) hooks: Vec<Box<dyn FnOnce()>>,
    /// The write emitted outbox events: the store's doorbell rings.
    pub(super) rings: bool,
}

impl AfterCommit {
    /// Runs the hooks; true when the doorbell should ring.
    pub(super) fn run(self) -> bool {
        self.hooks.into_iter().for_each(|hook| hook());
        self.rings
    }
}

impl Write {
    /// A write on `conn`, whose transaction has begun, holding `held` (a grouped batch's heads
    /// as the members before this one left them).
    pub(super) fn begin(conn: Checkout, held: Heads) -> Self {
        Self {
            conn,
            held,
            effects: AfterCommit::default(),
        }
    }

    /// The parts back, once the work has run: the connection, the heads as the work left
    /// them, and what it asked for after the commit.
    pub(super) fn end(self) -> (Checkout, Heads, AfterCommit) {
        (self.conn, self.held, self.effects)
    }

    /// Runs `hook` once this write commits, and never if it rolls back: for signals about
    /// committed state (a doorbell, a metric, a cache to forget).
    pub fn after_commit(&mut self, hook: impl FnOnce() + 'static) {
        self.effects.hooks.push(Box::new(hook));
    }

    /// Rings the doorbell once this write commits (it wrote outbox events): this store's at
    /// once, and on Postgres every replica's, through one `NOTIFY` the transaction sends just
    /// before its commit (`notify::before_commit`).
    pub fn ring_after_commit(&mut self) {
        self.effects.rings = true;
    }

    /// The connection and the heads, for the chains' own appends (`audit`, `outbox`).
    pub(super) fn held(&mut self) -> (&mut AnyConnection, &mut Heads) {
        (&mut self.conn, &mut self.held)
    }

    /// Inserts the records and events held, writes the heads moved and, if the write rang,
    /// notifies other replicas: the transaction's last statements before its commit.
    pub(super) fn write_heads(&mut self) -> Result<(), StoreError> {
        self.held.write(&mut self.conn)?;
        super::notify::before_commit(&mut self.conn, self.effects.rings)
    }
}

impl std::ops::Deref for Write {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Write {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// What a read of the audit or outbox tables runs on: a `Read`, or a `Write`, which first
/// inserts the rows it holds so that the read sees everything the transaction wrote. A bare
/// connection (a write's, reached through its `Deref`) is refused:
///
/// ```
/// fn through_a_session(read: &mut scimitar::store::Read, write: &mut scimitar::store::Write) {
///     let _ = scimitar::store::audit::chain(read, "tenant", 0, 10);
///     let _ = scimitar::store::audit::chain(write, "tenant", 0, 10);
/// }
/// ```
///
/// ```compile_fail
/// fn past_the_held_rows(conn: &mut scimitar::store::AnyConnection) {
///     let _ = scimitar::store::audit::chain(conn, "tenant", 0, 10);
/// }
/// ```
pub trait Session {
    fn visible(&mut self) -> Result<&mut AnyConnection, StoreError>;
}

/// A connection outside any write transaction (`Store::read`).
pub struct Read(pub(super) Checkout);

impl std::ops::Deref for Read {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Read {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

impl Session for Read {
    fn visible(&mut self) -> Result<&mut AnyConnection, StoreError> {
        Ok(&mut self.0)
    }
}

impl Session for Write {
    fn visible(&mut self) -> Result<&mut AnyConnection, StoreError> {
        self.held.insert_rows(&mut self.conn)?;
        Ok(&mut self.conn)
    }
}
