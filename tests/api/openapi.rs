//! `GET /openapi.json`: the document of the non-SCIM APIs covers exactly the routes the server
//! registers, links the SCIM discovery endpoints, and the contract check that every other test
//! relies on (`contract`) really checks.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use scimitar::http::observe::Observed;
use serde_json::{Value, json};

use crate::contract::{Contract, document, validator};
use crate::helpers::{Backend, TestApp, expect_status, id_of};
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

    async fn every_documented_operation_is_called_and_its_response_checked(app) {
        let client = app.app_client(true);
        let admin = app.admin_token();
        let alice = id_of(&app.create_user("alice").await);
        app.create_group("eng", &[&alice]).await;
        let tokens = app.tokens_for(&client, &alice).await;
        let access = tokens["access_token"].as_str().expect("access token");
        app.introspect(&client, access).await;
        let wrong = app.oauth(&client, "token", &[("grant_type", "password")]).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        // Forward auth, each method: the token passes, then (revoked below) is refused.
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let url = format!("{}/auth/v1/forward?audience={}", app.root, client.id);
            let response = app.client.request(method.clone(), url).bearer_auth(access).send().await.expect("forward");
            assert_eq!(response.status(), StatusCode::OK, "{method}");
        }
        let revoked = app.oauth(&client, "revoke", &[("token", access)]).await;
        assert_eq!(revoked.status(), StatusCode::OK);
        for path in [
            "/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
            "/.well-known/ssf-configuration", "/health/live", "/health/ready", "/metrics",
            "/openapi.json",
        ] {
            let response = app.client.get(format!("{}{path}", app.root)).send().await.expect("GET");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }

        // The admin API.
        let mapped = app.map_role(&admin, "displayName:eng", &["reader"]).await;
        let mapping = mapped["mappings"][0]["id"].as_str().expect("a mapping id").to_string();
        let mut calls = vec![
            (Method::GET, "/role-mappings".to_string(), StatusCode::OK),
            (Method::GET, format!("/users/{alice}/access"), StatusCode::OK),
            (Method::POST, format!("/users/{alice}/revoke"), StatusCode::OK),
            (Method::GET, "/flags".to_string(), StatusCode::OK),
            (Method::POST, "/flags/nope/acknowledge".to_string(), StatusCode::NOT_FOUND),
            (Method::DELETE, format!("/role-mappings/{mapping}"), StatusCode::NO_CONTENT),
            (Method::GET, "/audit/nope".to_string(), StatusCode::NOT_FOUND),
        ];
        let audit = expect_status(app.admin(&admin, Method::GET, "/audit").send().await.expect("GET"), StatusCode::OK).await;
        let record = audit["records"][0]["id"].as_str().expect("a record").to_string();
        calls.push((Method::GET, format!("/audit/{record}"), StatusCode::OK));
        for (method, path, status) in calls {
            let response = app.admin(&admin, method.clone(), &path).send().await.expect("admin");
            assert_eq!(response.status(), status, "{method} {path}");
        }

        // Signals.
        let response = app.get_as_app(&client, "/events/v1/revocations").await;
        assert_eq!(response.status(), StatusCode::OK);
        let stream = app.get_as_app(&client, "/events/v1/stream").await;
        assert_eq!(stream.status(), StatusCode::OK);
        drop(stream);
        let ssf = |method: Method, path: &str, body: Option<Value>| {
            let mut request = app
                .client
                .request(method, format!("{}{path}", app.root))
                .basic_auth(&client.id, Some(&client.secret));
            if let Some(body) = body {
                request = request.header("content-type", "application/json").body(body.to_string());
            }
            request.send()
        };
        let delivery = json!({"method": "urn:ietf:rfc:8936"});
        let created = ssf(Method::POST, "/ssf/streams", Some(json!({"delivery": delivery}))).await.expect("POST");
        let id = expect_status(created, StatusCode::CREATED).await["stream_id"].as_str().expect("id").to_string();
        let subject = json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.root, "sub": alice}});
        for (method, path, body, status) in [
            (Method::GET, format!("/ssf/streams?stream_id={id}"), None, StatusCode::OK),
            (Method::GET, "/ssf/streams".to_string(), None, StatusCode::OK),
            (Method::PATCH, "/ssf/streams".to_string(), Some(json!({"stream_id": id, "description": "patched"})), StatusCode::OK),
            (Method::PUT, "/ssf/streams".to_string(), Some(json!({"stream_id": id, "delivery": delivery, "description": "put"})), StatusCode::OK),
            (Method::GET, format!("/ssf/status?stream_id={id}"), None, StatusCode::OK),
            (Method::POST, "/ssf/status".to_string(), Some(json!({"stream_id": id, "status": "enabled"})), StatusCode::OK),
            (Method::POST, "/ssf/subjects:add".to_string(), Some(subject.clone()), StatusCode::OK),
            (Method::POST, "/ssf/subjects:remove".to_string(), Some(subject), StatusCode::NO_CONTENT),
            (Method::POST, "/ssf/verify".to_string(), Some(json!({"stream_id": id})), StatusCode::NO_CONTENT),
            (Method::POST, format!("/ssf/poll/{id}"), Some(json!({"returnImmediately": true})), StatusCode::OK),
            (Method::DELETE, format!("/ssf/streams?stream_id={id}"), None, StatusCode::NO_CONTENT),
        ] {
            let response = ssf(method.clone(), &path, body).await.expect("SSF");
            let got = response.status();
            assert_eq!(got, status, "{method} {path}: {}", response.text().await.unwrap_or_default());
        }
        // Global Token Revocation, by the identity provider's credential.
        for (subject, status) in [(alice.to_string(), StatusCode::NO_CONTENT), ("nobody".to_string(), StatusCode::NOT_FOUND)] {
            let body = json!({"sub_id": {"format": "opaque", "id": subject}});
            let response = app.client.post(format!("{}/oauth2/global-token-revocation", app.root))
                .bearer_auth(&app.token).header("content-type", "application/json").body(body.to_string())
                .send().await.expect("GTR");
            assert_eq!(response.status(), status);
        }
        // The Shared Signals receiver: its admin API and the push endpoint.
        let receiver = json!({"issuer": "https://idp.example.test", "audience": "scimitar", "jwks": {"keys": []}});
        let created = app.admin(&admin, Method::POST, "/signal-receivers").header("content-type", "application/json")
            .body(receiver.to_string()).send().await.expect("POST");
        let created = expect_status(created, StatusCode::CREATED).await;
        let id = created["id"].as_str().expect("id").to_string();
        let push = created["delivery"]["authorization_header"].as_str().expect("secret").to_string();
        let pushed = app.client.post(format!("{}/ssf/v1/receive/{id}", app.root)).header("authorization", &push)
            .header("content-type", "application/secevent+jwt").body("not.a.set").send().await.expect("push");
        assert_eq!(pushed.status(), StatusCode::BAD_REQUEST);
        for (method, path, body, status) in [
            (Method::GET, "/signal-receivers".to_string(), None, StatusCode::OK),
            (Method::GET, format!("/signal-receivers/{id}"), None, StatusCode::OK),
            (Method::PUT, format!("/signal-receivers/{id}"), Some(receiver), StatusCode::OK),
            (Method::POST, format!("/signal-receivers/{id}/verify"), None, StatusCode::BAD_REQUEST),
            (Method::GET, "/received-sets".to_string(), None, StatusCode::OK),
            (Method::PUT, "/roles/approver".to_string(), Some(json!({"display_name": "Approver", "assignable": true, "entitlements": ["x.approve"]})), StatusCode::OK),
            (Method::PUT, "/roles/bad%20name".to_string(), Some(json!({})), StatusCode::BAD_REQUEST),
            (Method::GET, "/roles".to_string(), None, StatusCode::OK),
            (Method::GET, "/roles/approver/holders".to_string(), None, StatusCode::OK),
            (Method::DELETE, "/roles/approver".to_string(), None, StatusCode::NO_CONTENT),
            (Method::DELETE, "/roles/approver".to_string(), None, StatusCode::NOT_FOUND),
            (Method::DELETE, format!("/signal-receivers/{id}"), None, StatusCode::NO_CONTENT),
        ] {
            let mut request = app.admin(&admin, method.clone(), &path);
            if let Some(body) = body {
                request = request.header("content-type", "application/json").body(body.to_string());
            }
            assert_eq!(request.send().await.expect("admin").status(), status, "{method} {path}");
        }
        let response = app.client.put(format!("{}/health/live", app.root)).send().await.expect("PUT");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        // Every operation of the document was answered and checked, and none failed.
        let checked = app.contract.checked();
        for (method, path) in operations(document()) {
            let prefix = format!("{method} {path} ");
            assert!(checked.iter().any(|c| c.starts_with(&prefix)), "{method} {path} was checked: {checked:?}");
        }
        assert!(checked.iter().any(|c| c == "PUT /health/live 405"));
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
