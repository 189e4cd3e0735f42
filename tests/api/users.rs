use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_scim_error, expect_status, id_of};
use crate::on_both_backends;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

on_both_backends! {
    async fn creating_a_user_answers_201_with_location_etag_and_complete_meta(app) {
        let response = app.post("/Users", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        })).await;
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(String::from);
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(String::from);
        let user = expect_status(response, StatusCode::CREATED).await;
        let id = id_of(&user);
        assert_eq!(location.as_deref(), user["meta"]["location"].as_str());
        assert_eq!(location, Some(format!("{}/Users/{id}", app.base)));
        assert_eq!(etag.as_deref(), user["meta"]["version"].as_str());
        assert_eq!(content_type.as_deref(), Some("application/scim+json"));
        assert_eq!(user["meta"]["resourceType"], "User");
        assert!(user["meta"]["created"].is_string() && user["meta"]["lastModified"].is_string());
        assert_eq!(user["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
        assert_eq!(user["name"]["familyName"], "Liddell");
        assert!(user.get("active").is_none(), "`active` has no default: it stays absent when not sent");
    }

    async fn a_created_user_reads_back_the_same_by_id(app) {
        let created = app.create_user("bob").await;
        let read = expect_status(app.get(&format!("/Users/{}", id_of(&created))).await, StatusCode::OK).await;
        assert_eq!(read, created);
    }

    async fn user_names_are_unique_per_tenant_whatever_their_case(app) {
        app.create_user("Carol@Example.com").await;
        for duplicate in ["Carol@Example.com", "carol@example.com", "CAROL@EXAMPLE.COM"] {
            let response = app.post("/Users", &json!({"userName": duplicate})).await;
            expect_scim_error(response, StatusCode::CONFLICT, Some("uniqueness")).await;
        }
    }

    async fn case_variants_of_non_ascii_user_names_collide_too(app) {
        for (first, variant) in [("émile", "ÉMILE"), ("σοφία", "ΣΟΦΊΑ"), ("İnci", "i̇nci"), ("alice", "ＡＬＩＣＥ")] {
            app.create_user(first).await;
            let response = app.post("/Users", &json!({"userName": variant})).await;
            expect_scim_error(response, StatusCode::CONFLICT, Some("uniqueness")).await;
        }
    }

    async fn the_case_of_a_user_name_is_preserved(app) {
        let user = app.create_user("Dave.Smith@Example.com").await;
        assert_eq!(user["userName"], "Dave.Smith@Example.com");
    }

    async fn concurrent_creates_of_one_user_name_give_one_201_and_only_409s(app) {
        let attempts = (0..8).map(|i| {
            let app = &app;
            async move { app.post("/Users", &json!({"userName": if i % 2 == 0 { "race" } else { "RACE" }})).await.status() }
        });
        let statuses = futures_util::future::join_all(attempts).await;
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    }

    async fn replacing_a_user_changes_its_attributes_version_and_last_modified(app) {
        let created = app.create_user("erin").await;
        let path = format!("/Users/{}", id_of(&created));
        app.clock.advance(chrono::Duration::seconds(5));
        let response = app.put(&path, &json!({"userName": "erin", "displayName": "Erin", "title": "Engineer"})).await;
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(String::from);
        let replaced = expect_status(response, StatusCode::OK).await;
        assert_eq!(replaced["displayName"], "Erin");
        assert_eq!(replaced["title"], "Engineer");
        assert_ne!(replaced["meta"]["version"], created["meta"]["version"]);
        assert_eq!(etag.as_deref(), replaced["meta"]["version"].as_str());
        assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
        assert_ne!(replaced["meta"]["lastModified"], created["meta"]["lastModified"]);
        assert_eq!(expect_status(app.get(&path).await, StatusCode::OK).await, replaced);
    }

    async fn every_write_gives_a_new_etag(app) {
        let created = app.create_user("frank").await;
        let path = format!("/Users/{}", id_of(&created));
        let mut seen = vec![created["meta"]["version"].clone()];
        for i in 0..10 {
            let replaced = expect_status(app.put(&path, &json!({"userName": "frank", "title": format!("t{}", i % 2)})).await, StatusCode::OK).await;
            assert!(!seen.contains(&replaced["meta"]["version"]), "version repeated: {seen:?}");
            seen.push(replaced["meta"]["version"].clone());
        }
    }

    async fn replacing_drops_attributes_that_the_new_representation_omits(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "gina", "title": "Boss", "nickName": "G"})).await, StatusCode::CREATED).await;
        let replaced = expect_status(app.put(&format!("/Users/{}", id_of(&created)), &json!({"userName": "gina"})).await, StatusCode::OK).await;
        assert!(replaced.get("title").is_none() && replaced.get("nickName").is_none(), "{replaced}");
    }

    async fn replacing_with_a_user_name_taken_by_another_user_is_a_conflict(app) {
        app.create_user("hank").await;
        let other = app.create_user("ida").await;
        let response = app.put(&format!("/Users/{}", id_of(&other)), &json!({"userName": "HANK"})).await;
        expect_scim_error(response, StatusCode::CONFLICT, Some("uniqueness")).await;
    }

    async fn a_user_may_change_the_case_of_its_own_user_name(app) {
        let user = app.create_user("jack").await;
        let replaced = expect_status(app.put(&format!("/Users/{}", id_of(&user)), &json!({"userName": "Jack"})).await, StatusCode::OK).await;
        assert_eq!(replaced["userName"], "Jack");
    }

    async fn deleting_a_user_answers_204_and_then_404(app) {
        let user = app.create_user("kate").await;
        let path = format!("/Users/{}", id_of(&user));
        let response = app.delete(&path).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap_or_default().is_empty());
        expect_scim_error(app.get(&path).await, StatusCode::NOT_FOUND, None).await;
        expect_scim_error(app.delete(&path).await, StatusCode::NOT_FOUND, None).await;
        app.create_user("kate").await;
    }

    async fn unknown_ids_get_404_on_every_method(app) {
        let path = "/Users/00000000-0000-0000-0000-000000000000";
        expect_scim_error(app.get(path).await, StatusCode::NOT_FOUND, None).await;
        expect_scim_error(app.put(path, &json!({"userName": "x"})).await, StatusCode::NOT_FOUND, None).await;
        expect_scim_error(app.delete(path).await, StatusCode::NOT_FOUND, None).await;
    }

    async fn passwords_are_accepted_and_never_returned_or_stored(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "leo", "password": "Tr0ub4dor&3"})).await, StatusCode::CREATED).await;
        assert!(created.get("password").is_none());
        let read = app.get(&format!("/Users/{}", id_of(&created))).await.text().await.unwrap_or_default();
        assert!(!read.contains("Tr0ub4dor"));
        let stored = app.store.read(|conn| scimitar::store::users::get(conn, &tenant_of(&app), &id_of(&created)));
        let stored = stored.ok().flatten().map(|row| row.attributes).unwrap_or_default();
        assert!(!stored.contains("Tr0ub4dor") && !stored.contains("password"), "{stored}");
    }

    async fn external_id_and_enterprise_attributes_round_trip(app) {
        let created = expect_status(app.post("/Users", &json!({
            "userName": "mia", "externalId": "00u1abcd",
            ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}},
        })).await, StatusCode::CREATED).await;
        assert_eq!(created["externalId"], "00u1abcd");
        assert_eq!(created["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]));
        assert_eq!(created[ENTERPRISE]["department"], "Tour Operations");
        assert_eq!(created[ENTERPRISE]["manager"]["value"], "26118915-6090-4610-87e4-49d8ca9f808d");
    }

    async fn entra_booleans_sent_as_strings_are_stored_as_booleans(app) {
        let created = expect_status(app.post("/Users", &json!({"userName": "ned", "active": "False"})).await, StatusCode::CREATED).await;
        assert_eq!(created["active"], json!(false));
    }

    async fn a_deactivated_user_is_still_returned_by_get_and_list(app) {
        let user = app.create_user("olga").await;
        let path = format!("/Users/{}", id_of(&user));
        let replaced = expect_status(app.put(&path, &json!({"userName": "olga", "active": false})).await, StatusCode::OK).await;
        assert_eq!(replaced["active"], json!(false));
        assert_eq!(expect_status(app.get(&path).await, StatusCode::OK).await["active"], json!(false));
        let list = expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(1));
        assert_eq!(list["Resources"][0]["active"], json!(false));
    }

    async fn read_only_attributes_sent_by_the_client_are_ignored(app) {
        let created = expect_status(app.post("/Users", &json!({
            "userName": "pia", "id": "client-chosen", "groups": [{"value": "g"}],
            "meta": {"created": "2000-01-01T00:00:00Z", "version": "W/\"99\""},
        })).await, StatusCode::CREATED).await;
        assert_ne!(created["id"], "client-chosen");
        assert!(created.get("groups").is_none());
        assert_eq!(created["meta"]["version"], "W/\"1\"");
    }

    async fn listing_pages_through_all_users_in_a_stable_order(app) {
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(id_of(&app.create_user(&format!("user{i}")).await));
        }
        let mut seen = Vec::new();
        for start in [1, 4, 7] {
            let page = expect_status(app.get(&format!("/Users?startIndex={start}&count=3")).await, StatusCode::OK).await;
            assert_eq!(page["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
            assert_eq!(page["totalResults"], json!(7));
            assert_eq!(page["startIndex"], json!(start));
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            assert_eq!(page["itemsPerPage"], json!(resources.len()));
            seen.extend(resources.iter().map(id_of));
        }
        assert_eq!(seen, ids, "pages cover every user once, in creation order");
    }

    async fn an_empty_list_is_200_with_zero_results(app) {
        let list = expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(0));
        assert_eq!(list["Resources"], json!([]));
    }

    async fn count_zero_returns_only_the_total(app) {
        app.create_user("quinn").await;
        let list = expect_status(app.get("/Users?count=0").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(1));
        assert_eq!(list["itemsPerPage"], json!(0));
    }
}

fn tenant_of(app: &crate::helpers::TestApp) -> String {
    app.store
        .read(|conn| scimitar::store::tenants::find(conn, "default"))
        .ok()
        .flatten()
        .map(|t| t.id)
        .unwrap_or_default()
}
