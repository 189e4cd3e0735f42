//! Bulk (RFC 7644 §3.7).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, expect_scim_error, expect_status, id_of};
use crate::on_both_backends;

async fn bulk(app: &TestApp, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/Bulk")
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /Bulk")
}

async fn bulk_ok(app: &TestApp, operations: Value, fail_on_errors: Option<u64>) -> Vec<Value> {
    let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
    if let Some(limit) = fail_on_errors {
        body["failOnErrors"] = json!(limit);
    }
    let response = expect_status(bulk(app, body).await, StatusCode::OK).await;
    assert_eq!(
        response["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    response["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

on_both_backends! {
    async fn bulk_ids_link_a_new_group_to_users_created_in_the_same_request(app) {
        // The group comes first and refers to users created after it: forward references resolve.
        let results = bulk_ok(&app, json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Bulk Team", "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk1"}},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "bulk2"}},
        ]), None).await;
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r["status"] == "201"), "{results:?}");
        let group_location = results[0]["location"].as_str().unwrap_or_default().to_string();
        let group = expect_status(app.client.get(&group_location).bearer_auth(&app.token).send().await.expect("GET"), StatusCode::OK).await;
        let mut members: Vec<String> = group["members"].as_array().into_iter().flatten().filter_map(|m| m["value"].as_str().map(String::from)).collect();
        members.sort();
        let mut users: Vec<String> = results[1..].iter().filter_map(|r| r["location"].as_str()).map(|l| l.rsplit('/').next().unwrap_or_default().to_string()).collect();
        users.sort();
        assert_eq!(members, users);
    }

    async fn every_method_works_and_each_result_carries_its_status(app) {
        let user = id_of(&app.create_user("existing").await);
        let results = bulk_ok(&app, json!([
            {"method": "PUT", "path": format!("/Users/{user}"), "data": {"userName": "existing", "title": "Put"}},
            {"method": "PATCH", "path": format!("/Users/{user}"), "data": {"Operations": [{"op": "replace", "path": "active", "value": false}]}},
            {"method": "POST", "path": "/Users", "bulkId": "n", "data": {"userName": "new"}},
            {"method": "DELETE", "path": "/Users/bulkId:n"},
        ]), None).await;
        let statuses: Vec<&str> = results.iter().filter_map(|r| r["status"].as_str()).collect();
        assert_eq!(statuses, vec!["200", "200", "201", "204"]);
        assert!(results[0]["version"].is_string() && results[0]["location"].is_string());
        let read = expect_status(app.get(&format!("/Users/{user}")).await, StatusCode::OK).await;
        assert_eq!((read["title"].clone(), read["active"].clone()), (json!("Put"), json!(false)));
    }

    async fn a_failed_operation_reports_a_scim_error_and_the_others_still_run(app) {
        app.create_user("taken").await;
        let results = bulk_ok(&app, json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "TAKEN"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "fresh"}},
            {"method": "DELETE", "path": "/Users/no-such-id"},
        ]), None).await;
        assert_eq!(results[0]["status"], "409");
        assert_eq!(results[0]["response"]["scimType"], "uniqueness");
        assert_eq!(results[1]["status"], "201");
        assert_eq!(results[2]["status"], "404");
    }

    async fn fail_on_errors_stops_after_that_many_errors(app) {
        let results = bulk_ok(&app, json!([
            {"method": "DELETE", "path": "/Users/x1"},
            {"method": "DELETE", "path": "/Users/x2"},
            {"method": "POST", "path": "/Users", "bulkId": "late", "data": {"userName": "never"}},
        ]), Some(2)).await;
        assert_eq!(results.len(), 2, "{results:?}");
        let list = expect_status(app.get("/Users").await, StatusCode::OK).await;
        assert_eq!(list["totalResults"], json!(0));
    }

    async fn circular_and_missing_bulk_ids_fail_without_writing(app) {
        let results = bulk_ok(&app, json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "A", "members": [{"value": "bulkId:g2"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "g2", "data": {"displayName": "B", "members": [{"value": "bulkId:g1"}]}},
            {"method": "DELETE", "path": "/Users/bulkId:nowhere"},
        ]), None).await;
        assert!(results.iter().all(|r| r["status"] == "400"), "{results:?}");
        let groups = expect_status(app.get("/Groups").await, StatusCode::OK).await;
        assert_eq!(groups["totalResults"], json!(0));
    }

    async fn malformed_bulk_requests_are_refused(app) {
        for body in [
            json!({"Operations": [{"method": "GET", "path": "/Users"}]}),
            json!({"Operations": [{"method": "POST", "path": "/Users", "data": {"userName": "no-bulk-id"}}]}),
            json!({"failOnErrors": -1, "Operations": []}),
            json!([]),
        ] {
            let response = bulk(&app, body.clone()).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        }
    }

    async fn each_bulk_operation_is_audited_like_a_single_request(app) {
        bulk_ok(&app, json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "b"}},
        ]), None).await;
        let tenant = app.store.read(|conn| scimitar::store::tenants::find(conn, "default")).ok().flatten().map(|t| t.id).unwrap_or_default();
        let rows = app.store.read(|conn| scimitar::store::audit::chain(conn, &tenant, 0, 100)).unwrap_or_default();
        let creates: Vec<_> = rows.iter().filter(|r| r.action == "user.create").collect();
        assert_eq!(creates.len(), 2);
        assert!(creates.iter().all(|r| r.path.as_deref() == Some("/scim/v2/Bulk")));
    }
}

/// Limits are enforced before any storage is touched, so one backend is enough here.
mod limits {
    use super::*;
    use crate::helpers::Backend;

    #[tokio::test]
    async fn more_operations_than_advertised_get_413() {
        let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
            return;
        };
        let operations: Vec<Value> = (0..1001)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
            .collect();
        let response = bulk(&app, json!({"Operations": operations})).await;
        expect_scim_error(response, StatusCode::PAYLOAD_TOO_LARGE, None).await;
    }

    #[tokio::test]
    async fn a_payload_over_the_advertised_size_gets_413() {
        let options = Options {
            max_body_bytes: 4096,
            ..Options::default()
        };
        let Some(app) = TestApp::spawn_with(Backend::Sqlite, options).await else {
            return;
        };
        let big = json!({"Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "x".repeat(5000)}}]});
        expect_scim_error(bulk(&app, big).await, StatusCode::PAYLOAD_TOO_LARGE, None).await;
    }
}
