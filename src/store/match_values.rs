//! Values of the attributes users are matched on (`scim::matching`), one row each, so a
//! lookup such as Entra's `emails[type eq "work"].value eq "…"` is an index probe.

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Bool, Text};

use super::filter::{Db, Predicate};
use super::schema::{match_attributes, match_values, users};
use super::{AnyConnection, StoreError, Write};

/// Replaces a user's rows with `values` (attribute, value); a user write calls it in its
/// transaction.
pub fn replace(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
    values: &[(String, String)],
) -> Result<(), StoreError> {
    diesel::delete(match_values::table)
        .filter(match_values::user_id.eq(user_id))
        .execute(conn)?;
    insert(conn, tenant_id, user_id, values)
}

/// Adds rows, in one statement; a row already present is left as it is.
pub fn insert(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
    values: &[(String, String)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = values
        .iter()
        .map(|(attribute, value)| {
            (
                match_values::tenant_id.eq(tenant_id),
                match_values::attribute.eq(attribute.as_str()),
                match_values::value.eq(value.as_str()),
                match_values::user_id.eq(user_id),
            )
        })
        .collect();
    for chunk in rows.chunks(100) {
        let insert = diesel::insert_into(match_values::table)
            .values(chunk)
            .on_conflict_do_nothing();
        match conn {
            AnyConnection::Sqlite(c) => insert.execute(c)?,
            AnyConnection::Postgres(c) => insert.execute(c)?,
        };
    }
    Ok(())
}

/// The ids of the tenant's users with `value` (as stored: folded where the attribute is not
/// case-exact) for `attribute`: an index probe.
pub fn user_ids_with(
    conn: &mut AnyConnection,
    tenant_id: &str,
    attribute: &str,
    value: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(match_values::table
        .filter(match_values::tenant_id.eq(tenant_id))
        .filter(match_values::attribute.eq(attribute))
        .filter(match_values::value.eq(value))
        .select(match_values::user_id)
        .load(conn)?)
}

/// Users of the tenant with `value` for `attribute`: an `IN` subquery on the primary key.
pub fn users_with(tenant_id: &str, attribute: &str, value: &str) -> Predicate<users::table> {
    Box::new(UsersWith {
        tenant_id: tenant_id.to_string(),
        attribute: attribute.to_string(),
        value: value.to_string(),
    })
}

/// `users.id IN (SELECT user_id FROM match_values WHERE …)`, written by hand: `MultiBackend`
/// cannot box a subselect.
#[derive(Debug, Clone)]
struct UsersWith {
    tenant_id: String,
    attribute: String,
    value: String,
}

impl Expression for UsersWith {
    type SqlType = Bool;
}

impl<T> AppearsOnTable<T> for UsersWith {}
impl<T> SelectableExpression<T> for UsersWith {}

impl ValidGrouping<()> for UsersWith {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for UsersWith {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Db> for UsersWith {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        out.push_sql("users.id IN (SELECT v.user_id FROM match_values AS v WHERE v.tenant_id = ");
        out.push_bind_param::<Text, _>(&self.tenant_id)?;
        out.push_sql(" AND v.attribute = ");
        out.push_bind_param::<Text, _>(&self.attribute)?;
        out.push_sql(" AND v.value = ");
        out.push_bind_param::<Text, _>(&self.value)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The attributes configured for the tenant (beyond the built-in ones), with whether each is
/// ready for lookups. Writes maintain them all.
pub fn configured(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<Vec<(String, bool)>, StoreError> {
    Ok(match_attributes::table
        .filter(match_attributes::tenant_id.eq(tenant_id))
        .select((match_attributes::attribute, match_attributes::ready))
        .order(match_attributes::attribute.asc())
        .load(conn)?)
}

/// The configured attributes a write maintains, read once per transaction under the tenant's
/// audit head lock (taken here if the transaction has not yet): `wait_for_writes` relies on it.
pub fn configured_for_write(
    write: &mut Write,
    tenant_id: &str,
) -> Result<Vec<(String, bool)>, StoreError> {
    if let Some(attributes) = write.held().1.configured(tenant_id) {
        return Ok(attributes);
    }
    super::audit::lock_head(write, tenant_id)?;
    let attributes = configured(write, tenant_id)?;
    write.held().1.keep_configured(tenant_id, &attributes);
    Ok(attributes)
}

/// Waits, in a write of its own, until every write of the tenant that may have read the
/// configured attributes before the last change to them has committed: such a write holds
/// the tenant's audit head from that read to its commit (`configured_for_write`). A backfill
/// calls it after recording a new attribute and before walking the users, so that no user
/// written without the attribute's values commits behind the walk.
pub fn wait_for_writes(write: &mut Write, tenant_id: &str) -> Result<(), StoreError> {
    super::audit::lock_head(write, tenant_id).map(|_| ())
}

/// Records a configured attribute, not yet ready: writes maintain it from now on.
pub fn add_configured(
    conn: &mut AnyConnection,
    tenant_id: &str,
    attribute: &str,
) -> Result<(), StoreError> {
    use diesel::sql_types::Text;
    diesel::sql_query(
        "INSERT INTO match_attributes (tenant_id, attribute, ready) VALUES ($1, $2, FALSE) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(tenant_id)
    .bind::<Text, _>(attribute)
    .execute(conn)?;
    Ok(())
}

/// Marks a configured attribute ready for lookups: every user's values are in.
pub fn set_ready(
    conn: &mut AnyConnection,
    tenant_id: &str,
    attribute: &str,
) -> Result<(), StoreError> {
    diesel::update(match_attributes::table)
        .filter(match_attributes::tenant_id.eq(tenant_id))
        .filter(match_attributes::attribute.eq(attribute))
        .set(match_attributes::ready.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Forgets a configured attribute and its values.
pub fn remove_configured(
    conn: &mut AnyConnection,
    tenant_id: &str,
    attribute: &str,
) -> Result<(), StoreError> {
    diesel::delete(match_attributes::table)
        .filter(match_attributes::tenant_id.eq(tenant_id))
        .filter(match_attributes::attribute.eq(attribute))
        .execute(conn)?;
    diesel::delete(match_values::table)
        .filter(match_values::tenant_id.eq(tenant_id))
        .filter(match_values::attribute.eq(attribute))
        .execute(conn)?;
    Ok(())
}

/// One page of the tenant's users as (id, search document) after `after`, by id, locked
/// until the end of the transaction on Postgres, so no concurrent write of these users can
/// slip between this read and the values written from it (SQLite writers run one at a time).
pub fn documents_for_update(
    conn: &mut AnyConnection,
    tenant_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Document {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        search: String,
    }
    let lock = super::lock_clause(conn);
    let rows: Vec<Document> = diesel::sql_query(format!(
        "SELECT id, search FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3{lock}"
    ))
    .bind::<Text, _>(tenant_id)
    .bind::<Text, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|d| (d.id, d.search)).collect())
}
