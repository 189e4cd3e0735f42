//! The `jti`s of accepted Global Token Revocation JWTs, until they expire: a JWT replayed to
//! any replica finds its `jti` here and is refused.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::schema::revocation_assertions;
use super::{AnyConnection, StoreError};

/// Records a JWT's `jti` for its issuer; `false` when it was recorded before (a replay). In
/// the caller's transaction, so a revocation that fails records nothing.
pub fn record(
    conn: &mut AnyConnection,
    issuer: &str,
    jti: &str,
    tenant_id: &str,
    expires: NaiveDateTime,
) -> Result<bool, StoreError> {
    let inserted = diesel::sql_query(
        "INSERT INTO revocation_assertions (issuer, jti, tenant_id, expires) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(issuer)
    .bind::<Text, _>(jti)
    .bind::<Text, _>(tenant_id)
    .bind::<Timestamp, _>(expires)
    .execute(conn)?;
    Ok(inserted == 1)
}

/// Forgets `jti`s whose JWT has expired (and so would be refused anyway); returns how many.
pub fn purge(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(revocation_assertions::table)
        .filter(revocation_assertions::expires.le(now))
        .execute(conn)?)
}
