//! `filter` on list requests, answered by the database on both backends.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, expect_scim_error, expect_status, id_of};
use crate::on_both_backends;

async fn seed_users(app: &TestApp) {
    for body in [
        json!({"userName": "Alice@Example.com", "externalId": "ext-A"}),
        json!({"userName": "bob@example.com", "externalId": "ext-a"}),
        json!({"userName": "carol_50%@x.org", "active": false}),
    ] {
        expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
    }
}

async fn user_names(app: &TestApp, filter: &str) -> BTreeSet<String> {
    let response = app
        .request(reqwest::Method::GET, "/Users")
        .query(&[("filter", filter)])
        .send()
        .await
        .expect("GET");
    let list = expect_status(response, StatusCode::OK).await;
    let names: BTreeSet<String> = list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["userName"].as_str().map(String::from))
        .collect();
    assert_eq!(list["totalResults"], json!(names.len()), "{filter}");
    names
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const ALICE: &str = "Alice@Example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol_50%@x.org";

on_both_backends! {
    async fn filters_select_exactly_the_matching_users(app) {
        seed_users(&app).await;
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (r#"userName eq "alice@example.com""#, vec![ALICE]),
            (r#"USERNAME EQ "ALICE@EXAMPLE.COM""#, vec![ALICE]),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BOB@example.com""#, vec![BOB]),
            (r#"userName eq "nobody""#, vec![]),
            (r#"externalId eq "ext-a""#, vec![BOB]),
            (r#"externalId co "A""#, vec![ALICE]),
            (r#"userName sw "ALI""#, vec![ALICE]),
            (r#"userName ew "example.com""#, vec![ALICE, BOB]),
            (r#"userName co "_50%""#, vec![CAROL]),
            (r#"userName co "%""#, vec![CAROL]),
            (r#"userName gt "b""#, vec![BOB, CAROL]),
            ("externalId pr", vec![ALICE, BOB]),
            ("not (externalId pr)", vec![CAROL]),
            ("externalId eq null", vec![CAROL]),
            (r#"externalId ne "ext-a""#, vec![ALICE, CAROL]),
            ("active eq false", vec![CAROL]),
            ("active ne false", vec![ALICE, BOB]),
            (r#"userName eq "x" or active eq false"#, vec![CAROL]),
            (r#"userName ew "example.com" and not (externalId eq "ext-a")"#, vec![ALICE]),
            (r#"(userName sw "a" or userName sw "b") and externalId pr"#, vec![ALICE, BOB]),
            (r#"meta.created gt "2000-01-01T00:00:00Z""#, vec![ALICE, BOB, CAROL]),
            (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, vec![]),
            ("userName pr", vec![ALICE, BOB, CAROL]),
        ];
        for (filter, expected) in cases {
            assert_eq!(user_names(&app, filter).await, set(&expected), "{filter}");
        }
    }

    async fn a_filter_that_matches_nothing_is_200_with_an_empty_list(app) {
        let response = app.request(reqwest::Method::GET, "/Users").query(&[("filter", r#"userName eq "ghost""#)]).send().await.expect("GET");
        let list = expect_status(response, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(0));
        assert_eq!(list["Resources"], json!([]));
    }

    async fn total_results_counts_all_matches_while_the_page_is_limited(app) {
        seed_users(&app).await;
        let response = app.request(reqwest::Method::GET, "/Users")
            .query(&[("filter", "externalId pr"), ("count", "1"), ("startIndex", "2")]).send().await.expect("GET");
        let list = expect_status(response, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(2));
        assert_eq!(list["itemsPerPage"], json!(1));
        assert_eq!(list["Resources"][0]["userName"], BOB);
    }

    async fn filters_that_cannot_be_answered_are_invalid_filter_errors(app) {
        for filter in [
            r#"favouriteColour eq "x""#,
            r#"groups.$ref eq "x""#,
            r#"groups[value eq "x" and groups[value pr]]"#,
            r#"groups eq 42"#,
            r#"name eq "x""#,
            r#"emails[type eq "work"].nope eq "x""#,
            r#"emails[display[value eq "x"]]"#,
            "active gt true",
            r#"userName eq 42"#,
            r#"meta.created eq "yesterday""#,
            r#"urn:example:Other:userName eq "x""#,
            r#"userName eq "unterminated"#,
        ] {
            let response = app.request(reqwest::Method::GET, "/Users").query(&[("filter", filter)]).send().await.expect("GET");
            expect_scim_error(response, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
        }
    }

    async fn a_filter_on_the_password_is_refused_as_sensitive(app) {
        let response = app.request(reqwest::Method::GET, "/Users").query(&[("filter", r#"password eq "secret""#)]).send().await.expect("GET");
        expect_scim_error(response, StatusCode::FORBIDDEN, Some("sensitive")).await;
    }

    async fn groups_are_found_by_display_name_whatever_its_case_and_by_external_id(app) {
        expect_status(app.post("/Groups", &json!({"displayName": "Engineering", "externalId": "g-1"})).await, StatusCode::CREATED).await;
        expect_status(app.post("/Groups", &json!({"displayName": "Sales"})).await, StatusCode::CREATED).await;
        for (filter, expected) in [
            (r#"displayName eq "engineering""#, vec!["Engineering"]),
            (r#"externalId eq "g-1""#, vec!["Engineering"]),
            (r#"displayName eq "Sales" and externalId pr"#, vec![]),
        ] {
            let response = app.request(reqwest::Method::GET, "/Groups").query(&[("filter", filter)]).send().await.expect("GET");
            let list = expect_status(response, StatusCode::OK).await;
            let names: Vec<&str> = list["Resources"].as_array().into_iter().flatten().filter_map(|g| g["displayName"].as_str()).collect();
            assert_eq!(names, expected, "{filter}");
            assert_eq!(list["totalResults"], json!(expected.len()));
        }
    }
}

async fn seed_rich_users(app: &TestApp) {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    for body in [
        json!({"userName": "ann", "title": "Chief Engineer", "name": {"givenName": "Ann", "familyName": "Lee"},
               "emails": [{"value": "ann@work.example", "type": "work", "primary": true}, {"value": "ann@home.example", "type": "home"}],
               enterprise: {"department": "R&D", "manager": {"value": "boss-1"}}}),
        json!({"userName": "ben", "title": "engineer", "active": false,
               "emails": [{"value": "BEN@work.example", "type": "work"}],
               enterprise: {"department": "Sales"}}),
        json!({"userName": "cat", "nickName": "Kitty", "emails": [{"value": "cat@home.example", "type": "home"}]}),
    ] {
        expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
    }
}

on_both_backends! {
    async fn any_schema_attribute_filters_in_the_database(app) {
        seed_rich_users(&app).await;
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (r#"title eq "CHIEF ENGINEER""#, vec!["ann"]),
            (r#"title co "engineer""#, vec!["ann", "ben"]),
            (r#"title ne "engineer""#, vec!["ann", "cat"]),
            ("title pr", vec!["ann", "ben"]),
            (r#"name.givenName sw "a""#, vec!["ann"]),
            (r#"nickName eq "kitty""#, vec!["cat"]),
            (r#"emails.value ew "@work.example""#, vec!["ann", "ben"]),
            (r#"emails co "home""#, vec!["ann", "cat"]),
            (r#"emails[type eq "work" and value sw "ben"]"#, vec!["ben"]),
            (r#"emails[type eq "home"]"#, vec!["ann", "cat"]),
            (r#"emails[type eq "work"].value eq "ann@work.example""#, vec!["ann"]),
            (r#"emails[primary eq true]"#, vec!["ann"]),
            (r#"not (emails[type eq "work"])"#, vec!["cat"]),
            (r#"emails.type ne "home""#, vec!["ben"]), // ne: no value is equal
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#, vec!["ann"]),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "boss-1""#, vec!["ann"]),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "BOSS-1""#, vec![]),
            ("active eq false", vec!["ben"]),
            ("active eq true", vec![]), // nobody sent `active: true`; absent is not true
            (r#"title pr and not (active eq false)"#, vec!["ann"]),
        ];
        for (filter, expected) in cases {
            assert_eq!(user_names(&app, filter).await, set(&expected), "{filter}");
        }
    }
}

/// Names (userName or displayName) of the resources a filter finds, and its totalResults.
async fn found(
    app: &TestApp,
    endpoint: &str,
    filter: &str,
    extra: &[(&str, &str)],
) -> BTreeSet<String> {
    let mut query = vec![("filter", filter)];
    query.extend_from_slice(extra);
    let response = app
        .request(reqwest::Method::GET, endpoint)
        .query(&query)
        .send()
        .await
        .expect("GET");
    let list = expect_status(response, StatusCode::OK).await;
    let names: BTreeSet<String> = list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r["userName"]
                .as_str()
                .or(r["displayName"].as_str())
                .or(r["id"].as_str())
                .map(String::from)
        })
        .collect();
    assert_eq!(list["totalResults"], json!(names.len()), "{filter}");
    names
}

on_both_backends! {
    async fn groups_are_found_by_member_in_every_form_identity_providers_send(app) {
        let ann = crate::helpers::id_of(&app.create_user("ann").await);
        let bob = crate::helpers::id_of(&app.create_user("bob").await);
        let eng = crate::helpers::id_of(&app.create_group("Engineering", &[&ann, &bob]).await);
        let ops = crate::helpers::id_of(&app.create_group("Ops", &[&bob]).await);
        app.create_group("Empty", &[]).await;

        // Entra, before it removes a user or deletes a group.
        let check = format!(r#"id eq "{eng}" and members eq "{ann}""#);
        assert_eq!(found(&app, "/Groups", &check, &[("attributes", "id")]).await, set(&[&eng]));
        let check = format!(r#"id eq "{ops}" and members eq "{ann}""#);
        assert_eq!(found(&app, "/Groups", &check, &[("attributes", "id")]).await, set(&[]));
        for (filter, expected) in [
            (format!(r#"members[value eq "{bob}"]"#), vec!["Engineering", "Ops"]),
            (format!(r#"members.value eq "{ann}""#), vec!["Engineering"]),
            (format!(r#"members eq "{}""#, ann.to_uppercase()), vec!["Engineering"]),
            (format!(r#"members ne "{ann}""#), vec!["Empty", "Ops"]),
            (format!(r#"not (members eq "{bob}")"#), vec!["Empty"]),
            (format!(r#"members eq "{ann}" or displayName eq "ops""#), vec!["Engineering", "Ops"]),
            (format!(r#"members[value eq "{ann}" or value eq "{bob}"] and displayName sw "E""#), vec!["Engineering"]),
            ("members pr".to_string(), vec!["Engineering", "Ops"]),
            ("members eq null".to_string(), vec!["Empty"]),
            (r#"members.type eq "user""#.to_string(), vec!["Engineering", "Ops"]),
            (r#"members.display pr"#.to_string(), vec![]),
        ] {
            assert_eq!(found(&app, "/Groups", &filter, &[]).await, set(&expected), "{filter}");
        }
        let refused = app.request(reqwest::Method::GET, "/Groups").query(&[("filter", r#"members.$ref pr"#)]).send().await.expect("GET");
        expect_scim_error(refused, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
    }

    async fn users_are_found_by_group_id_and_by_group_name(app) {
        let ann = crate::helpers::id_of(&app.create_user("ann").await);
        let bob = crate::helpers::id_of(&app.create_user("bob").await);
        app.create_user("cyd").await;
        let eng = crate::helpers::id_of(&app.create_group("Engineering", &[&ann, &bob]).await);
        app.create_group("Ops", &[&bob]).await;
        for (filter, expected) in [
            (format!(r#"groups[value eq "{eng}"]"#), vec!["ann", "bob"]),
            (format!(r#"groups.value eq "{eng}""#), vec!["ann", "bob"]),
            (r#"groups.display eq "ENGINEERING""#.to_string(), vec!["ann", "bob"]),
            (r#"groups[display eq "ops"]"#.to_string(), vec!["bob"]),
            (r#"groups[display sw "eng" and not (display eq "ops")]"#.to_string(), vec!["ann", "bob"]),
            (r#"groups.display ne "ops""#.to_string(), vec!["ann", "cyd"]),
            (r#"groups.display eq "ops" or userName eq "cyd""#.to_string(), vec!["bob", "cyd"]),
            ("groups pr".to_string(), vec!["ann", "bob"]),
            ("not (groups pr)".to_string(), vec!["cyd"]),
            (r#"groups.type eq "direct""#.to_string(), vec!["ann", "bob"]),
        ] {
            assert_eq!(found(&app, "/Users", &filter, &[]).await, set(&expected), "{filter}");
        }
        // Paged like any other filter: totalResults counts every match.
        let filter = format!(r#"groups.value eq "{eng}""#);
        let response = app.request(reqwest::Method::GET, "/Users").query(&[("filter", filter.as_str()), ("count", "1")]).send().await.expect("GET");
        let page = expect_status(response, StatusCode::OK).await;
        assert_eq!((page["totalResults"].clone(), page["itemsPerPage"].clone()), (json!(2), json!(1)));
    }
}

on_both_backends! {
    async fn users_are_matched_by_work_and_primary_email_and_by_a_configured_attribute(app) {
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        for body in [
            json!({"userName": "ann", "emails": [{"value": "Ann@Work.example", "type": "work"}, {"value": "ann@home.example", "primary": true}], enterprise: {"employeeNumber": "E-1"}}),
            json!({"userName": "bob", "emails": [{"value": "bob@work.example", "type": "Work", "primary": true}]}),
        ] {
            expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
        }
        for (filter, expected) in [
            (r#"emails[type eq "work"].value eq "ann@work.example""#, vec!["ann"]),
            (r#"emails[type eq "work"].value eq "ann@home.example""#, vec![]),
            (r#"emails[primary eq true].value eq "BOB@work.example""#, vec!["bob"]),
            (r#"emails.value eq "ann@home.example""#, vec!["ann"]),
            (r#"emails[type eq "work"].value ne "bob@work.example""#, vec!["ann"]),
        ] {
            assert_eq!(found(&app, "/Users", filter, &[]).await, set(&expected), "{filter}");
        }

        // An operator's own matching attribute: indexed at start, maintained by every write.
        let registry = scimitar::scim::schema::Registry::load().expect("schemas");
        let number = format!("{enterprise}:employeeNumber");
        let wanted = std::collections::BTreeMap::from([("default".to_string(), vec![number.clone()])]);
        scimitar::scim::match_sync::sync(&app.store, &registry, &wanted).expect("sync");
        assert_eq!(found(&app, "/Users", &format!(r#"{number} eq "e-1""#), &[]).await, set(&["ann"]));
        let carl = json!({"userName": "carl", enterprise: {"employeeNumber": "E-2"}});
        expect_status(app.post("/Users", &carl).await, StatusCode::CREATED).await;
        assert_eq!(found(&app, "/Users", &format!(r#"{number} eq "E-2""#), &[]).await, set(&["carl"]));
        assert_eq!(found(&app, "/Users", &format!(r#"{number} ne "E-2""#), &[]).await, set(&["ann", "bob"]));
        // Unconfigured again: the same filter is answered from the search documents.
        scimitar::scim::match_sync::sync(&app.store, &registry, &Default::default()).expect("sync");
        assert_eq!(found(&app, "/Users", &format!(r#"{number} eq "E-2""#), &[]).await, set(&["carl"]));
        let bad = std::collections::BTreeMap::from([("default".to_string(), vec!["active".to_string()])]);
        assert!(scimitar::scim::match_sync::sync(&app.store, &registry, &bad).is_err());
    }

    async fn an_update_replaces_the_matched_values_it_changes_and_keeps_those_it_does_not(app) {
        let ann = json!({"userName": "ann", "emails": [{"value": "ann@work.example", "type": "work"}]});
        let id = id_of(&expect_status(app.post("/Users", &ann).await, StatusCode::CREATED).await);
        let by = |email: &str| format!(r#"emails[type eq "work"].value eq "{email}""#);
        // A deactivation leaves the e-mails as they were: still found by them.
        let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{"op": "replace", "path": "active", "value": false}]});
        expect_status(app.patch(&format!("/Users/{id}"), &off).await, StatusCode::OK).await;
        assert_eq!(found(&app, "/Users", &by("ann@work.example"), &[]).await, set(&["ann"]));
        // A new address replaces the old one in the index.
        let moved = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": "replace", "path": "emails", "value": [{"value": "ann@new.example", "type": "work"}]}]});
        expect_status(app.patch(&format!("/Users/{id}"), &moved).await, StatusCode::OK).await;
        assert_eq!(found(&app, "/Users", &by("ann@work.example"), &[]).await, set(&[]));
        assert_eq!(found(&app, "/Users", &by("ann@new.example"), &[]).await, set(&["ann"]));
    }
}

/// The e-mail values the migration fills in for users that existed before it.
fn migration_backfill(backend: scimitar::store::Backend) -> &'static str {
    let text = match backend {
        scimitar::store::Backend::Sqlite => {
            include_str!("../../migrations/sqlite/2026-11-29-080000_match_values/up.sql")
        }
        scimitar::store::Backend::Postgres => {
            include_str!("../../migrations/postgres/2026-11-29-080000_match_values/up.sql")
        }
    };
    let rest = text
        .split("-- The e-mail values of existing users")
        .nth(1)
        .unwrap_or_default();
    rest.split_once('\n')
        .map_or("", |(_, statements)| statements)
}

on_both_backends! {
    async fn the_migration_indexes_the_emails_of_existing_users_as_writes_do(app) {
        use diesel::connection::SimpleConnection;
        for body in [
            json!({"userName": "ann", "emails": [{"value": "Ann@Work.example", "type": "Work"}, {"value": "a@home.example", "primary": true}]}),
            json!({"userName": "bob", "emails": [{"value": "bob@x.example"}]}),
            json!({"userName": "cyd"}),
        ] {
            expect_status(app.post("/Users", &body).await, StatusCode::CREATED).await;
        }
        let rows = |store: &scimitar::store::Store| -> Vec<(String, String, String)> {
            use diesel::prelude::*;
            use scimitar::store::schema::match_values::dsl as v;
            store.read(|conn| v::match_values.order((v::attribute, v::value)).select((v::attribute, v::value, v::user_id)).load(&mut **conn).map_err(scimitar::store::StoreError::from)).expect("rows")
        };
        let written = rows(&app.store);
        assert_eq!(written.len(), 5, "{written:?}");
        let backfill = migration_backfill(app.store.backend());
        app.store.write(|conn| conn.batch_execute(&format!("DELETE FROM match_values; {backfill}")).map_err(scimitar::store::StoreError::from)).expect("backfill");
        assert_eq!(rows(&app.store), written);
    }
}

/// The ids and `totalResults` of a page of `/Users` with this filter and these parameters.
async fn users_page(
    app: &TestApp,
    filter: &str,
    params: &[(&str, &str)],
) -> (i64, Vec<String>, Option<String>) {
    let mut query = vec![("filter", filter)];
    query.extend_from_slice(params);
    let response = app
        .request(reqwest::Method::GET, "/Users")
        .query(&query)
        .send()
        .await
        .expect("GET");
    let page = expect_status(response, StatusCode::OK).await;
    let ids = page["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    (
        page["totalResults"].as_i64().unwrap_or(-1),
        ids,
        page["nextCursor"].as_str().map(String::from),
    )
}

/// Every member of a group, walked by offset pages of two and by cursor pages of two: both
/// walks must give each member once, in id order, and agree with `totalResults`.
async fn walk_members(app: &TestApp, group: &str) -> Vec<String> {
    let filter = format!(r#"groups.value eq "{group}""#);
    let (total, _, _) = users_page(app, &filter, &[("count", "0")]).await;
    let mut by_offset = Vec::new();
    let mut start = 1;
    loop {
        let index = start.to_string();
        let (page_total, ids, _) = users_page(
            app,
            &filter,
            &[("count", "2"), ("startIndex", index.as_str())],
        )
        .await;
        assert_eq!(page_total, total, "every page counts the same total");
        if ids.is_empty() {
            break;
        }
        start += ids.len();
        by_offset.extend(ids);
        assert!(start < 100, "the walk ends");
    }
    let mut by_cursor = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, ids, next) =
            users_page(app, &filter, &[("count", "2"), ("cursor", cursor.as_str())]).await;
        by_cursor.extend(ids);
        match next {
            Some(next) => cursor = next,
            None => break,
        }
        assert!(by_cursor.len() < 100, "the walk ends");
    }
    let mut sorted = by_offset.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        by_offset, sorted,
        "offset pages are in id order, each member once"
    );
    assert_eq!(by_cursor, by_offset, "cursor pages walk the same members");
    assert_eq!(
        total,
        by_offset.len() as i64,
        "totalResults counts exactly the members"
    );
    // The general path (a filter that is more than one group's members) agrees.
    let general = format!(r#"groups.value eq "{group}" or userName eq "no-such-user""#);
    let (general_total, _, _) = users_page(app, &general, &[("count", "0")]).await;
    assert_eq!(
        general_total, total,
        "the kept count equals the counted members"
    );
    by_offset
}

on_both_backends! {
    async fn a_groups_users_are_counted_and_paged_exactly_through_every_membership_change(app) {
        let mut users = Vec::new();
        for name in ["u1", "u2", "u3", "u4", "u5", "u6", "u7"] {
            users.push(crate::helpers::id_of(&app.create_user(name).await));
        }
        let ids = |picked: &[usize]| -> Vec<String> {
            let mut ids: Vec<String> = picked.iter().map(|i| users[*i].clone()).collect();
            ids.sort();
            ids
        };
        let members: Vec<&str> = users[..5].iter().map(String::as_str).collect();
        let group = crate::helpers::id_of(&app.create_group("Everyone", &members).await);
        app.create_group("Other", &[users[0].as_str()]).await;
        assert_eq!(walk_members(&app, &group).await, ids(&[0, 1, 2, 3, 4]));

        // A member added twice counts once; removing a non-member removes nothing.
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": users[5]}, {"value": users[0]}]},
            {"op": "remove", "path": format!(r#"members[value eq "{}"]"#, users[1])},
            {"op": "remove", "path": format!(r#"members[value eq "{}"]"#, users[6])},
        ]});
        let response = app.patch(&format!("/Groups/{group}"), &patch).await;
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(walk_members(&app, &group).await, ids(&[0, 2, 3, 4, 5]));

        // A PUT replaces the whole list.
        let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone",
            "members": [{"value": users[0]}, {"value": users[2]}, {"value": users[6]}]});
        expect_status(app.put(&format!("/Groups/{group}"), &put).await, StatusCode::OK).await;
        assert_eq!(walk_members(&app, &group).await, ids(&[0, 2, 6]));

        // A user deleted leaves every group through the foreign key's cascade.
        let deleted = app.delete(&format!("/Users/{}", users[2])).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(walk_members(&app, &group).await, ids(&[0, 6]));

        // Another tenant's credential sees no users of this tenant's group.
        let other_token = app.token_for_new_tenant("acme");
        let filter = format!(r#"groups.value eq "{group}""#);
        let response = app.request_as(&other_token, reqwest::Method::GET, "/Users").query(&[("filter", filter.as_str())]).send().await.expect("GET");
        let page = expect_status(response, StatusCode::OK).await;
        assert_eq!((page["totalResults"].clone(), page["Resources"].as_array().map_or(0, Vec::len)), (json!(0), 0));

        // A group that does not exist, or no longer does, has no users.
        let (total, found, _) = users_page(&app, r#"groups.value eq "no-such-group""#, &[]).await;
        assert_eq!((total, found.len()), (0, 0));
        let gone = app.delete(&format!("/Groups/{group}")).await;
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        let (total, found, _) = users_page(&app, &format!(r#"groups.value eq "{group}""#), &[]).await;
        assert_eq!((total, found.len()), (0, 0));
    }
}
