//! Token-signing keys: their public halves and their schedule.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub public_key: String,
    pub created: NaiveDateTime,
    pub activates: NaiveDateTime,
    pub retires: Option<NaiveDateTime>,
    pub removes: Option<NaiveDateTime>,
}

/// Every key not yet removed at `now`, oldest first.
pub fn published(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(signing_keys::table
        .filter(
            signing_keys::removes
                .is_null()
                .or(signing_keys::removes.gt(now)),
        )
        .order(signing_keys::created.asc())
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

pub fn insert(conn: &mut AnyConnection, row: &SigningKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(signing_keys::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Ends a key's signing period at `retires` and unpublishes it at `removes`.
pub fn retire(
    conn: &mut AnyConnection,
    kid: &str,
    retires: NaiveDateTime,
    removes: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(signing_keys::table)
        .filter(signing_keys::kid.eq(kid))
        .set((
            signing_keys::retires.eq(retires),
            signing_keys::removes.eq(removes),
        ))
        .execute(conn)?;
    Ok(())
}

/// Serialises key rotation between replicas: Postgres locks the table for the transaction;
/// SQLite's write transactions already run one at a time.
pub fn lock(conn: &mut AnyConnection) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    if let AnyConnection::Postgres(pg) = conn {
        pg.batch_execute("LOCK TABLE signing_keys IN EXCLUSIVE MODE")?;
    }
    Ok(())
}
