//! Group commit: concurrent writes share one transaction, and one commit.
//!
//! A write that arrives while another batch is being written joins the open batch instead of
//! beginning a transaction of its own. The batch's first member (its leader) checks out one
//! connection and begins the transaction; each member in turn, on its own thread, runs its
//! work inside a savepoint of its own, kept if the work succeeds and rolled back if it
//! fails, so every request keeps its all-or-nothing outcome and its own answer. When no
//! member is left waiting for its turn, the leader commits once; only then are the members
//! that succeeded told so (and their after-commit hooks run and the doorbell rings, once).
//! Should the commit fail, every member that had succeeded fails with it: nothing of the
//! batch was written.
//!
//! Writes queue in lanes: one batch holds the transaction at a time per lane, so while one
//! commits the next gathers the writes that arrive meanwhile. On SQLite, whose writers are
//! serialised anyway, every write is in one lane. On Postgres each tenant has a lane of its
//! own (a write names its tenant: `Store::write_in`), and writes that name none share one
//! more: batches of different tenants run at once on connections of their own, since what a
//! batch serialises on (the audit and outbox heads) is per tenant (decision 89). On SQLite,
//! where a write never waits, a leader that finds no batch running lets the writes already on
//! their way join first (`Lane::gather`, decision 69).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use diesel::Connection;
use diesel::connection::{SimpleConnection, TransactionManager};

use super::heads::Heads;
use super::write::AfterCommit;
use super::{AnyConnection, Checkout, Store, StoreError, Write};

/// Most writes in one batch. Below 64 so that on Postgres a batch's savepoints (one
/// subtransaction each) stay within the per-backend subtransaction cache: past it, every
/// other session's snapshot checks must read `pg_subtrans` while the batch is open.
const MAX_MEMBERS: usize = 32;

/// Most times a leader that found no batch running yields its core before it begins, while
/// each yield lets more writes join (see `Lane::gather`).
const GATHER_YIELDS: usize = 8;

/// The savepoint each member's work runs in. Members run one after another, so one name
/// serves. On Postgres a member that succeeded leaves its savepoint open (a `RELEASE` would
/// cost a round trip and free nothing: its subtransaction counts against the cache above
/// until the commit either way), the next one nests inside it, and a member that failed is
/// rolled back to the innermost, its own, and releases it; the commit ends them all. On
/// SQLite, where a release is a call and keeps the statement journal to one member's pages,
/// each is released (or rolled back and released) before the next. The batch's first turn
/// sets none: nothing is in the transaction before it, so a failure there is undone by
/// rolling the transaction back and beginning it again (`restart`), and a batch pays one
/// round trip fewer (a write alone on Postgres: 3 round trips to its commit instead of 4).
const SAVEPOINT: &str = "scimitar_member";

/// The lanes of one store (shared by its clones), by tenant ("" for writes that name none,
/// and every write on SQLite).
#[derive(Default)]
pub(super) struct GroupCommit {
    lanes: Mutex<std::collections::HashMap<String, Arc<Lane>>>,
}

impl GroupCommit {
    /// The lane of `key`, made on first use.
    fn lane(&self, key: &str) -> Arc<Lane> {
        let mut lanes = lock(&self.lanes);
        match lanes.get(key) {
            Some(lane) => lane.clone(),
            None => {
                let lane = Arc::new(Lane::default());
                lanes.insert(key.to_string(), lane.clone());
                lane
            }
        }
    }

    /// Writes in the open batches whose turn has not ended yet.
    pub(super) fn queued(&self) -> usize {
        let lanes: Vec<Arc<Lane>> = lock(&self.lanes).values().cloned().collect();
        lanes.iter().map(|lane| lane.queued()).sum()
    }
}

/// One lane's batches: one at a time holds a transaction.
#[derive(Default)]
struct Lane {
    state: Mutex<GroupState>,
    /// Wakes a leader waiting for the running batch to end.
    turn: Condvar,
}

#[derive(Default)]
struct GroupState {
    /// The batch a new write joins; `None` when none is accepting members.
    open: Option<Arc<Batch>>,
    /// A batch holds the transaction: the next leader waits for it to end.
    running: bool,
}

/// Each kind of wait has a condition variable of its own, so that a turn's end wakes the one
/// thread it concerns: with a single one, each of a batch's n turns woke every member waiting
/// for a turn or for the outcome, n² thread wake-ups per batch on the server's core.
#[derive(Default)]
struct Batch {
    state: Mutex<BatchState>,
    /// Wakes a member waiting for the connection (every one, once the batch cannot run).
    handed: Condvar,
    /// Wakes the leader waiting for every turn to end.
    drained: Condvar,
    /// Wakes the members waiting for the batch's outcome.
    ended: Condvar,
}

#[derive(Default)]
struct BatchState {
    /// Members that joined (for the cap).
    members: usize,
    /// Members whose turn has not ended yet; the leader commits when none is left.
    queued: usize,
    /// The connection with the open transaction, while no member holds it.
    conn: Option<Checkout>,
    /// The chain heads the transaction holds, as the members that succeeded left them
    /// (`heads`): each tenant's heads are locked and read once per batch, written at its end.
    heads: Heads,
    /// The transaction could not begin: no member runs.
    failed: Option<String>,
    /// A member's savepoint could not be undone (or a turn ended abnormally): the batch
    /// cannot commit, and members still waiting do not run.
    broken: Option<String>,
    /// Members that succeeded (their savepoint released).
    succeeded: usize,
    /// Turns taken so far: the first runs without a savepoint.
    turns: usize,
    /// A member that succeeded wrote outbox events: ring the doorbell after commit.
    rings: bool,
    /// Set by the leader once the batch has ended: committed, or why not.
    outcome: Option<Result<(), Unwritten>>,
}

/// Locks ignoring poison: a panicking member must not wedge every later write; the state
/// these locks guard is kept consistent by the turn guards below.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

std::thread_local! {
    /// Set while this thread runs write work: a write nested in it runs alone (`Store::write`).
    static IN_WRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is already inside a write's work.
pub(super) fn in_write() -> bool {
    IN_WRITE.with(|flag| flag.get())
}

/// Marks this thread as running write work until dropped (also when unwinding).
pub(super) struct InWrite(bool);

impl InWrite {
    pub(super) fn enter() -> Self {
        Self(IN_WRITE.with(|flag| flag.replace(true)))
    }
}

impl Drop for InWrite {
    fn drop(&mut self) {
        IN_WRITE.with(|flag| flag.set(self.0));
    }
}

/// Runs `work` as a member of the open batch (or of a new one, as its leader); returns once
/// the batch has committed, or at once if `work` fails.
pub(super) fn write<T, E: From<StoreError>>(
    store: &Store,
    lane: &str,
    work: impl FnOnce(&mut Write) -> Result<T, E>,
) -> Result<T, E> {
    let lane = store.group.lane(lane);
    let (batch, leader) = lane.join();
    let lead = match leader {
        true => match lane.start(store, &lane, &batch) {
            Ok(lead) => Some(lead),
            Err(error) => return Err(error.into()),
        },
        false => None,
    };
    let ran = match MemberTurn::take(&batch) {
        Ok(turn) => turn.run(work),
        Err(error) => Ran::Failed(error.into()),
    };
    // The leader ends the batch whatever its own work did: the others wait for it.
    drop(lead);
    match ran {
        Ran::Failed(error) => Err(error),
        Ran::Panicked(payload) => std::panic::resume_unwind(payload),
        Ran::Succeeded(value, effects) => {
            let outcome = batch.outcome();
            match outcome {
                Ok(()) => {
                    // The leader rang the doorbell once for the batch.
                    effects.run();
                    Ok(value)
                }
                Err(unwritten) => Err(unwritten.into_error().into()),
            }
        }
    }
}

/// How a member's turn ended.
enum Ran<T, E> {
    Succeeded(T, AfterCommit),
    Failed(E),
    Panicked(Box<dyn std::any::Any + Send>),
}

impl Lane {
    /// Writes in the open batch whose turn has not ended yet.
    fn queued(&self) -> usize {
        let group = lock(&self.state);
        group
            .open
            .as_ref()
            .map_or(0, |batch| lock(&batch.state).queued)
    }

    /// Joins the open batch, or opens one; true if this caller leads it.
    fn join(&self) -> (Arc<Batch>, bool) {
        let mut group = lock(&self.state);
        if let Some(batch) = &group.open {
            let mut state = lock(&batch.state);
            if state.members < MAX_MEMBERS {
                state.members += 1;
                state.queued += 1;
                return (batch.clone(), false);
            }
        }
        let batch = Arc::new(Batch::default());
        {
            let mut state = lock(&batch.state);
            state.members = 1;
            state.queued = 1;
        }
        group.open = Some(batch.clone());
        (batch, true)
    }

    /// The leader's start: waits for the running batch to end (on SQLite, when none is
    /// running, lets the writes on their way join: `gather`), then checks out a connection
    /// and begins the transaction. Meanwhile later writes join this batch. On failure every
    /// member of the batch fails (the leader with the error itself).
    fn start<'a>(
        &self,
        store: &'a Store,
        lane: &'a Lane,
        batch: &'a Arc<Batch>,
    ) -> Result<LeaderDuty<'a>, StoreError> {
        let waited = {
            let mut group = lock(&self.state);
            let mut waited = false;
            while group.running {
                waited = true;
                group = self.turn.wait(group).unwrap_or_else(|e| e.into_inner());
            }
            group.running = true;
            waited
        };
        if !waited && store.backend() == super::Backend::Sqlite {
            Self::gather(batch);
        }
        let lead = LeaderDuty { store, lane, batch };
        match begin(store) {
            Ok(conn) => {
                lock(&batch.state).conn = Some(conn);
                batch.handed.notify_one();
                Ok(lead)
            }
            Err(error) => {
                {
                    let mut state = lock(&batch.state);
                    state.failed = Some(error.to_string());
                    // The leader does not take a turn.
                    state.queued -= 1;
                }
                batch.handed.notify_all();
                batch.drained.notify_all();
                Err(error)
            }
        }
    }

    /// Lets writes already on their way join before the batch begins: yields the core while
    /// each yield brought a new member. Without it a SQLite write on a busy core ran to its
    /// commit before the next request's thread reached the store, so batches had one member
    /// (1.03 on average under 16 clients) and each create paid a commit of its own. When no
    /// other thread is ready to run, a yield returns at once: a lone write does not wait.
    /// A leader that waited for a running batch has gathered meanwhile, and on Postgres the
    /// members' round trips give the next writes time to join (15.8 members a batch under 16
    /// clients without it; with it, creates were 3-14% slower there in four runs).
    fn gather(batch: &Batch) {
        let mut members = lock(&batch.state).members;
        for _ in 0..GATHER_YIELDS {
            std::thread::yield_now();
            let now = lock(&batch.state).members;
            if now == members || now >= MAX_MEMBERS {
                return;
            }
            members = now;
        }
    }

    /// Stops new members joining `batch` once none is waiting for its turn; returns its state
    /// with every turn ended.
    fn close<'a>(&self, batch: &'a Batch) -> MutexGuard<'a, BatchState> {
        loop {
            let mut group = lock(&self.state);
            let state = lock(&batch.state);
            if state.queued == 0 {
                if group
                    .open
                    .as_ref()
                    .is_some_and(|open| std::ptr::eq(Arc::as_ptr(open), batch))
                {
                    group.open = None;
                }
                return state;
            }
            drop(group);
            let state = batch
                .drained
                .wait_while(state, |s| s.queued > 0)
                .unwrap_or_else(|e| e.into_inner());
            drop(state);
        }
    }
}

/// Undoes the batch's first turn, which ran without a savepoint: rolls the transaction back
/// and begins it again, in one round trip. Raw statements, so diesel's record of the open
/// transaction (begun by `begin`) stays as it is.
fn restart(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let again = match conn {
        AnyConnection::Sqlite(_) => "ROLLBACK; BEGIN IMMEDIATE",
        AnyConnection::Postgres(_) => "ROLLBACK; BEGIN",
    };
    Ok(conn.batch_execute(again)?)
}

/// A checked-out connection with a write transaction begun (`store::begin_write`).
fn begin(store: &Store) -> Result<Checkout, StoreError> {
    let mut conn = store.connection()?;
    super::begin_write(&mut conn)?;
    Ok(conn)
}

/// The leader's duty, done when dropped (also when its own work panicked): close the batch,
/// commit it if a member succeeded and nothing broke it, tell every member, and let the next
/// batch begin.
struct LeaderDuty<'a> {
    store: &'a Store,
    lane: &'a Lane,
    batch: &'a Arc<Batch>,
}

impl Drop for LeaderDuty<'_> {
    fn drop(&mut self) {
        let group = self.lane;
        let mut state = group.close(self.batch);
        let outcome = match state.conn.take() {
            None => {
                Err(Unwritten::Unavailable(state.failed.clone().unwrap_or_else(
                    || "the batch's connection was lost".into(),
                )))
            }
            Some(mut conn) => {
                let outcome = end_transaction(&mut conn, &mut state);
                // Back to the pool before the next batch may begin: it may need this one.
                drop(conn);
                outcome
            }
        };
        if let Err(unwritten) = &outcome
            && state.succeeded > 0
        {
            tracing::warn!(reason = %unwritten.why(), members = state.succeeded, "a batch of writes failed as a whole");
        }
        let rings = outcome.is_ok() && state.rings;
        state.outcome = Some(outcome);
        drop(state);
        self.batch.ended.notify_all();
        if rings {
            self.store.ring();
        }
        lock(&group.state).running = false;
        group.turn.notify_all();
    }
}

/// Why a batch's members that had succeeded were not written after all.
#[derive(Debug, Clone)]
enum Unwritten {
    /// The connection, the transaction or its commit failed: trying again may succeed.
    Unavailable(String),
    /// The batch's last statements (its records, events and heads) failed: a 500, as the
    /// same statement would have been inside a member's own turn.
    Refused(String),
}

impl Unwritten {
    fn why(&self) -> &str {
        match self {
            Unwritten::Unavailable(why) | Unwritten::Refused(why) => why,
        }
    }

    fn into_error(self) -> StoreError {
        match self {
            Unwritten::Unavailable(why) => StoreError::Unavailable(why),
            Unwritten::Refused(why) => StoreError::Incomplete(why),
        }
    }
}

/// Commits the batch's transaction if a member succeeded and nothing broke it, else rolls it
/// back (with nothing to keep, a rollback spares the commit's flush).
fn end_transaction(conn: &mut AnyConnection, state: &mut BatchState) -> Result<(), Unwritten> {
    type Manager = <AnyConnection as Connection>::TransactionManager;
    let unwritten = match &state.broken {
        Some(why) => Unwritten::Unavailable(why.clone()),
        None if state.succeeded == 0 => Unwritten::Unavailable("no write succeeded".into()),
        None => match state
            .heads
            .write(conn)
            .and_then(|()| super::notify::before_commit(conn, state.rings))
        {
            // A failed COMMIT is rolled back by diesel itself.
            Ok(()) => {
                return Manager::commit_transaction(conn).map_err(|e| {
                    Unwritten::Unavailable(format!("the grouped commit failed: {e}"))
                });
            }
            Err(StoreError::Unavailable(why)) => Unwritten::Unavailable(why),
            Err(error) => Unwritten::Refused(format!(
                "the batch's audit records, events or heads could not be written: {error}"
            )),
        },
    };
    if let Err(rollback) = Manager::rollback_transaction(conn) {
        tracing::warn!(error = %rollback, "rollback failed");
    }
    Err(unwritten)
}

impl Batch {
    /// Waits until the leader has ended the batch.
    fn outcome(&self) -> Result<(), Unwritten> {
        let state = self
            .ended
            .wait_while(lock(&self.state), |s| s.outcome.is_none())
            .unwrap_or_else(|e| e.into_inner());
        state
            .outcome
            .clone()
            .unwrap_or(Err(Unwritten::Unavailable("no outcome".into())))
    }
}

/// A member's turn with the batch's connection; ends (giving the connection back) when
/// dropped. A turn dropped without `end` (a panic in the store's own code) breaks the batch,
/// as its savepoint may be left open.
struct MemberTurn<'a> {
    batch: &'a Batch,
    conn: Option<Checkout>,
    /// The batch's heads, while this member holds the connection.
    heads: Heads,
    /// The batch's first turn: nothing of another member is in the transaction yet.
    first: bool,
    ended: bool,
}

impl<'a> MemberTurn<'a> {
    /// Waits for the connection; fails if the batch could not begin or is broken.
    fn take(batch: &'a Batch) -> Result<Self, StoreError> {
        let mut state = batch
            .handed
            .wait_while(lock(&batch.state), |s| {
                s.conn.is_none() && s.failed.is_none() && s.broken.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        let refused = state.failed.clone().or_else(|| state.broken.clone());
        if let Some(why) = refused {
            state.queued -= 1;
            let drained = state.queued == 0;
            drop(state);
            if drained {
                batch.drained.notify_all();
            }
            return Err(StoreError::Unavailable(why));
        }
        let conn = state.conn.take();
        let heads = std::mem::take(&mut state.heads);
        let first = state.turns == 0;
        state.turns += 1;
        Ok(Self {
            batch,
            conn,
            heads,
            first,
            ended: false,
        })
    }

    /// Runs `work` in a savepoint: kept if it succeeds, undone if it fails or panics.
    fn run<T, E: From<StoreError>>(
        mut self,
        work: impl FnOnce(&mut Write) -> Result<T, E>,
    ) -> Ran<T, E> {
        let Some(mut conn) = self.conn.take() else {
            return Ran::Failed(StoreError::Unavailable("no connection".into()).into());
        };
        let savepoint = !self.first;
        let set = match savepoint {
            true => conn.batch_execute(&format!("SAVEPOINT {SAVEPOINT}")),
            false => Ok(()),
        };
        if let Err(error) = set {
            self.conn = Some(conn);
            self.end(
                Some(format!("a savepoint could not be set: {error}")),
                false,
                false,
            );
            return Ran::Failed(StoreError::from(error).into());
        }
        let before = self.heads.mark();
        let mut write = Write::begin(conn, std::mem::take(&mut self.heads));
        let result = {
            let _in_write = InWrite::enter();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut write)))
        };
        let (mut conn, after, effects) = write.end();
        let kept = match &result {
            Ok(Ok(_)) if !savepoint || matches!(*conn, AnyConnection::Postgres(_)) => Ok(()),
            Ok(Ok(_)) => conn
                .batch_execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
                .map_err(StoreError::from),
            _ => Err(StoreError::NotFound),
        };
        let undone = match (kept.is_ok(), savepoint) {
            (true, _) => None,
            (false, true) => conn
                .batch_execute(&format!(
                    "ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
                ))
                .err()
                .map(|e| format!("a failed write could not be undone: {e}")),
            (false, false) => restart(&mut conn)
                .err()
                .map(|e| format!("a failed write could not be undone: {e}")),
        };
        self.conn = Some(conn);
        // A member undone leaves the heads as they were before it.
        self.heads = if kept.is_ok() {
            after
        } else {
            after.rewind(before)
        };
        match (result, kept) {
            (Ok(Ok(value)), Ok(())) => {
                let rings = effects.rings;
                self.end(None, true, rings);
                Ran::Succeeded(value, effects)
            }
            (Ok(Ok(_)), Err(error)) => {
                self.end(undone, false, false);
                Ran::Failed(error.into())
            }
            (Ok(Err(error)), _) => {
                self.end(undone, false, false);
                Ran::Failed(error)
            }
            (Err(payload), _) => {
                self.end(undone, false, false);
                Ran::Panicked(payload)
            }
        }
    }

    /// Gives the connection back and counts the turn as ended.
    fn end(&mut self, broken: Option<String>, succeeded: bool, rings: bool) {
        self.ended = true;
        let batch = self.batch;
        let mut state = lock(&batch.state);
        let breaks = broken.is_some() && state.broken.is_none();
        if let Some(why) = broken {
            state.broken.get_or_insert(why);
        }
        if succeeded {
            state.succeeded += 1;
            state.rings |= rings;
        }
        state.conn = self.conn.take();
        state.heads = std::mem::take(&mut self.heads);
        state.queued -= 1;
        let drained = state.queued == 0;
        drop(state);
        // The connection goes to one waiting member; a broken batch turns every one away.
        if breaks {
            batch.handed.notify_all();
        } else if !drained {
            batch.handed.notify_one();
        }
        if drained {
            batch.drained.notify_all();
        }
    }
}

impl Drop for MemberTurn<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.end(Some("a write ended abnormally".into()), false, false);
        }
    }
}
