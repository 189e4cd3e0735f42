//! What a tenant holds at a glance, for the operator console: counts kept by triggers (users
//! by `active`, members of a page of groups) or answered by indexes (live sessions, open flags) and the audit
//! log's provisioning activity per hour over a recent window.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::schema::{flags, group_member_counts, groups, sessions, tenant_counts};
use super::{AnyConnection, StoreError};

/// Active and inactive users of a tenant, from the counts triggers keep (`tenant_counts`):
/// one row read, whatever the size of the tenant.
pub fn users_by_active(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> Result<(i64, i64), StoreError> {
    Ok(tenant_counts::table
        .filter(tenant_counts::tenant_id.eq(tenant_id))
        .select((tenant_counts::active_users, tenant_counts::inactive_users))
        .first::<(i64, i64)>(conn)
        .optional()?
        .unwrap_or((0, 0)))
}

/// Sessions not ended and not past either expiry, on the index of live sessions.
pub fn live_sessions(
    conn: &mut AnyConnection,
    tenant_id: &str,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    Ok(sessions::table
        .filter(sessions::tenant_id.eq(tenant_id))
        .filter(sessions::ended.is_null())
        .filter(sessions::expires.gt(now))
        .filter(sessions::idle_expires.gt(now))
        .count()
        .get_result(conn)?)
}

/// Flags not yet acknowledged, on the index of open flags.
pub fn open_flags(conn: &mut AnyConnection, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(flags::table
        .filter(flags::tenant_id.eq(tenant_id))
        .filter(flags::acknowledged.is_null())
        .count()
        .get_result(conn)?)
}

/// The member count of each of `group_ids` (a page of groups), from the counts triggers keep
/// (`group_member_counts`): one row per group, however large the group. Groups of another
/// tenant are not counted.
pub fn member_counts(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_ids: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut counts = Vec::with_capacity(group_ids.len());
    for chunk in group_ids.chunks(super::MAX_BOUND_IDS) {
        counts.extend(
            group_member_counts::table
                .inner_join(groups::table.on(groups::id.eq(group_member_counts::group_id)))
                .filter(groups::tenant_id.eq(tenant_id))
                .filter(group_member_counts::group_id.eq_any(chunk))
                .select((group_member_counts::group_id, group_member_counts::members))
                .load::<(String, i64)>(conn)?,
        );
    }
    Ok(counts)
}

/// Audit records of one hour, actor and action.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Activity {
    /// The hour, as `YYYY-MM-DD HH:00:00` (UTC).
    #[diesel(sql_type = Text)]
    pub hour: String,
    /// The credential that acted (an identity provider's name, for SCIM writes).
    #[diesel(sql_type = Nullable<Text>)]
    pub actor: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = BigInt)]
    pub records: i64,
}

/// Provisioning activity since `since`: user and group writes and ended sessions, counted
/// per hour, actor and action by the database, on the index of records by time.
pub fn activity(
    session: &mut impl super::Session,
    tenant_id: &str,
    since: NaiveDateTime,
) -> Result<Vec<Activity>, StoreError> {
    let conn = session.visible()?;
    let hour = match conn {
        AnyConnection::Sqlite(_) => "strftime('%Y-%m-%d %H:00:00', occurred)",
        AnyConnection::Postgres(_) => {
            "to_char(date_trunc('hour', occurred), 'YYYY-MM-DD HH24:00:00')"
        }
    };
    let query = format!(
        "SELECT {hour} AS hour, actor_name AS actor, action, COUNT(*) AS records \
         FROM audit_records WHERE tenant_id = $1 AND occurred >= $2 AND outcome = 'success' \
         AND (action LIKE 'user.%' OR action LIKE 'group.%' OR action = 'session.revoke') \
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    );
    Ok(diesel::sql_query(query)
        .bind::<Text, _>(tenant_id)
        .bind::<Timestamp, _>(since)
        .load::<Activity>(conn)?)
}
