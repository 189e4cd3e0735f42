//! What a write transaction holds once it has locked a tenant's audit head or outbox head:
//! the head itself, kept here, in memory, for the rest of the transaction, and the rows
//! appended behind it. Later appends in it (the next members of a grouped batch, a cascade's
//! several records) take the copy instead of locking and reading the row again, and move the
//! copy instead of updating the row; their records and events wait here too. Just before the
//! commit the records and events go in, one statement per table, and the heads moved are
//! written, once per tenant (`Heads::write`). The row lock taken first still holds until the
//! commit, so what commits is the same as with an insert, a read and a write per append: three
//! statements per append fewer (decision 67). Anything in the transaction that reads or
//! changes those tables inserts the waiting rows first (`flush`), so it sees them.
//!
//! A transaction that holds a tenant's audit head also reads the tenant's configured matching
//! attributes once, under that lock (`configured`): a start-up backfill of a new attribute
//! takes the same lock after recording it, so no write that read the list without it can
//! commit after the backfill has walked past its user.
//!
//! The copy lives in a thread-local for as long as this thread runs a transaction's work
//! (`OwnTransactionHeads` for a transaction of its own; a grouped batch moves it from member to member
//! and rewinds it to its mark from before a member whose savepoint was rolled back). Outside
//! such work nothing is held and every append reads and writes the rows as before.

use std::cell::RefCell;
use std::collections::HashMap;

use super::audit::{AuditRow, Head};
use super::outbox::OutboxRow;
use super::{AnyConnection, StoreError};

/// The heads one transaction holds locked, whether it moved them, and what waits behind them.
#[derive(Debug, Default)]
pub(super) struct Heads {
    audit: HashMap<String, HeldHead<Head>>,
    outbox: HashMap<String, HeldHead<i64>>,
    /// Each tenant's configured matching attributes, read under its audit head.
    configured: HashMap<String, Vec<(String, bool)>>,
    /// Records appended in this transaction, in order; those from `records_in` on are not
    /// inserted yet.
    records: Vec<AuditRow>,
    records_in: usize,
    /// Outbox events likewise.
    events: Vec<OutboxRow>,
    events_in: usize,
}

/// Heads as they were before a grouped member's work, to go back to if it is undone: the
/// rows it appended are dropped, and those its savepoint un-inserted are inserted again.
pub(super) struct HeadsBeforeMember {
    audit: HashMap<String, HeldHead<Head>>,
    outbox: HashMap<String, HeldHead<i64>>,
    configured: HashMap<String, Vec<(String, bool)>>,
    records: usize,
    records_in: usize,
    events: usize,
    events_in: usize,
}

#[derive(Debug, Clone)]
struct HeldHead<T> {
    head: T,
    moved: bool,
}

std::thread_local! {
    /// The heads of the transaction whose work runs on this thread; `None` outside one.
    static HELD: RefCell<Option<Heads>> = const { RefCell::new(None) };
}

/// Makes `heads` the ones of the transaction whose work this thread runs now; returns those
/// held before (an outer write's, while a write nested in it runs alone).
pub(super) fn hold(heads: Heads) -> Option<Heads> {
    HELD.with(|held| held.borrow_mut().replace(heads))
}

/// Ends holding on this thread, putting back `outer`; returns the heads held until now.
pub(super) fn release(outer: Option<Heads>) -> Heads {
    HELD.with(|held| std::mem::replace(&mut *held.borrow_mut(), outer))
        .unwrap_or_default()
}

/// The heads of one chain in a transaction's holding.
type Chain<T> = fn(&mut Heads) -> &mut HashMap<String, HeldHead<T>>;

fn audit_chain(heads: &mut Heads) -> &mut HashMap<String, HeldHead<Head>> {
    &mut heads.audit
}

fn outbox_chain(heads: &mut Heads) -> &mut HashMap<String, HeldHead<i64>> {
    &mut heads.outbox
}

/// The tenant's head of `chain` as this transaction holds it, if it does.
fn held<T: Clone>(chain: Chain<T>, tenant_id: &str) -> Option<T> {
    HELD.with(|held| {
        Some(
            chain(held.borrow_mut().as_mut()?)
                .get(tenant_id)?
                .head
                .clone(),
        )
    })
}

/// Keeps a head this transaction just locked (nothing when no transaction holds).
fn keep<T>(chain: Chain<T>, tenant_id: &str, head: T) {
    HELD.with(|held| {
        if let Some(heads) = held.borrow_mut().as_mut() {
            let kept = HeldHead { head, moved: false };
            chain(heads).insert(tenant_id.to_string(), kept);
        }
    });
}

/// Moves a held head; false when this transaction does not hold it, and the caller must
/// write the row itself.
fn move_head<T>(chain: Chain<T>, tenant_id: &str, head: T) -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held
            .as_mut()
            .and_then(|heads| chain(heads).get_mut(tenant_id))
        {
            Some(kept) => {
                *kept = HeldHead { head, moved: true };
                true
            }
            None => false,
        }
    })
}

pub(super) fn audit(tenant_id: &str) -> Option<Head> {
    held(audit_chain, tenant_id)
}

pub(super) fn keep_audit(tenant_id: &str, head: &Head) {
    keep(audit_chain, tenant_id, head.clone());
}

/// Moves the held audit head to the last of `rows` and keeps the rows to insert before the
/// commit; false (keeping nothing) when this transaction does not hold the head.
pub(super) fn append_audit(rows: &[AuditRow]) -> bool {
    let Some(last) = rows.last() else {
        return true;
    };
    let head = Head {
        seq: last.seq,
        hash: last.hash.clone(),
    };
    move_head(audit_chain, &last.tenant_id, head)
        && with_held(|heads| heads.records.extend_from_slice(rows))
}

pub(super) fn outbox(tenant_id: &str) -> Option<i64> {
    held(outbox_chain, tenant_id)
}

pub(super) fn keep_outbox(tenant_id: &str, seq: i64) {
    keep(outbox_chain, tenant_id, seq);
}

/// Moves the held outbox head to the last of `rows` and keeps the rows to insert before the
/// commit; false (keeping nothing) when this transaction does not hold the head.
pub(super) fn append_outbox(rows: &[OutboxRow]) -> bool {
    let Some(last) = rows.last() else {
        return true;
    };
    move_head(outbox_chain, &last.tenant_id, last.seq)
        && with_held(|heads| heads.events.extend_from_slice(rows))
}

/// Runs `change` on the heads held on this thread; false when none are.
fn with_held(change: impl FnOnce(&mut Heads)) -> bool {
    HELD.with(|held| held.borrow_mut().as_mut().map(change).is_some())
}

/// The tenant's configured matching attributes as this transaction read them under its audit
/// head, if it has.
pub(super) fn configured(tenant_id: &str) -> Option<Vec<(String, bool)>> {
    HELD.with(|held| held.borrow().as_ref()?.configured.get(tenant_id).cloned())
}

/// Keeps the configured attributes read under the tenant's audit head for the rest of the
/// transaction.
pub(super) fn keep_configured(tenant_id: &str, attributes: &[(String, bool)]) {
    with_held(|heads| {
        heads
            .configured
            .insert(tenant_id.to_string(), attributes.to_vec());
    });
}

/// Inserts the records and events held on this thread that are not in yet, so that what
/// reads or changes those tables next in the transaction sees them.
pub(super) fn flush(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let Some(mut heads) = HELD.with(|held| held.borrow_mut().take()) else {
        return Ok(());
    };
    let inserted = heads.insert_rows(conn);
    HELD.with(|held| *held.borrow_mut() = Some(heads));
    inserted
}

impl Heads {
    /// Where the heads are now, to `rewind` to.
    pub(super) fn mark(&self) -> HeadsBeforeMember {
        HeadsBeforeMember {
            audit: self.audit.clone(),
            outbox: self.outbox.clone(),
            configured: self.configured.clone(),
            records: self.records.len(),
            records_in: self.records_in,
            events: self.events.len(),
            events_in: self.events_in,
        }
    }

    /// The heads as at `mark`, in a transaction rolled back to a savepoint set then.
    pub(super) fn rewind(mut self, mark: HeadsBeforeMember) -> Self {
        self.records.truncate(mark.records);
        self.events.truncate(mark.events);
        Self {
            audit: mark.audit,
            outbox: mark.outbox,
            configured: mark.configured,
            records_in: mark.records_in.min(self.records.len()),
            events_in: mark.events_in.min(self.events.len()),
            records: self.records,
            events: self.events,
        }
    }

    /// Inserts the records and events not in yet, one statement per table (per 50 rows).
    fn insert_rows(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        super::audit::insert(conn, &self.records[self.records_in..])?;
        self.records_in = self.records.len();
        super::outbox::insert(conn, &self.events[self.events_in..])?;
        self.events_in = self.events.len();
        Ok(())
    }

    /// Inserts the rows not in yet and writes the heads this transaction moved: its last
    /// statements before the commit.
    pub(super) fn write(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        self.insert_rows(conn)?;
        for (tenant_id, held) in self.audit.iter().filter(|(_, held)| held.moved) {
            super::audit::set_head(conn, tenant_id, &held.head)?;
        }
        for (tenant_id, held) in self.outbox.iter().filter(|(_, held)| held.moved) {
            super::outbox::set_head(conn, tenant_id, held.head)?;
        }
        Ok(())
    }
}

/// OwnTransactionHeads for a transaction of its own: starts holding on this thread, and puts back what
/// was held before (an outer write's heads) when dropped.
pub(super) struct OwnTransactionHeads {
    outer: Option<Option<Heads>>,
}

impl OwnTransactionHeads {
    pub(super) fn begin() -> Self {
        Self {
            outer: Some(hold(Heads::default())),
        }
    }

    /// Inserts the rows and writes the heads held until now: the transaction's last
    /// statements before its commit.
    pub(super) fn write(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut heads = HELD
            .with(|held| held.borrow_mut().take())
            .unwrap_or_default();
        let written = heads.write(conn);
        HELD.with(|held| *held.borrow_mut() = Some(heads));
        written
    }
}

impl Drop for OwnTransactionHeads {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            release(outer);
        }
    }
}
