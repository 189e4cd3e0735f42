//! The plans Postgres keeps. A statement Postgres runs often is kept prepared with a generic
//! plan, made for the table sizes of its moment; made while a new database was empty it
//! would scan tables that have since grown. Pooled connections make their plans again every
//! `replan_after` (decision 64): these tests make plans for empty tables, grow the tables,
//! and show the plans in use afterwards are on the indexes, for lookups and for the
//! foreign-key checks of writes.

use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};

use crate::audit::tamper;
use crate::helpers::{TestApp, id_of};
use crate::on_both_backends;
use scimitar::store::filter::{Condition, TextOp};
use scimitar::store::users::{UserColumn, get_with_groups, page_with_groups};
use scimitar::store::{AnyConnection, DatabaseUrl, PoolSettings, Store, StoreError, match_values};

const REPLAN_AFTER: Duration = Duration::from_millis(300);

/// A store of one connection, so each use sees the plans the one before it cached, and
/// statistics that say the tables are empty (the worst case: taken while they were, and never
/// again, as with autovacuum off).
fn one_connection_on_empty_statistics(app: &TestApp) -> Store {
    let url = DatabaseUrl::parse(app.database_url()).expect("url");
    let settings = PoolSettings {
        max_connections: 1,
        replan_after: REPLAN_AFTER,
        ..PoolSettings::default()
    };
    let store = Store::connect(&url, &settings).expect("a store");
    for table in ["users", "groups", "group_members", "match_values"] {
        store
            .read(|conn| {
                conn.batch_execute(&format!("VACUUM ANALYZE {table}"))
                    .map_err(StoreError::from)
            })
            .expect("analyze");
    }
    store
}

/// Adds 10,000 users (ids `u1` … `u10000`) to the tenant, all in `group`.
fn grow(app: &TestApp, group: &str) {
    let tenant = &app.tenant_id;
    tamper(
        app,
        &format!(
            "INSERT INTO users (id, tenant_id, user_name, user_name_key, active, attributes, version, created, last_modified, search) \
        SELECT 'u' || n, '{tenant}', 'user' || n, 'user' || n, true, '{{}}', 1, now(), now(), '{{}}' FROM generate_series(1, 10000) AS n"
        ),
    );
    tamper(
        app,
        &format!(
            "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, '{group}', id FROM users WHERE id LIKE 'u%'"
        ),
    );
}

on_both_backends! {
    async fn postgres_plans_lookups_again_once_tables_made_for_empty_have_grown(app) {
        if !app.database_url().starts_with("postgres") {
            return;
        }
        let store = one_connection_on_empty_statistics(&app);
        let tenant = app.tenant_id.clone();
        let columns = [UserColumn::UserNameKey, UserColumn::ExternalId, UserColumn::Id];
        let empty = store.read(|conn| kept_plans(conn, &tenant, &columns)).expect("plans");
        assert!(empty.contains("Seq Scan on users"), "made for empty tables, a kept plan scans:\n{empty}");

        let seed = id_of(&app.create_user("seed").await);
        let group = id_of(&app.create_group("everyone", &[&seed]).await);
        grow(&app, &group);

        std::thread::sleep(REPLAN_AFTER + Duration::from_millis(100));
        let grown = store.read(|conn| kept_plans(conn, &tenant, &columns)).expect("plans");
        // (A handful of groups is scanned: cheaper than their index, and replanned like the rest.)
        for table in ["users", "group_members"] {
            assert!(!grown.contains(&format!("Seq Scan on {table}")), "a kept plan still scans {table}:\n{grown}");
        }
        assert!(grown.contains("group_members_user"), "the groups come from their index:\n{grown}");
        // And the lookups answer as they should.
        let found = store.read(|conn| get_with_groups(conn, &tenant, "u77")).expect("a read").expect("u77");
        assert_eq!(found.1.iter().map(|m| m.group_id.as_str()).collect::<Vec<_>>(), vec![group.as_str()]);
    }

    async fn postgres_plans_foreign_key_checks_again_once_tables_made_for_empty_have_grown(app) {
        if !app.database_url().starts_with("postgres") {
            return;
        }
        let store = one_connection_on_empty_statistics(&app);
        let tenant = app.tenant_id.clone();
        let seed = id_of(&app.create_user("seed").await);
        // A matching value's foreign-key check finds its user; its plan is kept after a few.
        let empty = store.write(|conn| user_scans_of_matching_values(conn, &tenant, &seed, "empty")).expect("writes");
        assert!(empty > 0, "made for empty tables, the kept foreign-key check scans users");

        let group = id_of(&app.create_group("everyone", &[&seed]).await);
        grow(&app, &group);
        std::thread::sleep(REPLAN_AFTER + Duration::from_millis(100));
        // The first write after the replan lets Postgres settle on a plan again; the next is measured.
        store.write(|conn| user_scans_of_matching_values(conn, &tenant, "u7", "settle")).expect("writes");
        let grown = store.write(|conn| user_scans_of_matching_values(conn, &tenant, "u77", "grown")).expect("writes");
        assert_eq!(grown, 0, "a kept foreign-key check still scans users");
    }
}

/// Inserts matching values for `user` (each checked against `users` by its foreign key), and
/// returns how many sequential scans of `users` this transaction made.
fn user_scans_of_matching_values(
    conn: &mut AnyConnection,
    tenant: &str,
    user: &str,
    tag: &str,
) -> Result<i64, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Scans {
        #[diesel(sql_type = BigInt)]
        seq_scan: i64,
    }
    for n in 0..8 {
        let values = [("emails.work".to_string(), format!("{tag}{n}@example.com"))];
        match_values::insert(conn, tenant, user, &values)?;
    }
    let scans: Scans =
        diesel::sql_query("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'users'")
            .get_result(conn)?;
    Ok(scans.seq_scan)
}

/// The plans Postgres uses for the lookup statements (by each of `columns`, with the
/// user's groups) after enough executions to settle on a kept one, one after the other.
fn kept_plans(
    conn: &mut AnyConnection,
    tenant: &str,
    columns: &[UserColumn],
) -> Result<String, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Statement {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let mut plans = Vec::new();
    for column in columns {
        let condition = Condition::Text {
            column: *column,
            op: TextOp::Eq,
            value: "nobody".into(),
        };
        for _ in 0..8 {
            page_with_groups(conn, tenant, Some(&condition), None, 0, 100)?;
        }
        // The statement of this column's lookup (each column's is prepared once and kept).
        let name = match column {
            UserColumn::UserNameKey => "user_name_key",
            UserColumn::ExternalId => "external_id",
            _ => "id",
        };
        let statement: Statement = diesel::sql_query(format!(
            "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%json_agg%' \
             AND statement LIKE '%(\"users\".\"{name}\" = $2)%'"
        ))
        .get_result(conn)?;
        let lines: Vec<Line> = diesel::sql_query(format!(
            "EXPLAIN EXECUTE \"{}\"('{tenant}', 'nobody')",
            statement.name
        ))
        .load(conn)?;
        plans.extend(lines.into_iter().map(|l| l.line));
    }
    Ok(plans.join("\n"))
}
