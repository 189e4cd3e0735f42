//! Verification: walks a tenant's chain from its trust anchor (the genesis, or the signed
//! checkpoint that pruned records end at) to its head, and reports the first record that was
//! edited, removed, reordered or cut off, and any personal data edited or removed without a
//! recorded erasure. With the auditor's key, the anchor's signature is checked too, and a
//! checkpoint's record can be looked up on the way (`checkpoint::check`).

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::checkpoint::signature_holds;
use super::{AuditError, hash, personal_digest};
use crate::store::audit::{self as rows, AuditRow, GENESIS_HASH};
use crate::store::{Store, tenants};

/// The outcome of walking a tenant's chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// Every record follows the one before it and the head; `erased` records had their
    /// personal data erased by a recorded erasure.
    Intact {
        records: i64,
        head: String,
        erased: i64,
    },
    Broken {
        seq: i64,
        reason: String,
    },
}

/// A walk, with the hash found at the sequence number asked about (if it was walked over).
pub(super) struct Walk {
    pub verification: Verification,
    /// The hash of the record at `mark`, or of the anchor when the mark is the anchor.
    pub at_mark: Option<String>,
    /// Sequence number the walk started after (0 from the genesis).
    pub anchor: i64,
}

/// Told the records walked so far and how many the walk will cover.
pub type OnProgress<'a> = &'a mut dyn FnMut(u64, u64);

/// Walks the chain of a tenant (by id or name).
pub fn verify(store: &Store, tenant: &str) -> Result<Verification, AuditError> {
    verify_with(store, tenant, &mut |_, _| {})
}

/// `verify`, telling `on_progress` after each batch of records.
pub fn verify_with(
    store: &Store,
    tenant: &str,
    on_progress: OnProgress<'_>,
) -> Result<Verification, AuditError> {
    let tenant_id = store
        .read(|conn| tenants::find(conn, tenant))?
        .ok_or_else(|| AuditError::UnknownTenant(tenant.to_string()))?
        .id;
    Ok(walk(store, &tenant_id, None, None, on_progress)?.verification)
}

/// Walks a tenant's whole chain; `trusted` also checks the anchor checkpoint's signature,
/// and `mark` asks for the hash at one sequence number.
pub(super) fn walk(
    store: &Store,
    tenant_id: &str,
    trusted: Option<&VerifyingKey>,
    mark: Option<i64>,
    on_progress: OnProgress<'_>,
) -> Result<Walk, AuditError> {
    const BATCH: i64 = 1000;
    let broken = |seq: i64, reason: String, anchor: i64| Walk {
        verification: Verification::Broken { seq, reason },
        at_mark: None,
        anchor,
    };
    let (mut seq, mut previous) = (0_i64, GENESIS_HASH.to_string());
    let head = store.read(|conn| rows::head(conn, tenant_id))?;
    // Records pruned under retention: the chain continues from the checkpoint they ended at.
    let first = store.read(|conn| rows::chain(conn, tenant_id, 0, 1))?;
    let first_seq = match (first.first(), &head) {
        (Some(first), _) => Some((first.seq, first.prev_hash.clone())),
        // A pruning always leaves its own record behind: an empty log with a head was cut.
        (None, Some(head)) if head.seq > 0 => {
            let reason = format!("records 1 to {} are missing", head.seq);
            return Ok(broken(1, reason, 0));
        }
        (None, _) => None,
    };
    if let Some((first_seq, prev_hash)) = first_seq.filter(|(s, _)| *s > 1) {
        let anchor =
            store.read(|conn| rows::latest_checkpoint(conn, tenant_id, Some(first_seq - 1)))?;
        match anchor {
            Some(c) if c.seq == first_seq - 1 && c.hash == prev_hash => {
                if trusted.is_some_and(|key| !signature_holds(&c, key)) {
                    let reason = format!(
                        "the checkpoint at record {} that earlier records were pruned under is not signed by the trusted key",
                        c.seq
                    );
                    return Ok(broken(c.seq, reason, 0));
                }
                (seq, previous) = (c.seq, c.hash)
            }
            _ => {
                let reason = format!(
                    "records 1 to {} are missing and no checkpoint covers them",
                    first_seq - 1
                );
                return Ok(broken(1, reason, 0));
            }
        }
    }
    let anchor = seq;
    let total = head.as_ref().map_or(0, |h| (h.seq - anchor).max(0) as u64);
    let mut at_mark = (mark == Some(seq) && seq > 0).then(|| previous.clone());
    let mut removals = Removals::default();
    loop {
        let batch = store.read(|conn| rows::chain(conn, tenant_id, seq, BATCH))?;
        for row in &batch {
            if let Err(reason) = follows(row, seq, &previous) {
                return Ok(broken(row.seq, reason, anchor));
            }
            if let Err(reason) = removals.check(row) {
                return Ok(broken(row.seq, reason, anchor));
            }
            seq = row.seq;
            previous = row.hash.clone();
            if mark == Some(seq) {
                at_mark = Some(previous.clone());
            }
        }
        on_progress((seq - anchor) as u64, total);
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    if let Some(head) = head.filter(|h| h.seq != seq || h.hash != previous) {
        let reason = format!(
            "the chain head is at record {} but the log ends at {seq}: records are missing",
            head.seq
        );
        return Ok(broken(seq + 1, reason, anchor));
    }
    if anchor > 0 && !removals.pruned_through.contains(&anchor) {
        let reason = format!("records 1 to {anchor} were removed without a recorded pruning");
        return Ok(broken(anchor + 1, reason, anchor));
    }
    if let Some(seq) = removals.unrecorded.first() {
        let reason = "its personal data was removed without a recorded erasure".to_string();
        return Ok(broken(*seq, reason, anchor));
    }
    Ok(Walk {
        verification: Verification::Intact {
            records: seq,
            head: previous,
            erased: removals.erased,
        },
        at_mark,
        anchor,
    })
}

/// Whether `row` is the record that comes after `seq` with hash `previous`, unedited.
fn follows(row: &AuditRow, seq: i64, previous: &str) -> Result<(), String> {
    if row.seq != seq + 1 {
        return Err(format!(
            "expected record {} next, found {}: records are missing",
            seq + 1,
            row.seq
        ));
    }
    if row.prev_hash != previous {
        return Err(
            "does not follow the record before it: records were removed or reordered".into(),
        );
    }
    if hash(row) != row.hash {
        return Err("its content does not match its hash: the record was edited".into());
    }
    Ok(())
}

/// Removals seen on the walk: erased records wait for the erasure that names them, and the
/// anchor for the pruning that removed the records before it.
#[derive(Default)]
struct Removals {
    unrecorded: BTreeSet<i64>,
    erased: i64,
    pruned_through: BTreeSet<i64>,
}

impl Removals {
    fn check(&mut self, row: &AuditRow) -> Result<(), String> {
        match (&row.personal_digest, &row.personal, &row.personal_salt) {
            (Some(digest), Some(personal), Some(salt)) => {
                if personal_digest(salt, personal) != *digest {
                    return Err("its personal data was edited".into());
                }
            }
            (Some(_), Some(_), None) => return Err("its personal data was edited".into()),
            (Some(_), None, _) => {
                self.unrecorded.insert(row.seq);
            }
            // Written before personal data had a digest, or never had any.
            (None, _, _) => {}
        }
        if row.action == "audit.prune" {
            let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
            if let Some(through) = details["through_seq"].as_i64() {
                self.pruned_through.insert(through);
            }
        }
        if row.action == "audit.erase" {
            let details: Value = serde_json::from_str(&row.details).unwrap_or(Value::Null);
            for seq in details["seqs"].as_array().into_iter().flatten() {
                if seq.as_i64().is_some_and(|seq| self.unrecorded.remove(&seq)) {
                    self.erased += 1;
                }
            }
        }
        Ok(())
    }
}
