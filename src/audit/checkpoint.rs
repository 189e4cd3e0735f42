//! Signed checkpoints: a tenant's chain head (sequence number and hash) signed with the
//! server's Ed25519 key. The key lives in a file, outside the database, so whoever can rewrite
//! the database cannot re-sign history; an auditor keeps the checkpoint files. Records behind
//! a checkpoint may be pruned (retention); verification then starts from the checkpoint.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::AuditError;
use super::verify::{OnProgress, Verification, walk};
use crate::store::audit::{self as rows, CheckpointRow};
use crate::store::{Store, from_stored, tenants, to_stored};

/// A checkpoint as exported: everything needed to check it, key included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tenant: String,
    pub seq: i64,
    pub hash: String,
    pub created: String,
    /// Ed25519 public key, base64url.
    pub public_key: String,
    /// Ed25519 signature of `signed_message`, base64url.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointCheck {
    /// The signature holds and the chain has this hash at this sequence number.
    Holds,
    Fails(String),
}

/// The server's signing key: read from `path`, or created there (owner-only) on first use. A
/// key file that others can read or write is refused: whoever reads it can sign checkpoints
/// (or, as the token-key secret, tokens).
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, AuditError> {
    let key_error = |e: String| AuditError::Key(format!("{}: {e}", path.display()));
    if path.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| key_error(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(key_error(format!(
                    "the key is readable or writable by others (mode {:o}); run `chmod 600` on it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
        let bytes = decode_hex(text.trim())
            .ok_or_else(|| key_error("not a hex-encoded 32-byte key".into()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| key_error("not a 32-byte key".into()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| key_error(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| key_error(e.to_string()))?;
    let hex = base16ct::lower::encode_string(&seed);
    file.write_all(hex.as_bytes())
        .map_err(|e| key_error(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// The exact bytes a checkpoint's signature covers.
fn signed_message(tenant: &str, seq: i64, hash: &str, created: &str) -> Vec<u8> {
    format!("scimitar-audit-checkpoint\n{tenant}\n{seq}\n{hash}\n{created}").into_bytes()
}

/// Signs and stores a checkpoint of the tenant's current head (by tenant id or name).
pub fn create(
    store: &Store,
    tenant: &str,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Checkpoint, AuditError> {
    let tenant_id = store
        .read(|conn| tenants::find(conn, tenant))?
        .ok_or_else(|| AuditError::UnknownTenant(tenant.to_string()))?
        .id;
    let head = store
        .read(|conn| rows::head(conn, &tenant_id))?
        .unwrap_or(rows::Head {
            seq: 0,
            hash: rows::GENESIS_HASH.into(),
        });
    let created = to_stored(now);
    let created_text = from_stored(created).to_rfc3339_opts(SecondsFormat::Micros, true);
    let signature = key.sign(&signed_message(
        &tenant_id,
        head.seq,
        &head.hash,
        &created_text,
    ));
    let row = CheckpointRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.clone(),
        seq: head.seq,
        hash: head.hash.clone(),
        created,
        public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    };
    store.write(|conn| rows::insert_checkpoint(conn, &row))?;
    Ok(to_export(&row))
}

fn to_export(row: &CheckpointRow) -> Checkpoint {
    Checkpoint {
        tenant: row.tenant_id.clone(),
        seq: row.seq,
        hash: row.hash.clone(),
        created: from_stored(row.created).to_rfc3339_opts(SecondsFormat::Micros, true),
        public_key: row.public_key.clone(),
        signature: row.signature.clone(),
    }
}

/// Whether `checkpoint` is signed by `trusted` (the server's key as the auditor knows it) and
/// the chain still holds it: every record from the chain's trust anchor (the genesis, or the
/// signed checkpoint pruned records end at) to the head verifies, the log reaches the
/// checkpoint's record, and that record has the signed hash. So an edit, removal, reordering
/// or truncation anywhere in the chain fails the check, even with the head rewound.
pub fn check(
    store: &Store,
    checkpoint: &Checkpoint,
    trusted: &VerifyingKey,
) -> Result<CheckpointCheck, AuditError> {
    check_with(store, checkpoint, trusted, &mut |_, _| {})
}

/// `check`, telling `on_progress` as the chain is walked.
pub fn check_with(
    store: &Store,
    checkpoint: &Checkpoint,
    trusted: &VerifyingKey,
    on_progress: OnProgress<'_>,
) -> Result<CheckpointCheck, AuditError> {
    let signature = URL_SAFE_NO_PAD
        .decode(&checkpoint.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok());
    let message = signed_message(
        &checkpoint.tenant,
        checkpoint.seq,
        &checkpoint.hash,
        &checkpoint.created,
    );
    let signed = signature.is_some_and(|signature| trusted.verify(&message, &signature).is_ok());
    if !signed {
        return Ok(CheckpointCheck::Fails(
            "the signature does not verify with the trusted key".into(),
        ));
    }
    let walk = walk(
        store,
        &checkpoint.tenant,
        Some(trusted),
        Some(checkpoint.seq),
        on_progress,
    )?;
    let end = match walk.verification {
        Verification::Broken { seq, reason } => {
            return Ok(CheckpointCheck::Fails(format!(
                "the chain is broken at record {seq}: {reason}"
            )));
        }
        Verification::Intact { records, .. } => records,
    };
    if checkpoint.seq > end {
        return Ok(CheckpointCheck::Fails(format!(
            "the log ends at record {end} but this checkpoint signed record {}: records were cut from the end",
            checkpoint.seq
        )));
    }
    match walk.at_mark {
        Some(hash) if hash == checkpoint.hash => Ok(CheckpointCheck::Holds),
        Some(_) => Ok(CheckpointCheck::Fails(format!(
            "the chain's record {} no longer has the hash this checkpoint signed: history was rewritten",
            checkpoint.seq
        ))),
        // The genesis, or records pruned under a later checkpoint whose signature held.
        None if checkpoint.seq == 0 || checkpoint.seq < walk.anchor => Ok(CheckpointCheck::Holds),
        None => Ok(CheckpointCheck::Fails(format!(
            "record {} is missing",
            checkpoint.seq
        ))),
    }
}

/// Whether a stored checkpoint's signature holds under `trusted`.
pub(super) fn signature_holds(row: &CheckpointRow, trusted: &VerifyingKey) -> bool {
    let created = from_stored(row.created).to_rfc3339_opts(SecondsFormat::Micros, true);
    let message = signed_message(&row.tenant_id, row.seq, &row.hash, &created);
    URL_SAFE_NO_PAD
        .decode(&row.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .is_some_and(|signature| trusted.verify(&message, &signature).is_ok())
}

/// Retention: removes a tenant's records older than `before`, but only up to the newest
/// checkpoint that covers them, so verification continues from that checkpoint. Returns the
/// number of records removed; the pruning is itself recorded.
pub fn prune(
    store: &Store,
    tenant: &str,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, AuditError> {
    prune_with(store, tenant, before, now, &mut |_, _| {})
}

/// `prune`, removing records in batches and telling `on_progress` after each; all batches
/// and the pruning's record commit together.
pub fn prune_with(
    store: &Store,
    tenant: &str,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    on_progress: OnProgress<'_>,
) -> Result<usize, AuditError> {
    let tenant_id = store
        .read(|conn| tenants::find(conn, tenant))?
        .ok_or_else(|| AuditError::UnknownTenant(tenant.to_string()))?
        .id;
    let query = rows::AuditQuery {
        until: Some(to_stored(before)),
        newest_first: true,
        limit: 1,
        ..Default::default()
    };
    let newest_old = store.read(|conn| rows::query(conn, &tenant_id, &query))?;
    let Some(newest_old) = newest_old.first() else {
        return Ok(0);
    };
    let checkpoint = store
        .read(|conn| rows::latest_checkpoint(conn, &tenant_id, Some(newest_old.seq)))?
        .filter(|c| c.seq > 0)
        .ok_or(AuditError::NoCheckpoint)?;
    store.write(|conn| {
        const BATCH: i64 = 10_000;
        let first = rows::chain(conn, &tenant_id, 0, 1)?.first().map_or(1, |r| r.seq);
        let total = (checkpoint.seq - first + 1).max(0) as u64;
        let mut removed = 0;
        let mut through = first - 1;
        while through < checkpoint.seq {
            through = (through + BATCH).min(checkpoint.seq);
            removed += rows::prune_through(conn, &tenant_id, through)?;
            on_progress((through - first + 1).max(0) as u64, total);
        }
        let details = serde_json::json!({"through_seq": checkpoint.seq, "checkpoint": checkpoint.id, "removed": removed});
        super::record(conn, &tenant_id, now, super::Event::new("audit.prune", details))?;
        Ok::<_, AuditError>(removed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.key");
        let created = load_or_create_key(&path).unwrap_or_else(|e| panic!("{e}"));
        let loaded = load_or_create_key(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(created.to_bytes(), loaded.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600, "only the owner may read the key");
            for loose in [0o644, 0o640, 0o604, 0o620] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose))
                    .unwrap_or_else(|e| panic!("{e}"));
                let refused = load_or_create_key(&path);
                assert!(
                    matches!(refused, Err(AuditError::Key(ref m)) if m.contains("chmod 600")),
                    "mode {loose:o}: {refused:?}"
                );
            }
        }
    }
}
