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

/// The tenant's audit head as this transaction holds it, if it does.
pub(super) fn audit(tenant_id: &str) -> Option<Head> {
    HELD.with(|held| {
        let held = held.borrow();
        Some(held.as_ref()?.audit.get(tenant_id)?.head.clone())
    })
}

/// Keeps the audit head this transaction just locked (nothing when no transaction holds).
pub(super) fn keep_audit(tenant_id: &str, head: &Head) {
    HELD.with(|held| {
        if let Some(heads) = held.borrow_mut().as_mut() {
            let head = head.clone();
            heads
                .audit
                .insert(tenant_id.to_string(), Held { head, moved: false });
        }
    });
}

/// Moves the held audit head; false when this transaction does not hold it, and the caller
/// must write the row itself.
pub(super) fn move_audit(tenant_id: &str, head: Head) -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held
            .as_mut()
            .and_then(|heads| heads.audit.get_mut(tenant_id))
        {
            Some(kept) => {
                *kept = Held { head, moved: true };
                true
            }
            None => false,
        }
    })
}

/// The tenant's outbox head as this transaction holds it, if it does.
pub(super) fn outbox(tenant_id: &str) -> Option<i64> {
    HELD.with(|held| Some(held.borrow().as_ref()?.outbox.get(tenant_id)?.head))
}

/// Keeps the outbox head this transaction just locked (nothing when no transaction holds).
pub(super) fn keep_outbox(tenant_id: &str, seq: i64) {
    HELD.with(|held| {
        if let Some(heads) = held.borrow_mut().as_mut() {
            let kept = Held {
                head: seq,
                moved: false,
            };
            heads.outbox.insert(tenant_id.to_string(), kept);
        }
    });
}

/// Moves the held outbox head; false when this transaction does not hold it.
pub(super) fn move_outbox(tenant_id: &str, seq: i64) -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held
            .as_mut()
            .and_then(|heads| heads.outbox.get_mut(tenant_id))
        {
            Some(kept) => {
                *kept = Held {
                    head: seq,
                    moved: true,
                };
                true
            }
            None => false,
        }
    })
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
