//! `GET /openapi.json`: the document of the non-SCIM APIs covers exactly the routes the server
//! registers, links the SCIM discovery endpoints, and the contract check that every other test
//! relies on (`contract`) really checks.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use scimitar::http::observe::Observed;
use serde_json::Value;

use crate::contract::{Contract, document, validator};
use crate::helpers::{Backend, TestApp, expect_status};
use crate::on_both_backends;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (METHOD, path) of every operation in a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    found
}

async fn served_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.root))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    expect_status(response, StatusCode::OK).await
}

#[tokio::test]
async fn every_registered_route_is_documented_and_every_documented_one_is_routed() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let served = served_document(&app).await;
    assert_eq!(&served, document(), "the served document is the built one");
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let registered: BTreeSet<(String, String)> = scimitar::http::api_routes().into_iter().collect();
    let documented = operations(&served);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    // The APIs the document is for, and nothing of the SCIM API.
    for path in [
        "/oauth2/token",
        "/admin/v1/audit/{id}",
        "/events/v1/stream",
        "/ssf/poll/{stream_id}",
        "/health/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            documented.iter().any(|(_, p)| p == path),
            "{path} is documented"
        );
    }
    assert!(!documented.iter().any(|(_, p)| p.starts_with("/scim/")));
}

#[tokio::test]
async fn every_schema_in_the_document_compiles_and_every_operation_has_responses() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: a success"
            );
            for status in ["400", "500", "503"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
        }
    }
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
        .map(|operation| operation["operationId"].as_str().expect("an operationId"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique: {ids:?}");
    for name in doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
    {
        validator(&format!("#/components/schemas/{name}")).expect("the schema compiles");
    }
}

on_both_backends! {
    async fn the_document_links_the_scim_discovery_endpoints_that_describe_the_scim_api(app) {
        let doc = served_document(&app).await;
        assert!(doc["externalDocs"]["url"].as_str().is_some_and(|u| u.contains("rfc7644")));
        for key in ["serviceProviderConfig", "resourceTypes", "schemas"] {
            let path = doc["x-scim-discovery"][key].as_str().expect("a discovery path");
            let response = app
                .client
                .get(format!("{}{path}", app.root))
                .bearer_auth(&app.token)
                .send()
                .await
                .expect("GET");
            expect_status(response, StatusCode::OK).await;
        }
    }

    async fn responses_of_every_api_are_checked_against_the_document(app) {
        let client = app.app_client(true);
        let admin = app.admin_token();
        app.create_user("alice").await;
        let tokens = app.tokens_for(&client, "alice").await;
        let access = tokens["access_token"].as_str().expect("access token");
        app.introspect(&client, access).await;
        let wrong = app.oauth(&client, "token", &[("grant_type", "password")]).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        for path in ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
                     "/.well-known/ssf-configuration", "/health/live", "/health/ready", "/metrics"] {
            let response = app.client.get(format!("{}{path}", app.root)).send().await.expect("GET");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let response = app.admin(&admin, Method::GET, "/audit").send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.admin(&admin, Method::GET, "/audit/nope").send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = app.get_as_app(&client, "/events/v1/revocations").await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.client.put(format!("{}/health/live", app.root)).send().await.expect("PUT");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let checked = app.contract.checked();
        for expected in [
            "POST /oauth2/token 200", "POST /oauth2/introspect 200", "POST /oauth2/token 400",
            "GET /.well-known/jwks.json 200", "GET /metrics 200", "GET /admin/v1/audit 200",
            "GET /admin/v1/audit/{id} 404", "GET /events/v1/revocations 200",
            "PUT /health/live 405",
        ] {
            assert!(checked.iter().any(|c| c == expected), "{expected} was checked: {checked:?}");
        }
        assert!(app.contract.failures().is_empty(), "{:?}", app.contract.failures());
    }
}

#[test]
fn a_response_that_breaks_the_document_is_a_failure() {
    let contract = Contract::default();
    let observe = |method, pattern, status, content_type, body: &'static [u8]| Observed {
        method,
        pattern,
        status,
        content_type: Some(content_type),
        body: Some(body),
    };
    contract.check(&observe(
        "GET",
        "/health/live",
        200,
        "application/json",
        br#"{"status":"ok"}"#,
    ));
    assert!(contract.failures().is_empty(), "{:?}", contract.failures());
    let wrong = [
        // A body of the wrong shape.
        observe(
            "GET",
            "/health/live",
            200,
            "application/json",
            br#"{"status":"fine"}"#,
        ),
        // An undocumented status.
        observe("GET", "/health/live", 418, "application/json", b"{}"),
        // An undocumented path.
        observe("GET", "/health/other", 200, "application/json", b"{}"),
        // The wrong content type.
        observe("GET", "/metrics", 200, "application/json", b"{}"),
        // An OAuth error in place of a SCIM error.
        observe(
            "GET",
            "/admin/v1/audit",
            401,
            "application/scim+json",
            br#"{"error":"invalid_client"}"#,
        ),
        // A body where none is documented.
        observe(
            "DELETE",
            "/admin/v1/role-mappings/{id}",
            204,
            "application/json",
            b"{}",
        ),
    ];
    for (i, observed) in wrong.iter().enumerate() {
        contract.check(observed);
        assert_eq!(
            contract.failures().len(),
            i + 1,
            "{observed:?} is a failure"
        );
    }
}
