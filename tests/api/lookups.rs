//! A user read with their groups: by id, by a unique attribute, in a page and by cursor, the
//! groups are the same, in id order, with their names exactly as written (on Postgres they
//! come back in one statement with the user, as JSON text). And the plans Postgres keeps for
//! those lookups stay on the indexes whatever the table sizes were when it made them.

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit::tamper;
use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;
use scimitar::store::filter::{Condition, TextOp};
use scimitar::store::users::{UserColumn, get_with_groups, page_with_groups};
use scimitar::store::{AnyConnection, DatabaseUrl, PoolSettings, Store, StoreError};
use std::time::Duration;

/// Group names a JSON text or a careless split would mangle.
const NAMES: [&str; 4] = [
    r#"Ops "core""#,
    r"R&D \ back\slash",
    "Ünïcödé, [brackets]",
    "Emoji 🚀 'single' <b>",
];

async fn read(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path).await, StatusCode::OK).await
}

on_both_backends! {
    async fn every_read_of_a_user_shows_all_their_groups_in_id_order_with_names_as_written(app) {
        let user = app.create_user("ada").await;
        let id = id_of(&user);
        let other = id_of(&app.create_user("bob").await);
        let mut groups: Vec<(String, String)> = Vec::new();
        for name in NAMES {
            let members: Vec<&str> = if name.starts_with("Emoji") { vec![&other] } else { vec![&id, &other] };
            let group = app.create_group(name, &members).await;
            if members.contains(&id.as_str()) {
                groups.push((id_of(&group), name.to_string()));
            }
        }
        groups.sort();
        let expected: Vec<Value> = groups.iter().map(|(gid, name)| json!({
            "value": gid, "$ref": format!("{}/Groups/{gid}", app.base),
            "display": name, "type": "direct",
        })).collect();
        let expected = Value::Array(expected);

        let by_id = read(&app, &format!("/Users/{id}")).await;
        assert_eq!(by_id["groups"], expected);
        let by_name = read(&app, "/Users?filter=userName%20eq%20%22ADA%22").await;
        assert_eq!(by_name["totalResults"], 1);
        assert_eq!(by_name["Resources"][0]["groups"], expected);
        let by_id_filter = read(&app, &format!("/Users?filter=id%20eq%20%22{id}%22")).await;
        assert_eq!(by_id_filter["Resources"][0]["groups"], expected);
        let page = read(&app, "/Users?sortBy=userName").await;
        assert_eq!(page["Resources"][0]["userName"], "ada");
        assert_eq!(page["Resources"][0]["groups"], expected);
        assert_eq!(page["Resources"][1]["groups"].as_array().map(Vec::len), Some(NAMES.len()));
        let cursor = read(&app, "/Users?cursor=&count=1").await;
        assert_eq!(cursor["Resources"][0]["groups"], expected);

        // A user without groups shows none, and a projection without them reads none.
        let lonely = id_of(&app.create_user("cy").await);
        assert!(read(&app, &format!("/Users/{lonely}")).await.get("groups").is_none());
        let projected = read(&app, &format!("/Users/{id}?excludedAttributes=groups")).await;
        assert!(projected.get("groups").is_none(), "{projected}");
        assert_eq!(projected["userName"], "ada");
    }

    async fn a_user_of_another_tenant_is_not_found_with_or_without_groups(app) {
        let id = id_of(&app.create_user("dee").await);
        app.create_group("Team", &[&id]).await;
        let found = app.store.read(|conn| get_with_groups(conn, "no-such-tenant", &id)).expect("a read");
        assert!(found.is_none());
        let found = app.store.read(|conn| get_with_groups(conn, &app.tenant_id, &id)).expect("a read");
        let (row, groups) = found.expect("the user");
        assert_eq!((row.id.as_str(), groups.len()), (id.as_str(), 1));
    }

    async fn postgres_plans_lookups_again_once_tables_made_for_empty_have_grown(app) {
        if !app.database_url().starts_with("postgres") {
            return;
        }
        // One connection, so each read below sees the plans the one before it cached.
        let url = DatabaseUrl::parse(app.database_url()).expect("url");
        let replan_after = Duration::from_millis(300);
        let settings = PoolSettings { max_connections: 1, replan_after, ..PoolSettings::default() };
        let store = Store::connect(&url, &settings).expect("a store");
        // The worst case: statistics taken while the tables were empty and never again
        // (autovacuum off), and the plan Postgres keeps once made (a generic plan).
        for table in ["users", "groups", "group_members"] {
            store.read(|conn| conn.batch_execute(&format!("VACUUM ANALYZE {table}")).map_err(StoreError::from)).expect("analyze");
        }
        let tenant = app.tenant_id.clone();
        let columns = [UserColumn::UserNameKey, UserColumn::ExternalId, UserColumn::Id];
        let empty = store.read(|conn| kept_plans(conn, &tenant, &columns)).expect("plans");
        assert!(empty.contains("Seq Scan on users"), "made for empty tables, a kept plan scans:\n{empty}");

        // The tables grow to 10,000 users, all in one group.
        let seed = id_of(&app.create_user("seed").await);
        let group = id_of(&app.create_group("everyone", &[&seed]).await);
        tamper(&app, &format!("INSERT INTO users (id, tenant_id, user_name, user_name_key, active, attributes, version, created, last_modified, search) \
            SELECT 'u' || n, '{tenant}', 'user' || n, 'user' || n, true, '{{}}', 1, now(), now(), '{{}}' FROM generate_series(1, 10000) AS n"));
        tamper(&app, &format!("INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, '{group}', id FROM users WHERE id LIKE 'u%'"));

        std::thread::sleep(replan_after + Duration::from_millis(100));
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
        let statement: Statement = diesel::sql_query(
            "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%json_agg%' ORDER BY prepare_time DESC LIMIT 1",
        )
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
