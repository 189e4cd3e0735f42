//! A user read with their groups: by id, by a unique attribute, in a page and by cursor, the
//! groups are the same, in id order, with their names exactly as written (on Postgres they
//! come back in one statement with the user, as JSON text).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_status, id_of};
use crate::on_both_backends;
use scimitar::store::users::get_with_groups;

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
}
