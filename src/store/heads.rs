//! What a write transaction holds once it has locked a tenant's audit head or outbox head:
//! the head itself, kept here, in memory, for the rest of the transaction, and the rows
//! appended behind it. Later appends in it (the next members of a grouped batch, a cascade's
//! several records) take the copy instead of locking and reading the row again, and move the
//! copy instead of updating the row; their records and events wait here too. Just before the
//! commit the records and events go in, one statement per table, and the heads moved are
//! written, once per tenant (`Heads::write`). The row lock taken first still holds until the
//! commit, so what commits is the same as with an insert, a read and a write per append: three
//! statements per append fewer (decision 67). Anything in the transaction that reads or
//! changes those tables goes through the `Write` (`write::Session`), which inserts the waiting
//! rows first, so it sees them.
//!
//! A transaction that holds a tenant's audit head also reads the tenant's configured matching
//! attributes once, under that lock (`configured`): a start-up backfill of a new attribute
//! takes the same lock after recording it, so no write that read the list without it can
//! commit after the backfill has walked past its user. Whether the tenant's streams ask for
//! provisioning events is read once the same way (`provisioning_events`): a change to a
//! tenant's streams takes the lock too (`ssf::insert`, `ssf::update`).
//!
//! The heads live in the transaction's `Write` value; a grouped batch moves them from member
//! to member and rewinds them to where they were before a member whose savepoint was rolled
//! back (`HeadsBeforeMember`).

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
    /// Whether any of each tenant's streams asks for provisioning events, read under its
    /// audit head (`ssf::provisioning_events_for_write`).
    provisioning_events: HashMap<String, bool>,
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
    provisioning_events: HashMap<String, bool>,
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

impl Heads {
    /// The tenant's audit head, if this transaction holds it.
    pub(super) fn audit(&self, tenant_id: &str) -> Option<Head> {
        Some(self.audit.get(tenant_id)?.head.clone())
    }

    /// Keeps an audit head this transaction just locked.
    pub(super) fn keep_audit(&mut self, tenant_id: &str, head: &Head) {
        let kept = HeldHead {
            head: head.clone(),
            moved: false,
        };
        self.audit.insert(tenant_id.to_string(), kept);
    }

    /// Moves the held audit head to the last of `rows` and keeps the rows to insert before
    /// the commit; false (keeping nothing) when this transaction does not hold the head.
    pub(super) fn append_audit(&mut self, rows: &[AuditRow]) -> bool {
        let Some(last) = rows.last() else {
            return true;
        };
        let Some(kept) = self.audit.get_mut(&last.tenant_id) else {
            return false;
        };
        *kept = HeldHead {
            head: Head {
                seq: last.seq,
                hash: last.hash.clone(),
            },
            moved: true,
        };
        self.records.extend_from_slice(rows);
        true
    }

    /// The tenant's outbox head, if this transaction holds it.
    pub(super) fn outbox(&self, tenant_id: &str) -> Option<i64> {
        Some(self.outbox.get(tenant_id)?.head)
    }

    /// Keeps an outbox head this transaction just locked.
    pub(super) fn keep_outbox(&mut self, tenant_id: &str, seq: i64) {
        let kept = HeldHead {
            head: seq,
            moved: false,
        };
        self.outbox.insert(tenant_id.to_string(), kept);
    }

    /// Moves the held outbox head to the last of `rows` and keeps the rows to insert before
    /// the commit; false (keeping nothing) when this transaction does not hold the head.
    pub(super) fn append_outbox(&mut self, rows: &[OutboxRow]) -> bool {
        let Some(last) = rows.last() else {
            return true;
        };
        let Some(kept) = self.outbox.get_mut(&last.tenant_id) else {
            return false;
        };
        *kept = HeldHead {
            head: last.seq,
            moved: true,
        };
        self.events.extend_from_slice(rows);
        true
    }

    /// The tenant's configured matching attributes as this transaction read them under its
    /// audit head, if it has.
    pub(super) fn configured(&self, tenant_id: &str) -> Option<Vec<(String, bool)>> {
        self.configured.get(tenant_id).cloned()
    }

    /// Keeps the configured attributes read under the tenant's audit head for the rest of
    /// the transaction.
    pub(super) fn keep_configured(&mut self, tenant_id: &str, attributes: &[(String, bool)]) {
        self.configured
            .insert(tenant_id.to_string(), attributes.to_vec());
    }

    /// Whether the tenant's streams ask for provisioning events, as this transaction read
    /// it under the tenant's audit head, if it has.
    pub(super) fn provisioning_events(&self, tenant_id: &str) -> Option<bool> {
        self.provisioning_events.get(tenant_id).copied()
    }

    /// Keeps what was read under the tenant's audit head for the rest of the transaction.
    pub(super) fn keep_provisioning_events(&mut self, tenant_id: &str, requested: bool) {
        self.provisioning_events
            .insert(tenant_id.to_string(), requested);
    }

    /// Where the heads are now, to `rewind` to.
    pub(super) fn mark(&self) -> HeadsBeforeMember {
        HeadsBeforeMember {
            audit: self.audit.clone(),
            outbox: self.outbox.clone(),
            configured: self.configured.clone(),
            provisioning_events: self.provisioning_events.clone(),
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
            provisioning_events: mark.provisioning_events,
            records_in: mark.records_in.min(self.records.len()),
            events_in: mark.events_in.min(self.events.len()),
            records: self.records,
            events: self.events,
        }
    }

    /// Inserts the records and events not in yet, one statement per table (per 50 rows), so
    /// that what reads or changes those tables next in the transaction sees them (`Session`).
    pub(super) fn insert_rows(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
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
