//! Flagged activity: one open flag per tenant, kind and subject.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::flags;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = flags)]
pub struct FlagRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub severity: String,
    pub subject: String,
    pub details: String,
    pub raised: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub occurrences: i64,
    pub acknowledged: Option<NaiveDateTime>,
    pub acknowledged_by: Option<String>,
}

/// Counts `occurrences` more on the open flag of this kind and subject; `false` if none.
pub fn repeat(
    conn: &mut AnyConnection,
    tenant_id: &str,
    kind: &str,
    subject: &str,
    occurrences: i64,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(flags::table)
        .filter(flags::tenant_id.eq(tenant_id))
        .filter(flags::kind.eq(kind))
        .filter(flags::subject.eq(subject))
        .filter(flags::acknowledged.is_null())
        .set((
            flags::occurrences.eq(flags::occurrences + occurrences),
            flags::last_seen.eq(now),
        ))
        .execute(conn)?
        > 0)
}

pub fn insert(conn: &mut AnyConnection, row: &FlagRow) -> Result<(), StoreError> {
    diesel::insert_into(flags::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A tenant's flags, newest first: open ones only unless `all`.
pub fn list(
    conn: &mut AnyConnection,
    tenant_id: &str,
    all: bool,
    limit: i64,
) -> Result<Vec<FlagRow>, StoreError> {
    let mut query = flags::table
        .filter(flags::tenant_id.eq(tenant_id))
        .order(flags::raised.desc())
        .limit(limit)
        .select(FlagRow::as_select())
        .into_boxed();
    if !all {
        query = query.filter(flags::acknowledged.is_null());
    }
    Ok(query.load(conn)?)
}

/// Acknowledges an open flag; `false` if there is no such open flag.
pub fn acknowledge(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    by: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(flags::table)
        .filter(flags::tenant_id.eq(tenant_id))
        .filter(flags::id.eq(id))
        .filter(flags::acknowledged.is_null())
        .set((flags::acknowledged.eq(now), flags::acknowledged_by.eq(by)))
        .execute(conn)?
        > 0)
}
