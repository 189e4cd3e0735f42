//! A mass offboarding under the default rate limits: the identity provider deactivates many
//! users with live sessions while an app refreshes all their tokens (answered
//! `invalid_grant`, as they should be) and keeps minting tokens for everyone else, and a
//! resource server introspects at full speed. Refused refreshes of tokens the cascade ended
//! are the expected consequence of deprovisioning, not abuse: not one request is answered
//! 429, and the app keeps serving everyone who stays.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use reqwest::StatusCode;
use scimitar::access::limits::LimitSettings;
use serde_json::{Value, json};

use crate::helpers::{AppClient, Backend, Options, TestApp, expect_status, id_of};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Requests in flight at once, per kind of traffic.
const CONCURRENCY: usize = 16;

/// Answers by status, for the final check.
#[derive(Default)]
struct Answers {
    too_many: AtomicUsize,
    refreshes_refused: AtomicUsize,
    minted: AtomicUsize,
    introspected: AtomicUsize,
}

async fn offboarding(backend: Backend, leaving: usize, staying: usize) {
    let options = Options {
        limits: Some(LimitSettings::default()),
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(backend, options).await else {
        return;
    };
    let app = Arc::new(app);
    let client = app.app_client(true);
    let resource_server = app.app_client(false);
    // Users and their sessions, created concurrently.
    let users: Vec<(String, String, String)> = futures_util::stream::iter(0..leaving + staying)
        .map(|i| {
            let (app, client) = (app.clone(), client.clone());
            async move {
                let id = id_of(&app.create_user(&format!("user{i}@example.com")).await);
                let tokens = app.tokens_for(&client, &id).await;
                let text = |key: &str| tokens[key].as_str().unwrap_or_default().to_string();
                (id, text("access_token"), text("refresh_token"))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let (leavers, stayers) = users.split_at(leaving);
    let answers = Arc::new(Answers::default());

    let deactivations = {
        let app = app.clone();
        let ids: Vec<String> = leavers.iter().map(|(id, _, _)| id.clone()).collect();
        async move {
            futures_util::stream::iter(ids)
                .for_each_concurrent(CONCURRENCY, |id| {
                    let app = app.clone();
                    async move {
                        let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
                        let response = app.patch(&format!("/Users/{id}"), &body).await;
                        assert_eq!(response.status(), StatusCode::OK);
                    }
                })
                .await
        }
    };
    // The app refreshes every leaver's token as the deactivations land: each is either
    // renewed (before its deactivation) or refused with invalid_grant, never 429.
    let refreshes = refresh_all(&app, &client, leavers, &answers);
    let minting = mint_for(&app, &client, stayers, &answers);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let introspection = introspect(&app, &resource_server, users.clone(), &answers, &done);
    let offboarding = async {
        tokio::join!(deactivations, refreshes, minting);
        done.store(true, Ordering::SeqCst);
    };
    tokio::join!(offboarding, introspection);

    // Afterwards every leaver's refresh is refused, still without a 429.
    refresh_all(&app, &client, leavers, &answers).await;
    assert_eq!(answers.too_many.load(Ordering::SeqCst), 0, "not one 429");
    assert!(answers.refreshes_refused.load(Ordering::SeqCst) >= leaving);
    assert!(answers.minted.load(Ordering::SeqCst) >= staying);
    assert!(answers.introspected.load(Ordering::SeqCst) > 0);
    for (_, access, _) in leavers.iter().take(20) {
        assert!(
            !app.is_active(&client, access).await,
            "a leaver's token is dead"
        );
    }
    // The app still gets tokens for everyone who stays.
    for (id, _, _) in stayers.iter().take(20) {
        let tokens = app.tokens_for(&client, id).await;
        assert!(
            app.is_active(&client, tokens["access_token"].as_str().unwrap_or_default())
                .await
        );
    }
}

async fn refresh_all(
    app: &Arc<TestApp>,
    client: &AppClient,
    users: &[(String, String, String)],
    answers: &Arc<Answers>,
) {
    let refresh_tokens: Vec<String> = users.iter().map(|(_, _, r)| r.clone()).collect();
    futures_util::stream::iter(refresh_tokens)
        .for_each_concurrent(CONCURRENCY, |refresh_token| {
            let (app, client, answers) = (app.clone(), client.clone(), answers.clone());
            async move {
                let response = app.refresh(&client, &refresh_token).await;
                match response.status() {
                    StatusCode::OK => {}
                    StatusCode::TOO_MANY_REQUESTS => {
                        answers.too_many.fetch_add(1, Ordering::SeqCst);
                    }
                    status => {
                        let body: Value = response.json().await.unwrap_or_default();
                        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
                        assert_eq!(body["error"], "invalid_grant", "{body}");
                        answers.refreshes_refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        })
        .await
}

async fn mint_for(
    app: &Arc<TestApp>,
    client: &AppClient,
    users: &[(String, String, String)],
    answers: &Arc<Answers>,
) {
    let ids: Vec<String> = users.iter().map(|(id, _, _)| id.clone()).collect();
    futures_util::stream::iter(ids)
        .for_each_concurrent(CONCURRENCY, |id| {
            let (app, client, answers) = (app.clone(), client.clone(), answers.clone());
            async move {
                let form = [
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", id.as_str()),
                    (
                        "subject_token_type",
                        "urn:scimitar:params:oauth:token-type:scim-user",
                    ),
                ];
                let response = app.oauth(&client, "token", &form).await;
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    answers.too_many.fetch_add(1, Ordering::SeqCst);
                }
                expect_status(response, StatusCode::OK).await;
                answers.minted.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
}

/// Introspects every token, leavers' and stayers', back to back, until `done`.
async fn introspect(
    app: &Arc<TestApp>,
    resource_server: &AppClient,
    users: Vec<(String, String, String)>,
    answers: &Arc<Answers>,
    done: &std::sync::atomic::AtomicBool,
) {
    while !done.load(Ordering::SeqCst) {
        introspect_each(app, resource_server, users.clone(), answers).await;
    }
}

async fn introspect_each(
    app: &Arc<TestApp>,
    resource_server: &AppClient,
    users: Vec<(String, String, String)>,
    answers: &Arc<Answers>,
) {
    futures_util::stream::iter(users)
        .for_each_concurrent(CONCURRENCY, |(_, access, _)| {
            let (app, client, answers) = (app.clone(), resource_server.clone(), answers.clone());
            async move {
                let response = app
                    .oauth(&client, "introspect", &[("token", &access)])
                    .await;
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    answers.too_many.fetch_add(1, Ordering::SeqCst);
                }
                expect_status(response, StatusCode::OK).await;
                answers.introspected.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
}

/// The case the issue names: 120 users, past the app's failure budget of 60 a minute.
#[tokio::test]
async fn refusing_120_dead_refreshes_never_locks_the_app_out_on_sqlite() {
    offboarding(Backend::Sqlite, 120, 40).await
}

#[tokio::test]
async fn refusing_120_dead_refreshes_never_locks_the_app_out_on_postgres() {
    offboarding(Backend::Postgres, 120, 40).await
}

/// A thousand leavers with live sessions, on each backend.
#[tokio::test]
async fn a_thousand_user_offboarding_under_load_answers_no_429_on_sqlite() {
    offboarding(Backend::Sqlite, 1000, 200).await
}

#[tokio::test]
async fn a_thousand_user_offboarding_under_load_answers_no_429_on_postgres() {
    offboarding(Backend::Postgres, 1000, 200).await
}
