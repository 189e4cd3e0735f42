//! RFC 9967 provisioning events on Shared Signals streams: each SCIM write to a user or a
//! group becomes the event a stream asked for (create, patch, put in their full or notice
//! form, delete, activate, deactivate), with the `scim` subject and the write's audit record
//! as `txn`, published by the write's own transaction and filtered by the stream's subjects.
//! The revocation feed does not carry them; asynchronous requests are declared unsupported.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppClient, TestApp, expect_status, id_of, jwt_claims};
use crate::on_both_backends;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const PROV: &str = "urn:ietf:params:scim:event:prov:";

fn uri(event: &str) -> String {
    format!("{PROV}{event}")
}

/// Who owns a stream: an app client, or an admin credential (its bearer token).
pub enum Who<'a> {
    App(&'a AppClient),
    Admin(&'a str),
}

fn as_who(request: reqwest::RequestBuilder, who: &Who) -> reqwest::RequestBuilder {
    match who {
        Who::App(client) => request.basic_auth(&client.id, Some(&client.secret)),
        Who::Admin(token) => request.bearer_auth(token),
    }
}

async fn stream(app: &TestApp, who: &Who<'_>, requested: &[&str]) -> String {
    let requested: Vec<String> = requested.iter().map(|e| uri(e)).collect();
    let body = json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": requested});
    let response = as_who(app.client.post(format!("{}/ssf/streams", app.root)), who)
        .json(&body)
        .send()
        .await
        .expect("stream");
    expect_status(response, StatusCode::CREATED).await["stream_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The claims of every SET the stream holds, acknowledging as it goes, in order.
async fn sets(app: &TestApp, who: &Who<'_>, stream: &str) -> Vec<Value> {
    let mut all: BTreeMap<String, Value> = BTreeMap::new();
    let mut ack: Vec<String> = Vec::new();
    let mut quiet = 0;
    while quiet < 3 {
        let body = json!({"returnImmediately": true, "maxEvents": 100, "ack": ack});
        let response = as_who(
            app.client.post(format!("{}/ssf/poll/{stream}", app.root)),
            who,
        )
        .json(&body)
        .send()
        .await
        .expect("poll");
        let answer = expect_status(response, StatusCode::OK).await;
        let got = answer["sets"].as_object().cloned().unwrap_or_default();
        ack = got.keys().cloned().collect();
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        for (jti, token) in got {
            all.insert(jti, jwt_claims(token.as_str().unwrap_or_default()));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // jti is a UUIDv7: its order is the order of issue.
    all.into_values().collect()
}

fn event_of(set: &Value) -> (String, Value) {
    let events = set["events"].as_object().cloned().unwrap_or_default();
    events
        .into_iter()
        .next()
        .unwrap_or((String::new(), Value::Null))
}

on_both_backends! {
    async fn each_scim_write_becomes_the_provisioning_event_a_stream_asked_for(app) {
        let client = app.app_client(false);
        let admin = app.admin_token();
        let (operator, app_client) = (Who::Admin(&admin), Who::App(&client));
        let full = stream(&app, &operator, &["create:full", "patch:full", "put:full", "delete", "activate", "deactivate"]).await;
        let notice = stream(&app, &app_client, &["create:notice", "patch:notice", "put:notice"]).await;
        let unrelated_body = json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]});
        let unrelated = expect_status(app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret))
            .json(&unrelated_body).send().await.expect("stream"), StatusCode::CREATED).await["stream_id"].as_str().unwrap_or_default().to_string();

        let created = expect_status(app.post("/Users", &json!({"userName": "ada", "externalId": "00u-ada"})).await, StatusCode::CREATED).await;
        let ada = id_of(&created);
        let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]});
        expect_status(app.patch(&format!("/Users/{ada}"), &patch).await, StatusCode::OK).await;
        let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada", "externalId": "00u-ada", "title": "Countess"});
        expect_status(app.put(&format!("/Users/{ada}"), &put).await, StatusCode::OK).await;
        let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        expect_status(app.patch(&format!("/Users/{ada}"), &off).await, StatusCode::OK).await;
        let on = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]});
        expect_status(app.patch(&format!("/Users/{ada}"), &on).await, StatusCode::OK).await;
        let group = id_of(&app.create_group("Eng", &[&ada]).await);
        assert_eq!(app.delete(&format!("/Groups/{group}")).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/Users/{ada}")).await.status(), StatusCode::NO_CONTENT);

        let got = sets(&app, &operator, &full).await;
        let names: Vec<String> = got.iter().map(|s| event_of(s).0.trim_start_matches(PROV).to_string()).collect();
        assert_eq!(names, vec!["create:full", "patch:full", "put:full", "patch:full", "deactivate", "patch:full", "activate", "create:full", "delete", "delete"], "{got:#?}");
        // create:full: the resource as created; the scim subject; txn = the audit record.
        let (_, create) = event_of(&got[0]);
        assert_eq!(create["data"]["userName"], "ada");
        assert_eq!(create["data"]["id"], json!(ada));
        assert_eq!(create["version"], "W/\"1\"");
        assert_eq!(got[0]["sub_id"], json!({"format": "scim", "uri": format!("/Users/{ada}"), "id": ada, "externalId": "00u-ada"}));
        let txn = got[0]["txn"].as_str().unwrap_or_default();
        let record = expect_status(app.admin(&admin, Method::GET, &format!("/audit/{txn}")).send().await.expect("audit"), StatusCode::OK).await;
        assert_eq!(record["action"], "user.create");
        assert!(got[0].get("sub").is_none() && got[0].get("exp").is_none(), "no sub, no exp (RFC 9967 §2.1, SSF)");
        // patch:full carries the PatchOp, put:full the PUT body.
        assert_eq!(event_of(&got[1]).1["data"], patch);
        assert_eq!(event_of(&got[2]).1["data"], put);
        // The group: its subject names /Groups.
        assert_eq!(got[7]["sub_id"]["uri"], json!(format!("/Groups/{group}")));
        assert_eq!(event_of(&got[7]).1["data"]["members"][0]["value"], json!(ada));

        // The notice stream: the attributes each write set, and no data.
        let got = sets(&app, &app_client, &notice).await;
        let names: Vec<String> = got.iter().map(|s| event_of(s).0.trim_start_matches(PROV).to_string()).collect();
        assert_eq!(names, vec!["create:notice", "patch:notice", "put:notice", "patch:notice", "patch:notice", "create:notice"]);
        let (_, create) = event_of(&got[0]);
        assert!(create.get("data").is_none());
        assert!(create["attributes"].as_array().is_some_and(|a| a.contains(&json!("userName")) && a.contains(&json!("id"))), "{create}");
        assert_eq!(event_of(&got[1]).1["attributes"], json!(["displayName"]));

        // A stream that asked for none of them gets none; the revocation feed carries none.
        let got = sets(&app, &app_client, &unrelated).await;
        assert!(got.iter().all(|s| !event_of(s).0.starts_with(PROV)), "{got:?}");
        let feed = expect_status(app.get_as_app(&client, "/events/v1/revocations").await, StatusCode::OK).await;
        assert!(feed["events"].as_array().into_iter().flatten().all(|e| !e["type"].as_str().unwrap_or_default().starts_with("scim.")), "{feed}");
    }

    async fn a_password_never_leaves_in_a_full_event_whatever_path_it_came_by(app) {
        let admin = app.admin_token();
        let operator = Who::Admin(&admin);
        let full = stream(&app, &operator, &["create:full", "patch:full", "put:full"]).await;
        let created = expect_status(app.post("/Users", &json!({"userName": "ada", "password": "Secret-create-1"})).await, StatusCode::CREATED).await;
        let ada = id_of(&created);
        let patch = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Ada"},
            {"op": "replace", "path": "password", "value": "Secret-patch-2"},
            {"op": "replace", "value": {"Password": "Secret-patch-3", "title": "Countess"}},
            {"op": "replace", "path": " ", "value": {"password": "Secret-patch-blank", "nickName": "Ada"}},
        ]});
        expect_status(app.patch(&format!("/Users/{ada}"), &patch).await, StatusCode::OK).await;
        let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada", "password": "Secret-put-4"});
        expect_status(app.put(&format!("/Users/{ada}"), &put).await, StatusCode::OK).await;
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "PATCH", "path": format!("/Users/{ada}"), "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": "Secret-bulk-5"},
                {"op": "replace", "path": "", "value": {"urn:ietf:params:scim:schemas:core:2.0:User": {"password": "Secret-bulk-6"}}}]}},
        ]});
        let answered = app.request(Method::POST, "/Bulk").header("content-type", "application/scim+json").body(bulk.to_string()).send().await.expect("Bulk");
        assert_eq!(answered.status(), StatusCode::OK);
        let got = sets(&app, &operator, &full).await;
        let names: Vec<String> = got.iter().map(|s| event_of(s).0.trim_start_matches(PROV).to_string()).collect();
        assert_eq!(names, vec!["create:full", "patch:full", "put:full", "patch:full"], "{got:#?}");
        let text = serde_json::to_string(&got).unwrap_or_default();
        assert!(!text.contains("Secret-"), "{text}");
        // What was set is still said, not to what.
        let patched = &event_of(&got[1]).1["data"];
        assert_eq!(patched["Operations"][1], json!({"op": "replace", "path": "password"}));
        assert_eq!(patched["Operations"][2]["value"], json!({"title": "Countess"}));
        assert_eq!(patched["Operations"][3], json!({"op": "replace", "value": {"nickName": "Ada"}}), "a blank path is no path");
        assert_eq!(event_of(&got[3]).1["data"]["Operations"][0]["path"], "urn:ietf:params:scim:schemas:core:2.0:User:password");
    }

    async fn a_stream_that_lists_its_subjects_hears_only_about_them(app) {
        let client = app.app_client(false);
        let body = json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": [uri("patch:notice")]});
        let id = expect_status(app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret))
            .json(&body).send().await.expect("stream"), StatusCode::CREATED).await["stream_id"].as_str().unwrap_or_default().to_string();
        let a = id_of(&app.create_user("a").await);
        let b = id_of(&app.create_user("b").await);
        // Only `a`: a stream that lists a subject hears about its subjects alone.
        let subject = json!({"stream_id": id, "subject": {"format": "opaque", "id": a}});
        let added = app.client.post(format!("{}/ssf/subjects:add", app.root)).basic_auth(&client.id, Some(&client.secret)).json(&subject).send().await.expect("add");
        assert_eq!(added.status(), StatusCode::OK);
        let change = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
        for user in [&a, &b] {
            expect_status(app.patch(&format!("/Users/{user}"), &change).await, StatusCode::OK).await;
        }
        let got = sets(&app, &Who::App(&client), &id).await;
        let subjects: Vec<Value> = got.iter().map(|s| s["sub_id"]["id"].clone()).collect();
        assert_eq!(subjects, vec![json!(a)], "only the listed subject");
    }

    async fn asynchronous_requests_are_declared_unsupported_and_answered_at_once(app) {
        let config = expect_status(app.get("/ServiceProviderConfig").await, StatusCode::OK).await;
        assert!(config.get("securityEvents").is_none(), "a tenant without a stream is not configured for events: {config}");
        let client = app.app_client(false);
        stream(&app, &Who::App(&client), &["create:notice"]).await;
        let config = expect_status(app.get("/ServiceProviderConfig").await, StatusCode::OK).await;
        assert_eq!(config["securityEvents"]["asyncRequest"], "none");
        let uris = config["securityEvents"]["eventUris"].as_array().cloned().unwrap_or_default();
        for event in ["create:full", "create:notice", "patch:full", "patch:notice", "put:full", "put:notice", "delete", "activate", "deactivate"] {
            assert!(uris.contains(&json!(uri(event))), "{event}");
        }
        let response = app.request(Method::POST, "/Users").header("content-type", "application/scim+json")
            .header("prefer", "respond-async").body(json!({"userName": "sync"}).to_string()).send().await.expect("POST");
        assert_eq!(response.status(), StatusCode::CREATED, "a normal answer (RFC 9967 §2.5.1.1)");
        assert!(response.headers().get("preference-applied").is_none());
        assert!(response.headers().get("set-txn").is_none());
    }

    async fn an_erasure_reaches_the_resource_a_full_event_carries(app) {
        let admin = app.admin_token();
        let full = stream(&app, &Who::Admin(&admin), &["create:full"]).await;
        let eve = id_of(&expect_status(app.post("/Users", &json!({"userName": "eve@example.com"})).await, StatusCode::CREATED).await);
        scimitar::audit::erase(&app.store, "default", &eve, None, chrono::Utc::now()).expect("erase");
        let stored = crate::group_commit::texts(&app.store, "SELECT details AS text FROM outbox");
        assert!(!stored.iter().any(|d| d.contains("eve@example.com")), "{stored:?}");
        let got = sets(&app, &Who::Admin(&admin), &full).await;
        assert!(!got.iter().any(|s| s.to_string().contains("eve@example.com")), "{got:?}");
    }

    async fn a_tenant_without_a_provisioning_stream_stores_no_provisioning_events(app) {
        let kinds = || crate::group_commit::texts(&app.store, "SELECT kind AS text FROM outbox");
        let client = app.app_client(false);
        // A stream for session events only: provisioning events are still not wanted.
        let caep = json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]});
        expect_status(app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret))
            .json(&caep).send().await.expect("stream"), StatusCode::CREATED).await;
        let before = id_of(&app.create_user("before").await);
        let change = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
        expect_status(app.patch(&format!("/Users/{before}"), &change).await, StatusCode::OK).await;
        assert!(!kinds().iter().any(|k| k.starts_with("scim.")), "{:?}", kinds());
        stream(&app, &Who::App(&client), &["patch:notice"]).await;
        expect_status(app.patch(&format!("/Users/{before}"), &change).await, StatusCode::OK).await;
        assert_eq!(kinds().iter().filter(|k| k.starts_with("scim.")).count(), 1, "{:?}", kinds());
    }

    async fn only_an_admin_credentials_stream_gets_the_directory_in_full_events(app) {
        let (client, admin) = (app.app_client(false), app.admin_token());
        for requested in [vec![uri("create:full")], vec![uri("create:notice"), uri("patch:full")]] {
            let body = json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": requested});
            let refused = app.client.post(format!("{}/ssf/streams", app.root)).basic_auth(&client.id, Some(&client.secret)).json(&body).send().await.expect("stream");
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{requested:?}");
        }
        // Nor by updating an app's notice stream, even by an admin.
        let notice = stream(&app, &Who::App(&client), &["create:notice"]).await;
        let patch = json!({"stream_id": notice, "events_requested": [uri("create:full")]});
        for who in [Who::App(&client), Who::Admin(&admin)] {
            let refused = as_who(app.client.patch(format!("{}/ssf/streams", app.root)), &who).json(&patch).send().await.expect("PATCH");
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        }
        let kept = expect_status(as_who(app.client.get(format!("{}/ssf/streams?stream_id={notice}", app.root)), &Who::App(&client)).send().await.expect("GET"), StatusCode::OK).await;
        assert_eq!(kept["events_requested"], json!([uri("create:notice")]));
    }
}
