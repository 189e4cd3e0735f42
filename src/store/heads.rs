//! The chain heads a transaction holds: once a transaction has locked a tenant's audit head
//! or outbox head, the head is kept here, in memory, for the rest of the transaction. Later
//! appends in it (the next members of a grouped batch, a cascade's several records) take the
//! copy instead of locking and reading the row again, and move the copy instead of updating
//! the row; the heads moved are written once, just before the commit. The row lock taken
//! first still holds until the commit, so what commits is the same as with a read and a write
//! per append: two statements per append fewer, and one head write per tenant per commit.
//!
//! The copy lives in a thread-local for as long as this thread runs a transaction's work
//! (`Holding` for a transaction of its own; a grouped batch moves it from member to member
//! and puts back the copy from before a member whose savepoint was rolled back). Outside
//! such work nothing is held and every append reads and writes the rows as before.

use std::cell::RefCell;
use std::collections::HashMap;

use super::audit::Head;
use super::{AnyConnection, StoreError};

/// The heads one transaction holds locked, and whether it moved them.
#[derive(Debug, Clone, Default)]
pub(super) struct Heads {
    audit: HashMap<String, Held<Head>>,
    outbox: HashMap<String, Held<i64>>,
}

#[derive(Debug, Clone)]
struct Held<T> {
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
type Chain<T> = fn(&mut Heads) -> &mut HashMap<String, Held<T>>;

fn audit_chain(heads: &mut Heads) -> &mut HashMap<String, Held<Head>> {
    &mut heads.audit
}

fn outbox_chain(heads: &mut Heads) -> &mut HashMap<String, Held<i64>> {
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
            let kept = Held { head, moved: false };
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
                *kept = Held { head, moved: true };
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

pub(super) fn move_audit(tenant_id: &str, head: Head) -> bool {
    move_head(audit_chain, tenant_id, head)
}

pub(super) fn outbox(tenant_id: &str) -> Option<i64> {
    held(outbox_chain, tenant_id)
}

pub(super) fn keep_outbox(tenant_id: &str, seq: i64) {
    keep(outbox_chain, tenant_id, seq);
}

pub(super) fn move_outbox(tenant_id: &str, seq: i64) -> bool {
    move_head(outbox_chain, tenant_id, seq)
}

impl Heads {
    /// Writes the heads this transaction moved, in its last statements before the commit.
    pub(super) fn write_moved(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        for (tenant_id, held) in self.audit.iter().filter(|(_, held)| held.moved) {
            super::audit::set_head(conn, tenant_id, &held.head)?;
        }
        for (tenant_id, held) in self.outbox.iter().filter(|(_, held)| held.moved) {
            super::outbox::set_head(conn, tenant_id, held.head)?;
        }
        Ok(())
    }
}

/// Holding for a transaction of its own: starts holding on this thread, and puts back what
/// was held before (an outer write's heads) when dropped.
pub(super) struct Holding {
    outer: Option<Option<Heads>>,
}

impl Holding {
    pub(super) fn begin() -> Self {
        Self {
            outer: Some(hold(Heads::default())),
        }
    }

    /// Writes the heads moved until now: the transaction's last statements before its commit.
    pub(super) fn write_moved(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let heads = HELD.with(|held| held.borrow().clone()).unwrap_or_default();
        heads.write_moved(conn)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            release(outer);
        }
    }
}
